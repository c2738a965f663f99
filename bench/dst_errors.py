"""Where the learned tracker goes wrong on SGD-layout dialogues: its errors counted by kind.

    python bench/dst_errors.py --data SGD_DIR/dev --model saved_models/dst --every 40 \
        [--train-schema FILE] [--outputs-cache /tmp/dst_dev40.pkl] [--out report.json] [--ablation]

Runs `dialogue.model_tracker.ModelTracker` over every Nth dialogue and compares each
predicted frame with the annotated one, slot by slot, as SGD's scorer does (free-text
values by fuzzy match). A wrong slot is counted once, at the turn where it goes wrong
(a slot that stays wrong afterwards is the same error carried along), by:

- the slot's kind (categorical or free text) and the error (missed: the annotation has a
  value and the tracker none; spurious: the reverse; wrong value; dontcare);
- where the annotated value was said: in the user's turn, in the system turn before it
  (an offered value the user took), earlier in the dialogue, in another service's state
  (carried across services), or nowhere verbatim;
- the service.

`--ablation` instead scores the decodings the tracker's default was chosen from
(`dialogue.dst_decoding`), each rule added in turn, with SGD's metrics (run it on dev,
never on test).

It also counts active-intent errors (none predicted, another intent, an intent where the
annotation has none; whether the annotated intent had just changed) and requested-slot
misses and false alarms. `--outputs-cache` keeps the servable's outputs per turn, so
a second run (another decoding) does not run the model again.
"""

from __future__ import annotations

import collections
import gzip
import os
import pickle
import re

import bench_cli

_NORM = re.compile(r"[^a-z0-9]+")


def _norm(text: str) -> str:
    return " " + _NORM.sub(" ", text.lower()).strip() + " "


class CachedPredict:
    """Memoises a servable's outputs per request (its strings), kept in a pickle file.

    Args:
        predict: the servable's predict function (None: answer from the cache only).
        path: the pickle file (read when it exists; ``save`` writes it).
    """

    def __init__(self, predict, path: str | None):
        self.predict = predict
        self.path = path
        self.outputs: dict = {}
        if path and os.path.exists(path):
            with gzip.open(path, "rb") as f:
                self.outputs = pickle.load(f)

    @staticmethod
    def key(inputs) -> tuple:
        return tuple(inputs[k].tobytes() if inputs[k].dtype != object else repr(inputs[k].tolist())
                     for k in ("user_utterance", "system_utterance", "intents", "slots", "slot_values"))

    def __call__(self, inputs):
        key = self.key(inputs)
        if key not in self.outputs:
            if self.predict is None:
                raise KeyError("turn not in the outputs cache")
            self.outputs[key] = dict(self.predict(inputs))
        return self.outputs[key]

    def save(self) -> None:
        if self.path:
            with gzip.open(self.path, "wb") as f:
                pickle.dump(self.outputs, f)


def _value_source(value: str, user: str, system: str, history: str, others: list[str]) -> str:
    v = _norm(value)
    if v in _norm(user):
        return "user turn"
    if v in _norm(system):
        return "system turn before"
    if any(v in _norm(o) for o in others):
        return "another service's state"
    if v in _norm(history):
        return "earlier in the dialogue"
    return "not said verbatim"


def analyse(reference: dict, hypothesis: dict, schema) -> dict:
    """Error counts of ``hypothesis`` against ``reference`` (dialogue id -> SGD dialogue)."""
    from lepton_tf.evaluation.dst_metrics import compare_slot_values

    slots = collections.Counter()
    services = collections.Counter()
    examples = collections.defaultdict(list)
    intents = collections.Counter()
    requested = collections.Counter()
    frames = 0
    for dialogue_id, ref in reference.items():
        hyp = hypothesis[dialogue_id]
        history, system = "", ""
        gold_before, wrong_before = {}, set()
        for ref_turn, hyp_turn in zip(ref["turns"], hyp["turns"]):
            if ref_turn["speaker"] == "SYSTEM":
                system = ref_turn["utterance"]
                history += " " + system
                continue
            user = ref_turn["utterance"]
            for ref_frame, hyp_frame in zip(ref_turn["frames"], hyp_turn["frames"]):
                frames += 1
                name = ref_frame["service"]
                service = schema[name]
                gold, pred = ref_frame["state"], hyp_frame["state"]
                previous = gold_before.get(name, {"active_intent": "NONE", "slot_values": {}})
                if gold["active_intent"] != pred["active_intent"]:
                    switched = gold["active_intent"] != previous["active_intent"]
                    kind = ("none predicted" if pred["active_intent"] == "NONE" else
                            "predicted where none" if gold["active_intent"] == "NONE" else "another intent")
                    intents[f"{kind} ({'intent just changed' if switched else 'intent unchanged'})"] += 1
                for slot in set(gold["requested_slots"]) - set(pred["requested_slots"]):
                    requested["missed" + (" (slot name in user turn)" if _norm(slot.replace("_", " ")) in _norm(user)
                                          else "")] += 1
                requested["false alarm"] += len(set(pred["requested_slots"]) - set(gold["requested_slots"]))
                others = [v for s, st in gold_before.items() if s != name for vs in st["slot_values"].values()
                          for v in vs]
                scores, _, _ = compare_slot_values(gold["slot_values"], pred["slot_values"], service)
                for slot, score in zip(service.slots, scores):
                    key = (dialogue_id, name, slot.name)
                    if score >= 1.0:
                        wrong_before.discard(key)
                        continue
                    if key in wrong_before:
                        continue  # the same error, carried along
                    wrong_before.add(key)
                    g, p = gold["slot_values"].get(slot.name), pred["slot_values"].get(slot.name)
                    error = ("dontcare" if (g and g[0] == "dontcare") or (p and p[0] == "dontcare") else
                             "missed" if not p else "spurious" if not g else "wrong value")
                    source = _value_source(g[0], user, system, history, others) if g and error != "dontcare" \
                        else "-"
                    changed = "new this turn" if g != previous["slot_values"].get(slot.name) else "set earlier"
                    kind = "categorical" if slot.is_categorical else "free text"
                    slots[(kind, error, source, changed)] += 1
                    services[name] += 1
                    if len(examples[(kind, error, source)]) < 4:
                        examples[(kind, error, source)].append(
                            {"service": name, "slot": slot.name, "gold": g, "predicted": p, "user": user,
                             "system": system})
                gold_before[name] = gold
            history += " " + user
    return {"frames": frames,
            "slot_errors": [{"kind": k, "error": e, "value said": s, "annotated value": c, "count": n}
                            for (k, e, s, c), n in slots.most_common()],
            "slot_errors_by_service": dict(services.most_common()),
            "intent_errors": dict(intents.most_common()),
            "requested_slot_errors": dict(requested.most_common()),
            "examples": {" / ".join(k): v for k, v in examples.items()}}


