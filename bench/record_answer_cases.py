"""Records real-docs answer cases for `tests/test_answer_likeness.py`: what search
showed and the encoder's similarity of every sentence, so the test replays
all-MiniLM-L6-v2's real scores without the model.

    python bench/record_answer_cases.py --encoder ENCODER --index-dir DIR \
        --ids q07 q10 q25 q36 q40 --out tests/testdata/realdocs_answer_cases.json

`--index-dir` holds the index `bench/answers.py --index-dir DIR` built of
`bench/data/realdocs`; the questions are `bench/data/realdocs_questions.jsonl`'s.
"""

from __future__ import annotations

import json
import os
import sys

import bench_cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main(argv=None) -> int:
    parser = bench_cli.parser(__doc__)
    parser.add_argument("--encoder", required=True, help="encoder SavedModel")
    parser.add_argument("--index-dir", required=True, help="the realdocs index")
    parser.add_argument("--ids", nargs="+", required=True, help="question ids to record")
    parser.add_argument("--out", required=True, help="the cases (JSON)")
    args = parser.parse_args(argv)
    sys.path.insert(0, ROOT)
    from lepton_tf.assistant.answers import split_sentences
    from lepton_tf.assistant.engine import CONTEXT_PASSAGES
    from lepton_tf.index import load_index
    from lepton_tf.index.encoding import SavedModelEncoder

    encoder = SavedModelEncoder(args.encoder)
    index = load_index(args.index_dir)
    with open(os.path.join(ROOT, "bench", "data", "realdocs_questions.jsonl"),
              encoding="utf-8") as f:
        questions = {q["id"]: q for q in map(json.loads, filter(str.strip, f))}
    cases = []
    for qid in args.ids:
        item = questions[qid]
        vector = encoder.encode_queries([item["question"]])
        hits = index.hybrid_search(vector, [item["question"]], k=CONTEXT_PASSAGES)[0]
        passages = [{"id": d, "title": index.documents[d].title, "text": index.documents[d].text,
                     "score": round(float(s), 4), "metadata": dict(index.documents[d].metadata)}
                    for d, s in zip(hits.doc_ids, hits.scores)]
        sentences = sorted({s for p in passages for s in split_sentences(p["text"])})
        cosines = encoder.encode_documents(sentences, progress=False) @ vector[0]
        cases.append({**item, "passages": passages,
                      "similarity": {s: round(float(c), 4) for s, c in zip(sentences, cosines)}})
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump({"encoder": "all-MiniLM-L6-v2 (export_encoder, zero-shot)", "cases": cases},
                  f, indent=1, ensure_ascii=False)
    print(f"{len(cases)} cases -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
