"""The learning loop on StackFAQ: simulated traffic and feedback, one round of
`lepton-tf learn`, and held-out test paraphrases before and after.

    python bench/learning_loop.py --out runs/learning_loop.json
    python bench/learning_loop.py --encoder saved_models/encoder --out ...

1. An index of the 719 StackFAQ answers is built with no known questions and
   the default not-found rule (`build_index(..., calibrate=False)`: no log yet,
   and the rule the build would fit reads the test split).
2. Traffic: each of the 874 **train** paraphrases is asked once; the turn is
   logged in a real conversation store (SQLite) as the assistant logs it
   (sources, cited source 1, the not-found flag). Simulated feedback: an answer
   is rated up when its cited (top-1) document is of the judged thread, down
   otherwise; a not-found turn gets none (the user saw no answer).
3. `lepton-tf learn`'s steps: the review CSV (`store.learning.review_rows`,
   written and read back as the operator's file) and
   `index.learned_questions.learn_questions` (a new version with the accepted
   rows as known questions, fusion weight and not-found rule fitted again on
   them), for three operators, each on its own copy of the index:
   - `rated_up`: accepts the pre-accepted (rated-up) rows as proposed, nothing else;
   - `confirming`: goes through the whole file but only accepts rows as they are
     proposed, where the proposed document answers the question (a judged one):
     the rated-up rows, and of the questions that found nothing or were answered
     wrong, the shown document that is the right one; never writes a document;
   - `reviewed`: also writes a judged document of the question's thread where
     no proposed one is right, and accepts it: the operator who corrects.
4. Both versions are measured on the 375 **test** paraphrases (never logged,
   never in the index: checked): nDCG@10 of hybrid search (qrels/test.tsv),
   not-found false flags (test questions flagged with the whole index there:
   each has its thread), and the unanswerable questions still flagged when whole
   threads are left out (5 seeded folds, `not_found_thread_fit.fold_features`), so a
   rule that flags nothing cannot pass for a better one.

Without `--encoder` (and no `saved_models/encoder`), zero-shot all-MiniLM-L6-v2
is exported to a temporary folder first (not timed).
"""

from __future__ import annotations

import collections
import os
import shutil
import sys
import tempfile
import time

import bench_cli

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

import numpy as np  # noqa: E402


def encoder_path(given: str | None, work: str) -> str:
    default = os.path.join(REPO, "saved_models", "encoder")
    if given:
        return given
    if os.path.isdir(default) and os.listdir(default):
        return default
    from lepton_tf.export.encoder_servable import export_encoder
    from lepton_tf.models.retrieval import DualEncoder
    from lepton_tf.models.sentence_encoder import SentenceEncoder

    print("no encoder given: exporting zero-shot all-MiniLM-L6-v2", flush=True)
    return export_encoder(DualEncoder(SentenceEncoder.from_minilm()),
                          base_dir=os.path.join(work, "models"))


def flags(rule, features: dict) -> np.ndarray:
    """The rule's not-found flag per question (`features`: name -> array)."""
    x = np.stack([features[f] for f in rule.features], axis=1)
    z = rule.bias + ((x - np.array(rule.mean)) / np.array(rule.scale)) @ np.array(rule.weights)
    return z > rule.cut


