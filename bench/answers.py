"""Answers from documentation nobody here wrote: is the answer in the reply, whole?

    python bench/answers.py --encoder ENCODER --set heldout --baseline /tmp/old
    python bench/answers.py --encoder saved_models/encoder --out runs/answers-new.json
    python bench/answers.py --compare runs/answers-old.json runs/answers-new.json

Two sets (`--set`): `realdocs`, the corpus `bench/data/realdocs` (READMEs and
docs shipped inside installed Python packages) with
`bench/data/realdocs_questions.jsonl`, and `heldout`, `bench/data/realdocs_heldout`
(other packages' READMEs) with `realdocs_heldout_questions.jsonl`, kept out of
the work on the extractor; `bench/data/REALDOCS.md` names the files and their
licences. Each question carries the phrase that answers it, written down from
the documents before any run. A run indexes
the folder as `lepton-tf index --corpus` does (`build_folder_index`: parse,
chunk, encode, self-tuned fusion), searches each question as the assistant
does (hybrid, the assistant's `CONTEXT_PASSAGES` shown), builds the reply with
`assistant.answers.extractive_answer` (sentence similarity from the same
encoder) and records it with the top sources and the index's not-found flag.

`--baseline DIR` runs the same set a second time with the code of another
checkout (`git worktree add /tmp/old main`: this script, the code imported
from DIR, its own index) and prints both side by side, scored by one scorer;
`--compare` does the same for runs saved earlier (the script only uses APIs
both have):

- source in top 3: a passage of the question's file is among the first 3;
- answer passage in top 3: one of the first 3 passages holds the phrase
  (the answer can be extracted at all from what search found);
- answer present: the phrase (whitespace and citation markers aside) is in
  the reply;
- present and whole: present, and the reply does not open with a sentence
  that leans on one it does not show ("i.e.", "Otherwise", "This ...", a bare
  link: `assistant.standalone.leans_back`);
- not-found false flags: the index's not-found rule flags the question (every
  question here has its answer in the corpus); and how many of 12 off-topic
  questions (`bench/data/offtopic_questions.jsonl`: sourdough, passports, the
  weather in Berlin, ...) it flags, as it should.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import sys
import tempfile
import time

import bench_cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "bench", "data")
SETS = {"realdocs": (os.path.join(DATA, "realdocs"),
                     os.path.join(DATA, "realdocs_questions.jsonl")),
        "heldout": (os.path.join(DATA, "realdocs_heldout"),
                    os.path.join(DATA, "realdocs_heldout_questions.jsonl"))}
CORPUS, QUESTIONS = SETS["realdocs"]
# Questions no set's documents answer: the not-found rule should flag them all.
OFF_TOPIC = os.path.join(DATA, "offtopic_questions.jsonl")
_CITE = re.compile(r"\s*\[\d{1,2}\]")


def read_questions(path: str = QUESTIONS) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def run(encoder_path: str, out: str, index_dir: str | None = None, reuse: bool = False,
        corpus: str = CORPUS, questions: str = QUESTIONS) -> dict:
    """Indexes `corpus` (`reuse`: the index already in `index_dir`), answers every
    question of `questions`; writes and returns the records."""
    import numpy as np

    from lepton_tf.assistant.answers import extractive_answer
    from lepton_tf.assistant.engine import CONTEXT_PASSAGES
    try:
        from lepton_tf.assistant.grounding import RetrievedPassage as Passage
    except ImportError:  # a checkout from before the rename
        from lepton_tf.assistant.grounding import Passage
    from lepton_tf.index import load_index
    try:
        from lepton_tf.index import not_found_rule
    except ImportError:  # a checkout from before the rename
        from lepton_tf.index import not_found as not_found_rule
    from lepton_tf.index.encoding import SavedModelEncoder
    from lepton_tf.index.folder_build import build_folder_index
    from lepton_tf.index.storage import resolve_index_dir

    encoder = SavedModelEncoder(encoder_path)
    index_dir = index_dir or tempfile.mkdtemp(prefix="realdocs-index-")
    start = time.time()
    if not reuse:
        build_folder_index(corpus, index_dir, encoder, progress=False, rebuild=True)
    build_seconds = time.time() - start
    index = load_index(index_dir)
    rule = not_found_rule.load_rule(resolve_index_dir(index_dir))

    def similarity(question, sentences):
        q = encoder.encode_queries([question])[0]
        return np.asarray(encoder.encode_documents(list(sentences))) @ q

    fields = {f.name for f in dataclasses.fields(Passage)}
    records = []
    for item in read_questions(questions):
        question = item["question"]
        vector = encoder.encode_queries([question])
        hits = index.hybrid_search(vector, [question], k=10)[0]
        # With the metadata the search servable returns, where the checkout's
        # passages carry it (what kind of passage it is tells the extractor).
        passages = [Passage(d, index.documents[d].title, index.documents[d].text, float(s),
                            **({"metadata": dict(index.documents[d].metadata)}
                               if "metadata" in fields else {}))
                    for d, s in zip(hits.doc_ids, hits.scores)][:CONTEXT_PASSAGES]
        _, cosines = index.search(vector[0], 10)
        features = not_found_rule.query_features(np.asarray(cosines), question, index.lexical)
        try:
            flagged = rule.flags(features)
        except KeyError:  # a rule needing known questions this index has none of
            flagged = None
        reply, cited = extractive_answer(question, passages, similarity)
        answer = _flat(item["answer"])
        records.append({**item, "reply": reply, "cited": cited, "not_found": flagged,
                        "answer_top3": any(answer in _flat(index.documents[d].text)
                                           for d in hits.doc_ids[:3]),
                        "sources": [index.documents[d].metadata.get("source", "")
                                    for d in hits.doc_ids[:3]]})
    off_topic = []
    for item in read_questions(OFF_TOPIC):
        vector = encoder.encode_queries([item["question"]])
        _, cosines = index.search(vector[0], 10)
        try:
            off_topic.append(bool(rule.flags(not_found_rule.query_features(
                np.asarray(cosines), item["question"], index.lexical))))
        except KeyError:
            off_topic.append(None)
    result = {"encoder": encoder_path, "passages": len(index), "build_seconds": build_seconds,
              "off_topic_flagged": off_topic,
              "rule": rule.to_dict().get("fitted_on", {}), "records": records}
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=1, ensure_ascii=False)
    return result


def _flat(text: str) -> str:
    return " ".join(_CITE.sub(" ", text).split())


def score(record: dict) -> dict:
    """The record's judgements (see the module docstring)."""
    from lepton_tf.assistant.answers import split_sentences
    from lepton_tf.assistant.standalone import leans_back

    present = _flat(record["answer"]) in _flat(record["reply"])
    first = split_sentences(_CITE.sub("", record["reply"]))[:1]
    whole = present and not (first and leans_back(first[0]))
    return {"top3": record["source"] in record["sources"],
            "answer_top3": record.get("answer_top3", False), "present": present,
            "whole": whole, "flagged": bool(record["not_found"])}