def main() -> None:
    parser = bench_cli.parser(__doc__)
    parser.add_argument("--data", required=True, help="SGD-layout folder")
    parser.add_argument("--model", required=True, help="dst version folder or base folder")
    parser.add_argument("--every", type=int, default=40, help="every Nth dialogue")
    parser.add_argument("--outputs-cache", help="pickle file of the servable's outputs per turn")
    parser.add_argument("--out", help="also write the report here")
    parser.add_argument("--train-schema", help="training schema: seen vs unseen services, with --ablation "
                                               "(default: the shipped SGD train schema)")
    parser.add_argument("--ablation", action="store_true", help="score the decoding rules one by one")
    args = parser.parse_args()

    from lepton_tf.data.sgd_full import dialogue_paths, load_dialogues, schema_path
    from lepton_tf.dialogue.model_tracker import ModelTracker
    from lepton_tf.dialogue.schema import load_schema
    from lepton_tf.dialogue.track_dialogues import track_dialogues
    from lepton_tf.export.model_path import resolve_version_path

    schema = load_schema(schema_path(args.data))
    reference = dict(list(load_dialogues(dialogue_paths(args.data)).items())[::args.every])
    loaded = ModelTracker.from_saved_model(resolve_version_path(args.model, "`lepton-tf export dst`"))
    cached = CachedPredict(loaded.predict, args.outputs_cache)
    if args.ablation:
        from lepton_tf.evaluation.dst import default_train_schema

        report = ablation(reference, schema, cached, loaded.encode, args.train_schema or default_train_schema())
    else:
        hypothesis = track_dialogues(ModelTracker(cached, loaded.encode), reference.values(), schema)
        report = analyse(reference, hypothesis, schema)
    cached.save()
    bench_cli.write_report(report, args.out)


def ablation(reference: dict, schema, cached: CachedPredict, encode, train_schema: str) -> dict:
    """SGD's headline metrics of each decoding, the rules of ``TUNED`` added one by one."""
    from lepton_tf.dialogue.dst_decoding import ARGMAX, TUNED, Decoding
    from lepton_tf.dialogue.model_tracker import ModelTracker
    from lepton_tf.dialogue.schema import load_schema
    from lepton_tf.dialogue.track_dialogues import track_dialogues
    from lepton_tf.evaluation.dst_scoring import get_metrics
    from lepton_tf.evaluation import dst_metrics as m

    decodings = {
        "argmax, carried values by words": (ARGMAX, None),
        "argmax": (ARGMAX, encode),
        "+ switch margin 0.2": (Decoding(switch_margin=0.2), encode),
        "+ switch margin 0.4": (Decoding(switch_margin=0.4), encode),
        "+ switch margin 0.6": (Decoding(switch_margin=0.6), encode),
        "+ margin 0.4, arguments only": (Decoding(switch_margin=0.4, arguments_only=True), encode),
        "+ carry threshold 0.1": (Decoding(switch_margin=0.4, arguments_only=True, carry_threshold=0.1), encode),
        "+ carry threshold 0.3 (TUNED)": (TUNED, encode),
        "+ requested threshold 0.3": (Decoding(switch_margin=0.4, arguments_only=True, carry_threshold=0.3,
                                               requested_threshold=0.3), encode),
    }
    seen = set(load_schema(train_schema))
    report = {}
    for name, (decoding, vectors) in decodings.items():
        hypothesis = track_dialogues(ModelTracker(cached, vectors, decoding=decoding), reference.values(), schema)
        scores = get_metrics(reference, hypothesis, schema, seen)[0]
        report[name] = {c: {k: round(scores[c][k], 3) for k in (
            m.JOINT_GOAL_ACCURACY, m.AVERAGE_GOAL_ACCURACY, m.ACTIVE_INTENT_ACCURACY, m.REQUESTED_SLOTS_F1)}
            for c in ("#ALL_SERVICES", "#SEEN_SERVICES", "#UNSEEN_SERVICES")}
    return report


if __name__ == "__main__":
    main()
