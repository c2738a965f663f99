"""Known questions learned from use: the reviewed `(question, document)` pairs of
`lepton-tf learn` added to an index as a new version, without a rebuild.

`learn_questions` does, on the latest version:

1. the fusion weight is chosen again on the pairs (real users' questions and
   the documents that answered them: the evidence changed), on the index as it
   is, before the pairs become known questions (tuned after, each question
   would find itself);
2. the not-found rule is fitted again when there is enough evidence
   (`MIN_REFIT_QUESTIONS`, and document ids that name threads, as StackFAQ's
   do): half of the new questions (by a hash of their text) join the known
   questions, the other half are the answerable questions of the fit, with
   whole threads left out for the unanswerable ones
   (`not_found_thread_fit.fold_features`), so no question is scored against itself;
   without enough, the version's rule is kept;
3. the pairs' documents are upserted with the new questions
   (`SearchIndex.upsert`; only new questions are encoded) and the version
   published by the `IndexVersionBuilder` with its rule, keeping the ingest
   manifest and the ACL (the passages are the same ones).
"""

from __future__ import annotations

import dataclasses
import hashlib

import numpy as np

from lepton_tf.index import not_found_thread_fit
from lepton_tf.index.known_questions import KnownQuestions

MIN_REFIT_QUESTIONS = 40


def _half(question: str) -> int:
    return hashlib.sha1(question.encode("utf-8")).digest()[0] & 1


def new_questions(index, pairs) -> tuple[dict, dict]:
    """`({doc_id: [new questions]}, counts)`: pairs whose document is in the index
    and whose question it does not know yet.

    A question confirmed for one passage is known for every passage with the same
    title: they answer the same question (the chunks of one section, the answers
    of one FAQ thread). Known for one of them only, a paraphrase would rank that
    one first and the others below passages whose known questions merely sound
    alike."""
    by_doc: dict = {}
    titled: dict = {}
    for doc_id, document in index.documents.items():
        if document.title.strip():
            titled.setdefault(document.title.strip(), []).append(doc_id)
    counts = {"unknown_document": 0, "already_known": 0, "new": 0}
    for question, doc_id in pairs:
        document = index.documents.get(doc_id)
        if document is None:
            counts["unknown_document"] += 1
            continue
        targets = [d for d in titled.get(document.title.strip(), [doc_id])
                   if question not in index.documents[d].questions
                   and question not in by_doc.get(d, [])]
        if not targets:
            counts["already_known"] += 1
            continue
        for target in targets:
            by_doc.setdefault(target, []).append(question)
        counts["new"] += 1
    return by_doc, counts


def refit_rule(index, by_doc: dict, encode_queries, folds: int = 5,
               seed: int = 0) -> dict | None:
    """The not-found rule fitted on the new questions (see the module doc), or None
    when there is too little evidence or the ids name no threads."""
    # One fit question per question (a question known for several passages of a
    # title is asked once), its thread that of its first passage.
    first = {}
    for d, qs in by_doc.items():
        for q in qs:
            first.setdefault(q, d)
    fit_questions = [(q, d) for q, d in first.items() if _half(q)]
    doc_ids = list(index.row_ids)
    query_ids = [f"{not_found_thread_fit.thread_of(d)}-learned{i}" for i, (_, d) in
                 enumerate(fit_questions)]
    if len(fit_questions) < MIN_REFIT_QUESTIONS // 2 or \
            not not_found_thread_fit.has_threads(doc_ids, query_ids, folds):
        return None
    known_docs = [dataclasses.replace(d, questions=tuple(d.questions) + tuple(
        q for q in by_doc.get(d.doc_id, []) if not _half(q)))
        for d in (index.documents[i] for i in doc_ids)]
    known = KnownQuestions.of_documents(known_docs, encode_queries, index.known_questions)
    groups = not_found_thread_fit.thread_folds(doc_ids, folds, seed)
    texts = [q for q, _ in fit_questions]
    parts = not_found_thread_fit.fold_features(
        doc_ids, [index.documents[d].embedding_text() for d in doc_ids],
        np.asarray(index.embeddings), query_ids, texts,
        np.asarray(encode_queries(texts), np.float32), groups, index.lexical is not None,
        known)
    return not_found_thread_fit.calibrate(parts, groups, fit_folds=3)


def learn_questions(index_dir: str, encoder, pairs, log=print) -> dict:
    """Adds the accepted pairs as known questions: a new index version.

    Args:
        index_dir: the index base folder (its latest version is updated).
        encoder: a `SavedModelEncoder` (the index's).
        pairs: `(question, doc_id)` accepted by the operator.
        log: where progress lines go.

    Returns:
        `{"counts", "version" (None: nothing new), "fusion", "rule"}`.
    """
    from lepton_tf.data.pairs import RetrievalPair
    from lepton_tf.index.fusion_tuning import tune_fusion
    from lepton_tf.index.reuse_plan import ReusePlan
    from lepton_tf.index.sharded_storage import load_any
    from lepton_tf.index.version_builder import IndexVersionBuilder

    index = load_any(index_dir, expected_encoder=encoder.info)
    if not hasattr(index, "refresh_questions"):
        raise ValueError(f"{index_dir} is sharded: known questions are kept by one-shard "
                         "indexes (build it without --num-shards to learn).")
    by_doc, counts = new_questions(index, pairs)
    log(f"learn: {counts['new']} new known questions for {len(by_doc)} passages "
        f"({counts['already_known']} already known, {counts['unknown_document']} of "
        "documents not in the index)")
    if not by_doc:
        return {"counts": counts, "version": None, "fusion": None, "rule": None}
    evidence = list({q: RetrievalPair(q, d) for d, qs in by_doc.items() for q in qs}.values())
    if index.lexical is not None:
        config, _ = tune_fusion(index, evidence, encoder.encode_queries,
                                source="learned questions")
        log(f"learn: fusion dense weight {config.dense_weight:g} on {config.tuned_on}")
    refit = refit_rule(index, by_doc, encoder.encode_queries)
    if refit is None:
        log(f"learn: not-found rule kept (fewer than {MIN_REFIT_QUESTIONS} new questions, or "
            "document ids that name no threads)")
    else:
        held = refit["held_out"]
        log(f"learn: not-found rule refitted over {', '.join(refit['rule'].features)}; "
            f"held-out: unanswerable flagged {held['unanswerable_flagged']:.1%}, answerable "
            f"{held['answerable_flagged']:.1%}")
    documents = [dataclasses.replace(index.documents[d], questions=tuple(
        index.documents[d].questions) + tuple(qs)) for d, qs in by_doc.items()]
    index.upsert(documents, encoder.encode_documents([d.embedding_text() for d in documents]))
    # Same passages (their ids, files and texts): the ingest manifest and the ACL stay,
    # so the next folder run keeps these passages and their learned questions.
    plan = ReusePlan.decide(index_dir, encoder.info, log=log)
    builder = IndexVersionBuilder(index_dir, encoder, plan, fusion=index.fusion,
                                  not_found_rule=refit["rule"] if refit else None, log=log)
    path = builder.publish(index, ingest=plan.parts.ingest)
    log(f"learn: index version {path} ({len(index.known_questions)} known questions)")
    return {"counts": counts, "version": path, "fusion": dataclasses.asdict(index.fusion),
            "rule": refit}