def compare(paths: list[str]) -> str:
    """A side-by-side table of the runs' scores."""
    runs = []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            runs.append(json.load(f))
    rows = ["top3", "answer_top3", "present", "whole", "flagged"]
    names = {"top3": "source in top 3", "answer_top3": "answer passage in top 3",
             "present": "answer present", "whole": "present and whole",
             "flagged": "not-found false flags"}
    lines = [f"{'':34}" + "".join(f"{os.path.basename(p):>26}" for p in paths)]
    scored = [[score(r) for r in run["records"]] for run in runs]
    for row in rows:
        cells = []
        for judged in scored:
            hits = sum(j[row] for j in judged)
            cells.append(f"{hits}/{len(judged)} ({100 * hits / len(judged):.0f}%)")
        lines.append(f"{names[row]:34}" + "".join(f"{c:>26}" for c in cells))
    for subset, label in (("top3", "source"), ("answer_top3", "answer passage")):
        cells = []
        for judged in scored:
            top = [j for j in judged if j[subset]]
            whole = sum(j["whole"] for j in top)
            cells.append(f"{whole}/{len(top)} ({100 * whole / max(len(top), 1):.0f}%)")
        name = f"whole, {label} in top 3"
        lines.append(f"{name:34}" + "".join(f"{c:>26}" for c in cells))
    cells = []
    for run in runs:
        flags = run.get("off_topic_flagged") or []
        cells.append(f"{sum(bool(f) for f in flags)}/{len(flags)}")
    lines.append(f"{'off-topic questions flagged':34}" + "".join(f"{c:>26}" for c in cells))
    lines.append(f"{'passages indexed':34}" + "".join(f"{r['passages']:>26}" for r in runs))
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = bench_cli.parser(__doc__)
    parser.add_argument("--encoder", default=os.path.join("saved_models", "encoder"),
                        help="encoder SavedModel (base or version folder)")
    parser.add_argument("--out", default=os.path.join("runs", "answers.json"),
                        help="where the run's records go (JSON)")
    parser.add_argument("--index-dir", help="where to build the index (default: a temp folder)")
    parser.add_argument("--reuse", action="store_true",
                        help="answer over the index already in --index-dir (no build)")
    parser.add_argument("--compare", nargs="+", metavar="RUN_JSON",
                        help="score these runs side by side instead of running")
    parser.add_argument("--show", action="store_true",
                        help="with --compare or --baseline: every reply")
    parser.add_argument("--set", choices=sorted(SETS), default="realdocs",
                        help="which corpus and questions (default: realdocs)")
    parser.add_argument("--code", default=ROOT,
                        help="the checkout whose lepton_tf answers (default: this one)")
    parser.add_argument("--baseline", metavar="CHECKOUT",
                        help="also run the set with the code of this checkout, side by side")
    args = parser.parse_args(argv)
    if args.compare:
        sys.path.insert(0, ROOT)
        _report(args.compare, args.show)
        return 0
    sys.path.insert(0, os.path.abspath(args.code))
    corpus, questions = SETS[args.set]
    result = run(args.encoder, args.out, args.index_dir, args.reuse, corpus, questions)
    print(f"{args.set}: {len(result['records'])} questions, {result['passages']} passages "
          f"(index built in {result['build_seconds']:.0f} s) -> {args.out}")
    if args.baseline:
        import subprocess

        stem, ext = os.path.splitext(os.path.abspath(args.out))
        old = f"{stem}-baseline{ext or '.json'}"
        subprocess.run([sys.executable, os.path.abspath(__file__), "--encoder", args.encoder,
                        "--set", args.set, "--code", args.baseline, "--out", old],
                       check=True, cwd=args.baseline)
        _report([old, args.out], args.show)
    return 0


def _report(paths: list[str], show: bool) -> None:
    print(compare(paths))
    if show:
        runs = [json.load(open(p, encoding="utf-8")) for p in paths]
        for records in zip(*(r["records"] for r in runs)):
            print(f"\n{records[0]['id']} {records[0]['question']}\n  want: "
                  f"{records[0]['answer']}")
            for path, record in zip(paths, records):
                print(f"  {os.path.basename(path)} {score(record)}: {record['reply']}")


if __name__ == "__main__":
    sys.exit(main())