def measure(version: str, encoder, test) -> dict:
    """nDCG@10, false flags and unanswerable recall of one index version on `test`."""
    from lepton_tf.evaluation.retrieval_metrics import score_run
    from lepton_tf.index import not_found_rule, not_found_thread_fit
    from lepton_tf.index.storage import load_index

    index = load_index(version, expected_encoder=encoder.info)
    known = index.known_questions
    if known is not None:  # the held-out split must never enter the index
        leaked = set(known.texts) & {t.strip() for t in test.queries.values()}
        assert not leaked, f"{len(leaked)} test questions are known questions"
    rule = not_found_rule.load_rule(version, has_questions=known is not None)
    query_ids = sorted(test.queries)
    texts = [test.queries[q] for q in query_ids]
    vectors = np.asarray(encoder.encode_queries(texts), np.float32)
    hits = index.hybrid_search(vectors, texts, k=10)
    run = {q: {d: float(s) for d, s in zip(h.doc_ids, h.scores)} for q, h in zip(query_ids, hits)}
    doc_ids = list(index.row_ids)
    doc_texts = [index.documents[d].embedding_text() for d in doc_ids]
    embeddings = np.asarray(index.embeddings)
    whole = not_found_thread_fit.fold_features(doc_ids, doc_texts, embeddings, query_ids,
                                               texts, vectors, [set()],
                                               index.lexical is not None, known)[0]
    folds = not_found_thread_fit.thread_folds(doc_ids, 5, 0)
    parts = not_found_thread_fit.fold_features(doc_ids, doc_texts, embeddings, query_ids,
                                               texts, vectors, folds,
                                               index.lexical is not None, known)
    rates = not_found_thread_fit.rates(rule, parts)
    flagged = flags(rule, whole["features"])
    return {"version": version, "nDCG@10": round(score_run(test.qrels, run)["nDCG@10"], 4),
            "false_flags": round(float(flagged.mean()), 4),
            "flagged_ids": [q for q, f in zip(query_ids, flagged) if f],
            "unanswerable_flagged": round(rates["unanswerable_flagged"], 4),
            "answerable_flagged_in_folds": round(rates["answerable_flagged"], 4),
            "rule": list(rule.features), "known_questions": len(known) if known else 0,
            "fusion_dense_weight": index.fusion.dense_weight}


def simulate_traffic(version: str, encoder, train, store) -> dict:
    """Logs one turn per train paraphrase and rates it; returns counts."""
    from lepton_tf.index import not_found_rule, not_found_thread_fit
    from lepton_tf.index.storage import load_index
    from lepton_tf.store import TurnRecord, new_turn_id

    index = load_index(version, expected_encoder=encoder.info)
    rule = not_found_rule.load_rule(version, has_questions=index.known_questions is not None)
    query_ids = sorted(train.queries)
    texts = [train.queries[q] for q in query_ids]
    vectors = np.asarray(encoder.encode_queries(texts), np.float32)
    hits = index.hybrid_search(vectors, texts, k=10)
    doc_ids = list(index.row_ids)
    features = not_found_thread_fit.fold_features(
        doc_ids, [index.documents[d].embedding_text() for d in doc_ids],
        np.asarray(index.embeddings), query_ids, texts, vectors, [set()],
        index.lexical is not None, index.known_questions)[0]["features"]
    flagged = flags(rule, features)
    counts = {"turns": 0, "not_found": 0, "up": 0, "down": 0}
    for i, (qid, text, hit) in enumerate(zip(query_ids, texts, hits)):
        sources = [{"n": n, "doc_id": d, "title": index.documents[d].title,
                    "score": round(float(s), 4)}
                   for n, (d, s) in enumerate(zip(hit.doc_ids[:2], hit.scores[:2]), 1)]
        record = TurnRecord(new_turn_id(), f"sim-{i // 5}", text, "search", sources=sources,
                            cited=[] if flagged[i] else [1], not_found=bool(flagged[i]),
                            reply="(simulated)")
        store.write_turn(record, {}, i % 5 + 1)
        counts["turns"] += 1
        if flagged[i]:
            counts["not_found"] += 1
            continue
        rating = "up" if hit.doc_ids[0] in train.qrels[qid] else "down"
        store.add_feedback(record.session_id, record.turn_id, rating)
        counts[rating] += 1
    return counts


def evidence_kind(evidence: str) -> str:
    """`rated up`, `rated down`, `not found`, `answer rated down`, `answered, not rated`."""
    kind = evidence.split(":")[0]
    return "rated down" if kind.startswith("rated down") else kind


def confirmed(row: dict, judged: dict) -> dict:
    """The row as an operator who only confirms leaves it: accepted as proposed when
    its document answers the question (rated up, or a cited or closest document
    the operator recognises), else left out; no document is ever written in."""
    return {**row, "accept": "yes" if row["doc_id"] in judged else ""}


