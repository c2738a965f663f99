"""Precision and recall of `lepton_tf.text.redaction` per kind, on the labelled sample.

    python bench/redaction.py [--sample bench/data/pii_sample.jsonl] [--region US]

A finding counts as correct when it has the labelled kind and overlaps the
labelled value's characters (a phone number found without its leading `+` or
parenthesis is still found); every other finding is a false positive, every
labelled value no finding overlaps a miss. The redacted text of each miss and
false positive is printed, so a regression shows what it broke.
"""

import argparse
import collections
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from lepton_tf.text.redaction import KINDS, RedactionPolicy, find_personal_data  # noqa: E402

SAMPLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "pii_sample.jsonl")
TARGETS = {"EMAIL": (0.99, 0.95), "CARD": (0.99, 0.95), "PHONE": (0.95, 0.95),
           "IBAN": (0.95, 0.95)}  # (recall, precision) the issue asks for (IBAN: ours)


def gold_spans(row) -> list[tuple[str, int, int]]:
    spans = []
    for item in row["pii"]:
        start = row["text"].find(item["text"])
        if start < 0:
            raise ValueError(f"label {item['text']!r} not in {row['text']!r}")
        spans.append((item["kind"], start, start + len(item["text"])))
    return spans


def evaluate(rows, policy: RedactionPolicy):
    """`(counts, errors)`: per kind true positives, false positives, misses."""
    counts = {k: collections.Counter() for k in KINDS}
    errors = []
    for row in rows:
        gold = gold_spans(row)
        found = find_personal_data(row["text"], policy)
        matched = set()
        for f in found:
            hit = next((i for i, (kind, s, e) in enumerate(gold)
                        if kind == f.kind and f.start < e and s < f.end and i not in matched),
                       None)
            if hit is None:
                counts[f.kind]["fp"] += 1
                errors.append(("false positive", f.kind, row["text"][f.start:f.end], row["text"]))
            else:
                matched.add(hit)
                counts[f.kind]["tp"] += 1
        for i, (kind, s, e) in enumerate(gold):
            if i not in matched:
                counts[kind]["fn"] += 1
                errors.append(("missed", kind, row["text"][s:e], row["text"]))
    return counts, errors


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", default=SAMPLE)
    parser.add_argument("--region", default="US", help="national phone formats of this region")
    args = parser.parse_args()
    with open(args.sample, encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    counts, errors = evaluate(rows, RedactionPolicy(phone_region=args.region))
    positives = sum(1 for r in rows if r["pii"])
    print(f"{len(rows)} strings ({positives} with personal data, {len(rows) - positives} "
          f"without) from {os.path.relpath(args.sample)}")
    print(f"{'kind':6} {'labelled':>8} {'found':>6} {'recall':>7} {'precision':>9}  target")
    failed = False
    for kind in KINDS:
        c = counts[kind]
        labelled, found = c["tp"] + c["fn"], c["tp"] + c["fp"]
        recall = c["tp"] / labelled if labelled else 1.0
        precision = c["tp"] / found if found else 1.0
        want_r, want_p = TARGETS[kind]
        ok = recall >= want_r and precision >= want_p
        failed |= not ok
        print(f"{kind:6} {labelled:8d} {found:6d} {recall:7.3f} {precision:9.3f}  "
              f"R>={want_r} P>={want_p} {'ok' if ok else 'MISSED'}")
    for what, kind, value, text in errors:
        print(f"  {what} {kind}: {value!r} in {text!r}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
