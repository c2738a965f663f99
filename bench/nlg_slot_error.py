"""Slot error rate and BLEU of the template replies on SGD's test system turns.

For every system turn of the SGD test dialogues (original format, with system acts
and values), the acts go through `lepton_tf.dialogue.replies.template_reply`, and the
reply is checked by `value_errors` (a value of the acts missing from the reply, or a
value-like span the acts do not hold). Reported, for the templates and, as a yardstick
for the check itself, for SGD's own human-written system turns:

- SER (Kale & Rastogi, 2020): the fraction of system turns with at least one
  non-categorical slot value missing or added;
- slot error rate per slot: (missing + added) / slots, all slots;
- BLEU (sacrebleu) of the templates against the human turns.

With `--generator SAVED_MODEL` (an exported `lepton-tf train reply_generator`, or
its run folder), the same turns are also written by the learned generator from the
delexicalised acts (`lepton_tf.text.act_format`), greedy, and relexicalised from the
acts (`generated_replies.relexicalised`). Its SER and BLEU are reported raw (a
value missing, a value-like span the acts do not hold, or a placeholder no act value
fills, i.e. a slot repeated or hallucinated, each count as errors), and as the
assistant would send them (`generated_replies.checked_reply`: a reply with any of
those, or that claims an outcome the acts do not report or asks nothing where they
ask, is replaced by the template; outcomes are always the template's), with the
share replaced. `--sample N` takes N turns spread over the whole split (generation
is slow on a CPU).

    python bench/nlg_slot_error.py --sgd ../shared/data/sgd/full/test [--limit N] [--json]
    python bench/nlg_slot_error.py --sgd ../shared/data/sgd/full/test --sample 1000 \
        --generator saved_models/reply_generator/1
"""

from __future__ import annotations

import argparse
import glob
import gzip
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from lepton_tf.dialogue.acts import ACTS, Act  # noqa: E402
from lepton_tf.dialogue.replies import schema_words, template_reply, value_errors  # noqa: E402
from lepton_tf.dialogue.schema import load_schema  # noqa: E402


def system_turns(folder: str, limit: int | None):
    """`(acts, service schema, human utterance)` per SGD system turn (one per frame)."""
    schema = load_schema(sorted(glob.glob(os.path.join(folder, "schema.json*")))[0])
    count = 0
    for path in sorted(glob.glob(os.path.join(folder, "dialogues_*.json*"))):
        opener = gzip.open if path.endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8") as fh:
            dialogues = json.load(fh)
        for dialogue in dialogues:
            for turn in dialogue["turns"]:
                if turn["speaker"] != "SYSTEM":
                    continue
                for frame in turn["frames"]:
                    acts = [Act(a["act"], a["slot"] if a["act"] != "INFORM_COUNT" else "count",
                                tuple(a["values"])) for a in frame["actions"] if a["act"] in ACTS]
                    yield acts, schema[frame["service"]], turn["utterance"]
                    count += 1
                    if limit and count >= limit:
                        return


def _errors(reply: str, acts: list, service) -> tuple[int, int, int, bool]:
    words = schema_words(service)
    dropped, added = value_errors(reply, acts, words)
    free = {v for a in acts if a.slot in service.slot_names
            and not service.slot(a.slot).is_categorical for v in a.values}
    free_error = any(d in free for d in dropped) or bool(added)
    slots = sum(len(a.values) for a in acts if a.slot not in ("", "intent"))
    return slots, len(dropped), len(added), free_error


def _serving_default(path: str, checkpoint: str | None = None):
    """`serving_default` of an exported generator, or of a training run's folder
    (`config.yaml` with `final.weights.h5` or a `checkpoint` of the run, e.g.
    `runs/reply_generator/backup/ckpt-400`: the servable built in process, not saved,
    with the export options of the run's config)."""
    import tensorflow as tf

    if not os.path.isfile(os.path.join(path, "config.yaml")):
        return tf.saved_model.load(path).signatures["serving_default"]
    from lepton_tf.export.chat_servable import ChatServable
    from lepton_tf.tasks.registry import restore_run
    from lepton_tf.tasks.sections import generator_data

    model, task, config = restore_run("reply_generator", path, checkpoint)
    servable = ChatServable(model, task.get_tokenizer(config), **generator_data(config).export)
    return lambda context: servable.serve(context)


def generate_replies(generator: str, contexts: list[str], batch: int = 32,
                     checkpoint: str | None = None) -> list[str]:
    """The generator's greedy replies (its `serving_default`) to `contexts`."""
    import tensorflow as tf

    serve = _serving_default(generator, checkpoint)
    out = []
    for i in range(0, len(contexts), batch):
        replies = serve(context=tf.constant(contexts[i:i + batch]))["reply"].numpy()
        out += [r.decode("utf-8").strip() for r in replies]
    return out