def reviewed(row: dict, judged: dict) -> dict:
    """The row as an operator who knows the answers leaves it: accepted, with a judged
    document (the proposed one when it is judged, else the first judged one)."""
    doc_id = row["doc_id"] if row["doc_id"] in judged else sorted(judged)[0]
    return {**row, "accept": "yes", "doc_id": doc_id}


def main() -> int:
    p = bench_cli.parser(__doc__)
    p.add_argument("--corpus", default=os.path.join(REPO, "data", "beir", "stackfaq"))
    p.add_argument("--encoder", help="encoder SavedModel (default: see above)")
    p.add_argument("--work", help="folder for the index and the store (default: a temp one)")
    p.add_argument("--cache-dir", help="keep the encoder's vectors here between runs")
    p.add_argument("--out", help="write the figures as JSON here")
    args = p.parse_args()

    from lepton_tf.data.beir import read_beir
    from lepton_tf.index.build import build_index
    from lepton_tf.index.encoding import SavedModelEncoder
    from lepton_tf.index import not_found_thread_fit
    from lepton_tf.index.learned_questions import learn_questions
    from lepton_tf.store import ConversationStore, sqlite_url
    from lepton_tf.store.learning import REVIEW_COLUMNS, accepted_pairs, review_rows, write_csv

    work = args.work or tempfile.mkdtemp(prefix="learning-loop-")
    encoder = SavedModelEncoder(encoder_path(args.encoder, work))
    if args.cache_dir:
        from lepton_tf.evaluation.embedding_cache import CachedEncoder

        encoder = CachedEncoder(encoder, args.cache_dir, "stackfaq-learning-loop")
    start = time.time()
    index_dir = os.path.join(work, "index")
    before = build_index(args.corpus, "", index_dir, encoder=encoder, calibrate=False)
    train, test = read_beir(args.corpus, "train"), read_beir(args.corpus, "test")
    store = ConversationStore.open(sqlite_url(os.path.join(work, "conversations.sqlite")))
    traffic = simulate_traffic(before, encoder, train, store)
    rows = review_rows(store)
    store.close()
    report = {"traffic": traffic, "review_rows": len(rows),
              "before": measure(before, encoder, test)}
    qid_of = {text: qid for qid, text in train.queries.items()}
    operators = {"rated_up": lambda row, judged: row, "confirming": confirmed,
                 "reviewed": reviewed}
    flagged_before = report["before"].pop("flagged_ids")
    for operator, review_row in operators.items():
        review = os.path.join(work, f"review-{operator}.csv")
        left = [review_row(r, train.qrels[qid_of[r["question"]]]) for r in rows]
        write_csv(left, REVIEW_COLUMNS, review)
        pairs = accepted_pairs(review)
        copy = os.path.join(work, f"index-{operator}")
        shutil.copytree(index_dir, copy)
        learned = learn_questions(copy, encoder, pairs)
        after = measure(learned["version"], encoder, test)
        after.pop("flagged_ids")
        b = report["before"]
        after["accepted"] = len(pairs)
        after["accepted_by_evidence"] = dict(collections.Counter(
            evidence_kind(r["evidence"]) for r in left if r["accept"] == "yes"))
        threads = {not_found_thread_fit.thread_of(d) for _, d in pairs}
        after["threads_with_learned_questions"] = len(threads)
        # The held-out questions flagged before: does their thread now have a known question?
        after["flagged_before_whose_thread_learned"] = round(float(np.mean([
            bool({not_found_thread_fit.thread_of(d) for d in test.qrels[q]} & threads)
            for q in flagged_before])), 4) if flagged_before else None
        after["rule_refitted"] = learned["rule"] is not None
        after["false_flags_drop"] = round(1 - after["false_flags"] / b["false_flags"], 4) \
            if b["false_flags"] else None
        after["nDCG@10_change"] = round(after["nDCG@10"] - b["nDCG@10"], 4)
        report[f"after_{operator}"] = after
    report["seconds"] = round(time.time() - start)
    bench_cli.write_report(report, args.out, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
