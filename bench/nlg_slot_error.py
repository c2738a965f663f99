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

    python bench/nlg_slot_error.py --sgd ../shared/data/sgd/full/test [--limit N] [--json]
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
    """`(acts, service schema, human utterance)` per SGD system turn."""
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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sgd", default=os.path.join("..", "shared", "data", "sgd", "full", "test"),
                        help="an SGD split folder (schema.json + dialogues_*.json[.gz])")
    parser.add_argument("--limit", type=int, default=None, help="system turns at most")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if not glob.glob(os.path.join(args.sgd, "dialogues_*.json*")):
        print(f"error: no dialogues_*.json[.gz] in {args.sgd}", file=sys.stderr)
        return 1
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
