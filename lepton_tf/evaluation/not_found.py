"""`lepton-tf eval not-found`: calibrating the "not found" threshold on the index's encoder.

StackFAQ ids name their thread (`t12-q3`, `t12-a0`): questions of one
thread are answered by that thread's answers. Whole threads are left out
of the index in turn (`folds` groups of threads): a test question of a
left-out thread is *unanswerable* (its answers are not in the index), a
test question of a kept thread is *answerable*. The score of a question is
its top cosine similarity to the kept documents (exact, by matrix product:
what ScaNN approximates, the assistant's `search_score`).

The threshold is chosen on the first folds (`fit`; the largest balanced
accuracy of "score < threshold means unanswerable") and reported on the
other folds (`held`), whose threads the choice never saw: the share of
unanswerable questions flagged and of answerable ones flagged by mistake.

    lepton-tf eval not-found --encoder saved_models/encoder --index indexes/stackfaq
"""

from __future__ import annotations

import os
import random

import numpy as np

from lepton_tf.evaluation import write_json


def thread_of(item_id: str) -> str:
    """`t12-q3` -> `t12`."""
    return item_id.split("-", 1)[0]


def thread_folds(collection, folds: int = 5, seed: int = 0) -> list[set]:
    """The collection's threads in `folds` seeded groups."""
    threads = sorted({thread_of(d) for d in collection.corpus})
    random.Random(seed).shuffle(threads)
    return [set(threads[i::folds]) for i in range(folds)]


def fold_scores(doc_vectors: np.ndarray, doc_threads: list, query_vectors: np.ndarray,
                query_threads: list, folds: list[set]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per fold, `(answerable top scores, unanswerable top scores)` with the fold's
    threads left out of the documents."""
    out = []
    doc_threads, query_threads = np.array(doc_threads), np.array(query_threads)
    for left_out in folds:
        kept = ~np.isin(doc_threads, list(left_out))
        top = (query_vectors @ doc_vectors[kept].T).max(axis=1)
        unanswerable = np.isin(query_threads, list(left_out))
        out.append((top[~unanswerable], top[unanswerable]))
    return out


def best_threshold(answerable: np.ndarray, unanswerable: np.ndarray) -> float:
    """The threshold of the best balanced accuracy of `score < t` meaning unanswerable.

    >>> best_threshold(np.array([0.8, 0.9]), np.array([0.3, 0.5]))
    0.8
    """
    best, best_acc = 0.0, -1.0
    for t in np.unique(np.concatenate([answerable, unanswerable])):
        acc = 0.5 * (np.mean(unanswerable < t) + np.mean(answerable >= t))
        if acc > best_acc:
            best, best_acc = float(t), acc
    return best


def rates(threshold: float, answerable: np.ndarray, unanswerable: np.ndarray) -> dict:
    return {"unanswerable_flagged": float(np.mean(unanswerable < threshold)),
            "answerable_flagged": float(np.mean(answerable < threshold)),
            "answerable": len(answerable), "unanswerable": len(unanswerable)}


def calibrate(scores: list[tuple[np.ndarray, np.ndarray]], fit_folds: int) -> dict:
    """Threshold from the first `fit_folds` folds, rates on the others."""
    join = lambda part, k: np.concatenate([s[k] for s in part])
    fit, held = scores[:fit_folds], scores[fit_folds:]
    threshold = best_threshold(join(fit, 0), join(fit, 1))
    return {"threshold": round(threshold, 4),
            "fit": rates(threshold, join(fit, 0), join(fit, 1)),
            "held_out": rates(threshold, join(held, 0), join(held, 1))}


def evaluate(encoder_path: str, collection_dir: str, folds: int = 5, fit_folds: int = 3,
             seed: int = 0, index_dir: str | None = None) -> dict:
    """Encodes the test questions (the documents too, unless `index_dir` holds an index
    this encoder built: its stored vectors are used), then `calibrate`."""
    from lepton_tf.data.beir import read_beir
    from lepton_tf.index.documents import Document
    from lepton_tf.index.encoding import SavedModelEncoder
    from lepton_tf.index.storage import load_index

    collection = read_beir(collection_dir, "test")
    groups = thread_folds(collection, folds, seed)
    encoder = SavedModelEncoder(encoder_path)
    if index_dir:
        index = load_index(index_dir, expected_encoder=encoder.info)
        doc_ids, doc_vectors = index.row_ids, index.embeddings
    else:
        doc_ids = sorted(collection.corpus)
        docs = [Document(i, collection.corpus[i]["text"], collection.corpus[i].get("title", ""))
                for i in doc_ids]
        doc_vectors = encoder.encode_documents([d.embedding_text() for d in docs])
    query_ids = sorted(collection.queries)
    query_vectors = encoder.encode_queries([collection.queries[q] for q in query_ids])
    scores = fold_scores(doc_vectors, [thread_of(i) for i in doc_ids], query_vectors,
                         [thread_of(q) for q in query_ids], groups)
    result = calibrate(scores, fit_folds)
    result.update(encoder=encoder.path, threads=sum(map(len, groups)), folds=folds,
                  fit_folds=fit_folds, questions=len(query_ids), documents=len(doc_ids))
    return result


def run(args) -> int:
    result = evaluate(args.encoder, args.collection, args.folds, args.fit_folds, args.seed,
                      args.index)
    print(f"not-found threshold {result['threshold']} (encoder {result['encoder']}, "
          f"{result['threads']} threads in {result['folds']} folds, fit on {result['fit_folds']})")
    for part in ("fit", "held_out"):
        r = result[part]
        print(f"{part:>9}: unanswerable flagged {r['unanswerable_flagged']:.1%} "
              f"(of {r['unanswerable']}), answerable flagged {r['answerable_flagged']:.1%} "
              f"(of {r['answerable']})")
    if args.json:
        write_json(result, args.json)
    return 0


def register(sub) -> None:
    from lepton_tf.data.paths import data_dir

    p = sub.add_parser("not-found", help="calibrate the search not-found threshold by "
                                         "leaving StackFAQ threads out of the index")
    p.add_argument("--encoder", default=os.path.join("saved_models", "encoder"),
                   help="encoder SavedModel (version or base folder)")
    p.add_argument("--collection", default=os.path.join(str(data_dir()), "beir", "stackfaq"),
                   help="BEIR folder whose ids name their thread (t12-q3)")
    p.add_argument("--index", help="an index of the same corpus built by --encoder: its "
                                   "document vectors are used instead of re-encoding")
    p.add_argument("--folds", type=int, default=5, help="groups of threads left out in turn")
    p.add_argument("--fit-folds", type=int, default=3,
                   help="folds the threshold is fit on (the others report it)")
    p.add_argument("--seed", type=int, default=0, help="the thread shuffle's seed")
    p.add_argument("--json", help="also write the result here")
    p.set_defaults(fn=run)