def _score(texts: list[str], rows: list, references: list[str],
           unfilled: list[int] | None = None) -> dict:
    """SER, slot error rate and BLEU of `texts` over `rows` (`(acts, service)`).
    `unfilled`: per text, placeholders the generator wrote that no act value fills (a
    slot repeated past its values, or one no act holds): hallucinated slots."""
    import sacrebleu

    slots = dropped = added = free_errors = 0
    for i, (text, (acts, service)) in enumerate(zip(texts, rows)):
        n, d, a, free = _errors(text, acts, service)
        extra = unfilled[i] if unfilled else 0
        slots, dropped, added = slots + n, dropped + d, added + a + extra
        free_errors += free or extra > 0
    return {"ser_turns": round(free_errors / max(len(texts), 1), 4),
            "slot_error_rate": round((dropped + added) / max(slots, 1), 4),
            "slots": slots, "missing": dropped, "added": added,
            "bleu": round(sacrebleu.corpus_bleu(texts, [references]).score, 2)}


def generator_report(folder: str, saved_model: str, sample: int,
                     checkpoint: str | None = None) -> dict:
    """Template, generator (raw: relexicalised from the acts) and sent (checked)
    replies on `sample` turns spread over the split."""
    from lepton_tf.dialogue.generated_replies import (checked_reply, generates,
                                                      generator_input, relexicalised)

    turns = [(acts, service, human) for acts, service, human in system_turns(folder, None)
             if acts]
    step = max(1, len(turns) // sample)
    turns = turns[::step][:sample]
    contexts = [generator_input(acts) for acts, _, _ in turns]
    start = time.perf_counter()
    generated = generate_replies(saved_model, contexts, checkpoint=checkpoint)
    seconds = time.perf_counter() - start
    filled = [relexicalised(g, acts) for g, (acts, _, _) in zip(generated, turns)]
    sent = [checked_reply(g, acts, service) for g, (acts, service, _) in zip(generated, turns)]
    rows = [(acts, service) for acts, service, _ in turns]
    humans = [h for _, _, h in turns]
    return {"system_turns": len(turns), "generation_seconds": round(seconds, 1),
            "template": _score([template_reply(a, s) for a, s in rows], rows, humans),
            "generator": {**_score([r for r, _, _ in filled], rows, humans,
                                   [len(extra) for _, _, extra in filled]),
                          "placeholders_missing": sum(len(m) for _, m, _ in filled),
                          "placeholders_unfilled": sum(len(x) for _, _, x in filled)},
            "sent": {**_score([r for r, _ in sent], rows, humans),
                     "replaced_by_template": round(sum(r for _, r in sent) / max(len(sent), 1),
                                                   4),
                     "turns_the_generator_may_write": round(
                         sum(generates(acts) for acts, _, _ in turns) / max(len(turns), 1), 4)},
            "human": _score(humans, rows, humans),
            "examples": [{"acts": [a.to_json() for a in acts], "generated": g, "sent": r,
                          "human": h}
                         for g, (r, _), (acts, _, h) in list(zip(generated, sent, turns))[:8]]}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sgd", default=os.path.join("..", "shared", "data", "sgd", "full", "test"),
                        help="an SGD split folder (schema.json + dialogues_*.json[.gz])")
    parser.add_argument("--limit", type=int, default=None, help="system turns at most")
    parser.add_argument("--generator", metavar="SAVED_MODEL|RUN",
                        help="also score this reply generator (exported, or a run folder)")
    parser.add_argument("--checkpoint", help="with a run folder: this checkpoint of it")
    parser.add_argument("--sample", type=int, default=1000,
                        help="with --generator: system turns, spread over the split")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if not glob.glob(os.path.join(args.sgd, "dialogues_*.json*")):
        print(f"error: no dialogues_*.json[.gz] in {args.sgd}", file=sys.stderr)
        return 1
    if args.generator:
        print(json.dumps(generator_report(args.sgd, args.generator, args.sample,
                                          args.checkpoint), indent=1))
        return 0
    import sacrebleu

    start = time.perf_counter()
    totals = {"template": [0, 0, 0, 0], "human": [0, 0, 0, 0]}
    hypotheses, references, turns = [], [], 0
    for acts, service, human in system_turns(args.sgd, args.limit):
        reply = template_reply(acts, service)
        for name, text in (("template", reply), ("human", human)):
            slots, dropped, added, free_error = _errors(text, acts, service)
            row = totals[name]
            row[0] += slots
            row[1] += dropped
            row[2] += added
            row[3] += free_error
        hypotheses.append(reply)
        references.append(human)
        turns += 1
    report = {"system_turns": turns, "seconds": round(time.perf_counter() - start, 1),
              "bleu_template_vs_human": round(sacrebleu.corpus_bleu(hypotheses, [references]).score,
                                              2)}
    for name, (slots, dropped, added, free_errors) in totals.items():
        report[name] = {"ser_turns": round(free_errors / max(turns, 1), 4),
                        "slot_error_rate": round((dropped + added) / max(slots, 1), 4),
                        "slots": slots, "missing": dropped, "added": added}
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        print(f"SGD system turns: {turns} ({args.sgd}), {report['seconds']} s")
        for name in ("template", "human"):
            r = report[name]
            print(f"  {name:8s} SER (turns with a free-text value missing or added) "
                  f"{r['ser_turns']:.2%}; slot error rate {r['slot_error_rate']:.2%} "
                  f"({r['missing']} missing + {r['added']} added / {r['slots']} slots)")
        print(f"  BLEU of the templates against the human turns: "
              f"{report['bleu_template_vs_human']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
