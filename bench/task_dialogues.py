"""Replays the user turns of SGD test dialogues against the dialogue manager and the
example database (SQLite), and scores what it did.

Per dialogue (services with a table in the example database; seen = in SGD's train
schema), every user turn goes through the tracker, the dialogue manager, the SQL
backend and the template replies, on the caller's clock of SGD's dialogues
(2019-03-01, the day its schemas' default date names). Reported:

- API-call accuracy: of SGD's `service_call`s, the share our system made at the
  same system turn with the same method and exactly the same arguments (and, looser,
  anywhere in the dialogue);
- offered entities that are in the backend's results (must be 100%);
- invented values: act values found neither in the user's words so far (or their
  resolved date/time), nor in a backend row, nor among the schema's defaults (must be 0);
- re-asked slots per dialogue: a REQUEST for a slot the tracked state already held
  for that service (a value that is no date it can read is asked again, and not counted);
- p95 turn latency (tracker + manager + backend + reply).

With `--assistant HOST:PORT`, the same user turns go through a running assistant
(`lepton-tf serve --assistant --task_db ...`) over its gRPC stream instead, one
session per dialogue, on the server's own clock: what is measured is the turn as a
user has it (routing, task or search, the reply, the conversation store), from
sending the message to the final event. Reported: p50/p95/max turn latency, turns
per route, and, from the final events, invented values and re-asked slots
(API-call accuracy needs SGD's 2019 clock and is left to the in-process replay).

Three trackers: `oracle` (SGD's annotated dialogue state: the manager and backends
alone), `lookup` (`lepton_tf.dialogue.lookup_tracker`, over the database's values) and
`baseline` (`lepton_tf.dialogue.string_match_tracker`, the schema's words alone); on
request also `dst` (the learned tracker, `--model saved_models/dst`, loaded in process)
and `hybrid` (`lepton_tf.dialogue.hybrid_tracker`: its intents, values from it or the baseline).

    python bench/task_dialogues.py --sgd ../shared/data/sgd/full [--dialogues 300] [--json]
    python bench/task_dialogues.py --sgd ../shared/data/sgd/full --assistant 127.0.0.1:8500
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import glob
import gzip
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from lepton_tf.dialogue import acts as A  # noqa: E402
from lepton_tf.dialogue.backends_config import load_backends  # noqa: E402
from lepton_tf.dialogue.dates import resolve_date, resolve_time  # noqa: E402
from lepton_tf.dialogue.example_db import EXAMPLE_SERVICES, build_example_db  # noqa: E402
from lepton_tf.dialogue.example_services import DEFAULT_BACKENDS_CONFIG, merge_schemas  # noqa: E402
from lepton_tf.dialogue.lookup_tracker import LookupTracker  # noqa: E402
from lepton_tf.dialogue.policy import Policy, TaskMemory  # noqa: E402
from lepton_tf.dialogue.replies import template_reply  # noqa: E402
from lepton_tf.dialogue.state import DialogueState, ServiceState  # noqa: E402
from lepton_tf.dialogue.string_match_tracker import StringMatchTracker  # noqa: E402

SGD_TODAY = datetime.datetime(2019, 3, 1, 12, 0).astimezone()


class OracleTracker:
    """SGD's annotated state, turn by turn (the `Tracker` protocol), each value in its
    canonical form (SGD's actions map "the 8th" to 2019-03-08, "LAX" to Los Angeles),
    as a tracker that normalises values would give it."""

    def __init__(self, states: list[dict], canonical: dict[str, str]):
        self.states, self.index, self.canonical = states, 0, canonical

    def update(self, state, system_utterance, user_utterance, schemas):
        frames = self.states[self.index]
        self.index += 1
        services = {k: v for k, v in state.services.items() if k not in frames}
        for name, raw in frames.items():
            values = {slot: (self.canonical.get(vals[-1], vals[-1]),)
                      for slot, vals in raw.get("slot_values", {}).items() if vals}
            services[name] = ServiceState(raw.get("active_intent", "NONE"),
                                          tuple(raw.get("requested_slots", ())), values)
        return DialogueState(services)


def canonical_values(dialogue) -> dict[str, str]:
    """Surface value -> canonical value, from every action of the dialogue."""
    out = {}
    for turn in dialogue["turns"]:
        for frame in turn["frames"]:
            for action in frame["actions"]:
                for value, canonical in zip(action.get("values", []),
                                            action.get("canonical_values", [])):
                    out.setdefault(value, canonical)
    return out


def read_dialogues(folder: str):
    for path in sorted(glob.glob(os.path.join(folder, "dialogues_*.json*"))):
        opener = gzip.open if path.endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8") as fh:
            yield from json.load(fh)


@dataclasses.dataclass
class Tally:
    calls: int = 0
    calls_same_turn: int = 0
    calls_anywhere: int = 0
    offered: int = 0
    offered_in_results: int = 0
    values: int = 0
    invented: int = 0
    reasked: int = 0
    dialogues: int = 0
    latencies: list = dataclasses.field(default_factory=list)
    examples: list = dataclasses.field(default_factory=list)
    misses: list = dataclasses.field(default_factory=list)
    miss_kinds: dict = dataclasses.field(default_factory=dict)

    def report(self) -> dict:
        lat = sorted(self.latencies) or [0.0]
        return {"dialogues": self.dialogues, "sgd_calls": self.calls,
                "api_call_accuracy": round(self.calls_same_turn / max(self.calls, 1), 4),
                "api_call_anywhere": round(self.calls_anywhere / max(self.calls, 1), 4),
                "offered_in_results": round(self.offered_in_results / max(self.offered, 1), 4),
                "offered": self.offered, "act_values": self.values, "invented": self.invented,
                "reasked_per_dialogue": round(self.reasked / max(self.dialogues, 1), 4),
                "missed_calls_by_kind": dict(self.miss_kinds),
                "turns": len(self.latencies),
                "p50_ms": round(lat[len(lat) // 2], 2),
                "p95_ms": round(lat[min(len(lat) - 1, int(0.95 * len(lat)))], 2)}


def replay(dialogue, schemas, backends, tracker_kind, lookup, tally: Tally) -> None:
    turns = dialogue["turns"]
    users = [t for t in turns if t["speaker"] == "USER"]
    states = [{f["service"]: f["state"] for f in t["frames"]} for t in users]
    tracker = OracleTracker(states, canonical_values(dialogue)) if tracker_kind == "oracle" \
        else lookup
    services = {s: schemas[s] for s in dialogue["services"]}
    policy = Policy(services, tracker, backends)
    memory, said, rows, made, phrases = TaskMemory(), "", [], [], set()
    canonical = canonical_values(dialogue)
    defaults = {v for s in services.values() for i in s.intents for v in i.optional_slots.values()}
    defaults.add(SGD_TODAY.date().isoformat())
    tally.dialogues += 1
    for index, turn in enumerate(turns):
        if turn["speaker"] != "USER":
            continue
        said += " " + turn["utterance"]
        # (service, slot) pairs the state holds: asking a service for a slot another
        # service holds (Music's genre, then Media's) is no re-ask.
        given = {(n, s) for n in services for s in memory.state.service(n).slot_values}
        start = time.perf_counter()
        decision = policy.turn(memory, f"bench-{dialogue['dialogue_id']}", turn["utterance"],
                               SGD_TODAY)
        reply = template_reply(decision.acts, services.get(decision.service))
        tally.latencies.append((time.perf_counter() - start) * 1e3)
        memory.last_system = reply
        if decision.call is not None:
            rows.extend(dict(r) for r in decision.call.rows)
            made.append((index + 1, decision.call.call))
        phrases |= _resolved_phrases(turn)
        phrases |= {canon for surface, canon in canonical.items() if surface.lower() in said.lower()}
        for act in decision.acts:
            if act.act == A.REQUEST and (decision.service, act.slot) in given \
                    and not any(a.act == A.NOT_UNDERSTOOD for a in decision.acts):
                tally.reasked += 1
            if act.act == A.OFFER:  # from this turn's search, or an earlier one's rows
                tally.offered += 1
                tally.offered_in_results += any(act.values[0] == r.get(act.slot) for r in rows)
            if act.act in (A.OFFER_INTENT, A.INFORM_COUNT):
                continue
            for value in act.values:
                tally.values += 1
                # A yes/no slot is the tracker's reading of words ("free" -> free_entry
                # True), not an entity's fact: traceable when the slot's words were said.
                boolean = value in ("True", "False") and any(
                    w in said.lower() for w in act.slot.split("_") if len(w) > 3)
                known = boolean or value.lower() in said.lower() or value in defaults or \
                    any(value in r.values() for r in rows) or value in phrases or \
                    _NUMBER_WORDS.get(value, "\0") in said.lower()
                if not known:
                    tally.invented += 1
                    if len(tally.examples) < 10:
                        tally.examples.append((dialogue["dialogue_id"], act.to_json()))
    for index, turn in enumerate(turns):
        for frame in turn["frames"]:
            call = frame.get("service_call")
            if turn["speaker"] != "SYSTEM" or not call:
                continue
            tally.calls += 1
            same = [c for i, c in made if c.intent == call["method"]
                    and dict(c.arguments) == call["parameters"]]
            tally.calls_anywhere += bool(same)
            hit = any(i == index and c.intent == call["method"]
                      and dict(c.arguments) == call["parameters"] for i, c in made)
            tally.calls_same_turn += hit
            if not hit:
                near = [(i, dict(c.arguments)) for i, c in made if c.intent == call["method"]]
                kind = "not_made" if not near else "other_turn" if any(
                    a == call["parameters"] for _, a in near) else "other_arguments"
                tally.miss_kinds[kind] = tally.miss_kinds.get(kind, 0) + 1
            if not hit and len(tally.misses) < 20:
                near = [dict(c.arguments) for i, c in made if c.intent == call["method"]]
                tally.misses.append((dialogue["dialogue_id"], call["method"],
                                     call["parameters"], near[:1]))


_NUMBER_WORDS = {"1": "one", "2": "two", "3": "three", "4": "four", "5": "five", "6": "six",
                 "7": "seven", "8": "eight", "9": "nine", "10": "ten"}


def _resolved_phrases(turn) -> set:
    """What the values of the annotated state resolve to (dates, times) and the values
    themselves: SGD's state holds what the user said or accepted."""
    out = set()
    for frame in turn.get("frames", []):
        for values in frame.get("state", {}).get("slot_values", {}).values():
            for v in values:
                out.add(v)
                for resolved in (resolve_date(v, SGD_TODAY), resolve_time(v)):
                    if resolved:
                        out.add(resolved)
    return out


def replay_through_assistant(target: str, dialogue, tally: Tally, routes: dict) -> None:
    """Sends the dialogue's user turns to the assistant at `target`; tallies the turn
    latencies (send -> final event) and the final events' task acts."""
    from lepton_tf.client.assistant import AssistantClient

    client = AssistantClient(target, session_id=f"bench-{dialogue['dialogue_id']}-{os.getpid()}",
                             timeout_s=30)
    said, rows, given = "", [], set()
    tally.dialogues += 1
    for turn in dialogue["turns"]:
        if turn["speaker"] != "USER":
            continue
        said += " " + turn["utterance"]
        start = time.perf_counter()
        final = [e for e in client.stream(turn["utterance"]) if e["type"] == "final"][-1]
        tally.latencies.append((time.perf_counter() - start) * 1e3)
        routes[final["route"]] = routes.get(final["route"], 0) + 1
        task = final.get("task") or {}
        rows += [dict(r) for r in task.get("results", [])]
        for act in task.get("acts", []):
            if act["act"] == A.REQUEST and (task["service"], act["slot"]) in given:
                tally.reasked += 1
            if act["act"] in (A.OFFER_INTENT, A.INFORM_COUNT, A.CONFIRM):
                continue  # a confirmation states resolved dates: checked in-process
            for value in act["values"]:
                tally.values += 1
                if value.lower() not in said.lower() and not any(
                        value in r.values() for r in rows) and \
                        not _resolved_from(value, said, datetime.datetime.now().astimezone()):
                    tally.invented += 1
                    if len(tally.examples) < 10:
                        tally.examples.append((dialogue["dialogue_id"], act))
        if task:
            given = {(task["service"], s) for s in task["state"].get("slot_values", {})}


def _resolved_from(value: str, said: str, now: datetime.datetime) -> bool:
    """Whether `value` is a number word, or a date or time some 1-4 word phrase of the
    user's words resolves to on the server's clock (what the manager shows)."""
    if _NUMBER_WORDS.get(value, "\0") in said.lower():
        return True
    words = said.split()
    for n in range(1, 5):
        for i in range(len(words) - n + 1):
            phrase = " ".join(words[i:i + n]).strip(",.?!")
            if value in (resolve_date(phrase, now), resolve_time(phrase)):
                return True
    return False


def assistant_report(target: str, chosen: list, seen: set) -> dict:
    """`replay_through_assistant` over `chosen`, per split."""
    report = {}
    for split in ("seen", "unseen"):
        tally, routes = Tally(), {}
        for dialogue in chosen:
            if (split == "seen") == (set(dialogue["services"]) <= seen):
                replay_through_assistant(target, dialogue, tally, routes)
        r = tally.report()
        lat = sorted(tally.latencies) or [0.0]
        report[f"assistant/{split}"] = {
            "dialogues": r["dialogues"], "turns": r["turns"], "p50_ms": r["p50_ms"],
            "p95_ms": r["p95_ms"], "max_ms": round(lat[-1], 2), "routes": routes,
            "act_values": r["act_values"], "invented": r["invented"],
            "invented_examples": tally.examples,
            "reasked_per_dialogue": r["reasked_per_dialogue"]}
    return report


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sgd", default=os.path.join("..", "shared", "data", "sgd", "full"),
                        help="the original SGD folder (train/ and test/)")
    parser.add_argument("--dialogues", type=int, default=300, help="dialogues at most")
    parser.add_argument("--tracker", choices=("oracle", "lookup", "baseline", "dst", "hybrid", "all"),
                        default="all", help="dst: the learned tracker (--model); hybrid: its intents "
                        "and requested slots with the first value change of the model or the baseline")
    parser.add_argument("--model", default=os.path.join("saved_models", "dst"),
                        help="the dst SavedModel for --tracker dst/hybrid (version or base folder)")
    parser.add_argument("--assistant", metavar="HOST:PORT",
                        help="replay through a running assistant's gRPC stream instead")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    test, train = os.path.join(args.sgd, "test"), os.path.join(args.sgd, "train")
    schemas = merge_schemas(sorted(glob.glob(os.path.join(test, "schema.json*")))[:1])
    seen = set(merge_schemas(sorted(glob.glob(os.path.join(train, "schema.json*")))[:1]))
    folder = tempfile.mkdtemp(prefix="lepton-bench-")
    db = os.path.join(folder, "example.sqlite")
    build_example_db(db)
    backends = load_backends(DEFAULT_BACKENDS_CONFIG, schemas, environ={},
                             overrides={"example_db": {"url": f"sqlite:///{db}"}})
    chosen = [d for d in read_dialogues(test) if set(d["services"]) <= EXAMPLE_SERVICES]
    step = max(1, len(chosen) // args.dialogues)  # spread over the files' services
    chosen = chosen[::step][:args.dialogues]
    report = {"sgd": test, "dialogues_available": len(chosen)}
    if args.assistant:
        report.update(assistant_report(args.assistant, chosen, seen))
        print(json.dumps(report, indent=1))
        return 0
    kinds = ("oracle", "lookup", "baseline") if args.tracker == "all" else (args.tracker,)
    learned = None
    if args.tracker in ("dst", "hybrid"):
        from lepton_tf.dialogue.hybrid_tracker import HybridTracker
        from lepton_tf.dialogue.model_tracker import ModelTracker
        from lepton_tf.export.model_path import resolve_version_path

        learned = ModelTracker.from_saved_model(resolve_version_path(args.model, "`lepton-tf main`"))
        if args.tracker == "hybrid":
            learned = HybridTracker(learned, [learned, StringMatchTracker()])
    for kind in kinds:
        for split in ("seen", "unseen"):
            tally = Tally()
            for dialogue in chosen:
                is_seen = set(dialogue["services"]) <= seen
                if (split == "seen") != is_seen:
                    continue
                lookup = LookupTracker.from_sqlite(db, schemas, dialogue["services"]) \
                    if kind == "lookup" else StringMatchTracker() if kind == "baseline" else learned
                replay(dialogue, schemas, backends, kind, lookup, tally)
            report[f"{kind}/{split}"] = {**tally.report(), "invented_examples": tally.examples,
                                         "missed_calls": tally.misses}
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        print(f"SGD test dialogues on the example database: {len(chosen)} ({test})")
        for key, r in report.items():
            if not isinstance(r, dict):
                continue
            print(f"  {key:14s} dialogues {r['dialogues']:4d}  API calls {r['sgd_calls']:4d}: "
                  f"accuracy {r['api_call_accuracy']:.1%} (anywhere {r['api_call_anywhere']:.1%})"
                  f"  offered in results {r['offered_in_results']:.1%} of {r['offered']}"
                  f"  invented {r['invented']}/{r['act_values']}"
                  f"  re-asked/dialogue {r['reasked_per_dialogue']:.2f}"
                  f"  p50 {r['p50_ms']:.1f} ms p95 {r['p95_ms']:.1f} ms")
            print(f"      missed calls: {r['missed_calls_by_kind']}")
            for example in r["invented_examples"][:3]:
                print(f"      invented? {example}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
