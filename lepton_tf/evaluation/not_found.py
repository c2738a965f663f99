"""`lepton-tf eval not-found`: the not-found rule, fitted and reported on held-out threads.

Whole StackFAQ threads are left out of the index in turn (`folds` groups);
the rule (`index.not_found_rule`: a logistic model over the top cosines and BM25
signals of a query) is fitted on the first `fit_folds` folds with only
their threads' questions, its cut chosen there to flag `--recall` of their
unanswerable questions, and reported on the other folds, whose threads the
fit never saw (see `index.not_found_thread_fit`); then the same for every choice of
fit folds, with the mean and spread of the held-out rates. `lepton-tf index` fits the same
rule and writes it into the index version (`not_found.json`).

    lepton-tf eval not-found --encoder saved_models/encoder --index indexes/stackfaq
    lepton-tf eval not-found --index indexes/stackfaq --features top1   # the top-1 cosine rule
    lepton-tf eval not-found --questions train     # no index: the train split's questions
                                                   # as the documents' known questions

An index whose documents list known questions (`index.known_questions`; the
main job's StackFAQ index knows the train split's paraphrases) adds their
`question_*` signals to the rule.
"""

from __future__ import annotations

import os

import numpy as np

from lepton_tf.evaluation import write_json
from lepton_tf.index import not_found_rule
from lepton_tf.index.not_found_thread_fit import TARGET_RECALL, calibrate_collection, thread_of

__all__ = ["evaluate", "register", "thread_of"]


def evaluate(encoder_path: str, collection_dir: str, folds: int = 5, fit_folds: int = 3,
             seed: int = 0, index_dir: str | None = None, features=not_found_rule.FEATURES,
             recall: float = TARGET_RECALL, questions: str | None = None) -> dict:
    """Encodes the test questions (the documents too, unless `index_dir` holds an index
    this encoder built: its stored vectors and known questions are used), then fits
    and reports the rule.

    Args:
        questions: without `index_dir`, a split of the collection whose queries
            are the documents' known questions (`known_questions.attach_split_questions`).

    Raises:
        ValueError: the collection's ids name no threads.
    """
    from lepton_tf.data.beir import read_beir
    from lepton_tf.index.documents import Document
    from lepton_tf.index.encoding import SavedModelEncoder
    from lepton_tf.index.known_questions import KnownQuestions, attach_split_questions
    from lepton_tf.index.storage import load_index

    encoder = SavedModelEncoder(encoder_path)
    if index_dir:
        if questions:
            raise ValueError("--questions is for a run without --index (an index keeps the "
                             "known questions it was built with).")
        index = load_index(index_dir, expected_encoder=encoder.info)
        doc_ids, doc_vectors = index.row_ids, np.asarray(index.embeddings)
        texts = [index.documents[d].embedding_text() for d in doc_ids]
        known = index.known_questions
    else:
        corpus = read_beir(collection_dir, "test").corpus
        doc_ids = sorted(corpus)
        docs = [Document(i, corpus[i]["text"], corpus[i].get("title", "")) for i in doc_ids]
        if questions:
            docs = attach_split_questions(docs, collection_dir, questions)
        texts = [d.embedding_text() for d in docs]
        doc_vectors = encoder.encode_documents(texts)
        known = KnownQuestions.of_documents(docs, encoder.encode_queries)
    result = calibrate_collection(collection_dir, doc_ids, texts, doc_vectors,
                                  encoder.encode_queries, folds, fit_folds, seed,
                                  tuple(features), recall, rotate=True, questions=known)
    if result is None:
        raise ValueError(f"{collection_dir}: no test questions whose ids name a thread.")
    rule = result.pop("rule")
    result.update(rule=rule.to_dict(), encoder=encoder.path, documents=len(doc_ids),
                  known_questions=len(known) if known is not None else 0)
    return result


def _line(name: str, r: dict) -> str:
    return (f"{name:>16}: unanswerable flagged {r['unanswerable_flagged']:.1%} "
            f"(of {r['unanswerable']}), answerable flagged {r['answerable_flagged']:.1%} "
            f"(of {r['answerable']})")


def run(args) -> int:
    features = tuple(f.strip() for f in args.features.split(",") if f.strip())
    result = evaluate(args.encoder, args.collection, args.folds, args.fit_folds, args.seed,
                      args.index, features, args.recall, args.questions)
    fitted = result["rule"]["fitted_on"]
    print(f"not-found rule over {', '.join(result['rule']['features'])} (encoder "
          f"{result['encoder']}, {fitted['threads']} threads in {fitted['folds']} folds, fit "
          f"on {fitted['fit_folds']}, cut for {args.recall:.0%} of unanswerable; "
          f"{result['known_questions']} known questions)")
    for part in ("fit", "held_out", "held_out_threads"):
        print(_line(part, result[part]))
    print("held-out trade-off (cut chosen on the fit folds for each recall):")
    for point in result["curve"]:
        print(_line(f"fit recall {point['fit_recall']:.0%}", point))
    rotated = result["rotations"]
    mean, std = rotated["held_out_mean"], rotated["held_out_std"]
    own = rotated["held_out_threads_answerable_flagged"]
    print(f"over all {len(rotated['runs'])} choices of {fitted['fit_folds']} fit folds (each "
          f"fitted on its own): held-out unanswerable flagged {mean['unanswerable_flagged']:.1%}"
          f" (sd {std['unanswerable_flagged']:.1%}), answerable flagged "
          f"{mean['answerable_flagged']:.1%} (sd {std['answerable_flagged']:.1%}; of held-out "
          f"threads' questions only {own['mean']:.1%}, sd {own['std']:.1%}); trade-off "
          + ", ".join(f"{p['fit_recall']:.0%}: {p['unanswerable_flagged']:.1%}/"
                      f"{p['answerable_flagged']:.1%}" for p in rotated["curve_mean"]))
    write_json(result, args.json)
    return 0


def register(sub) -> None:
    from lepton_tf.data.paths import data_dir

    p = sub.add_parser("not-found", help="fit and report the search not-found rule by "
                                         "leaving StackFAQ threads out of the index")
    p.add_argument("--encoder", default=os.path.join("saved_models", "encoder"),
                   help="encoder SavedModel (version or base folder)")
    p.add_argument("--collection", default=os.path.join(str(data_dir()), "beir", "stackfaq"),
                   help="BEIR folder whose ids name their thread (t12-q3)")
    p.add_argument("--index", help="an index of the same corpus built by --encoder: its "
                                   "document vectors are used instead of re-encoding")
    p.add_argument("--folds", type=int, default=5, help="groups of threads left out in turn")
    p.add_argument("--fit-folds", type=int, default=3,
                   help="folds the rule is fit on (the others report it)")
    p.add_argument("--seed", type=int, default=0, help="the thread shuffle's seed")
    p.add_argument("--features", default=",".join(not_found_rule.FEATURES),
                   help=f"comma-separated, among {', '.join(not_found_rule.FEATURES)}")
    p.add_argument("--recall", type=float, default=TARGET_RECALL,
                   help="share of the fit folds' unanswerable questions the cut flags")
    p.add_argument("--questions", metavar="SPLIT",
                   help="without --index: the queries of this split (e.g. train) as the "
                        "documents' known questions")
    p.add_argument("--json", help="also write the result here")
    p.set_defaults(fn=run)
