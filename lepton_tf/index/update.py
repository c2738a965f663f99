"""An update of the latest index version: documents added or deleted, or the
fusion weight chosen again, without rebuilding the searcher.

    lepton-tf index --add more.jsonl      # upserted by id
    lepton-tf index --delete ID [ID ...]
    lepton-tf index --retune [--tune pairs.jsonl]

What the new version keeps of the previous one is the `ReusePlan`'s: every
passage it does not change (with its vectors and known-question vectors),
the not-found rule, the ACL, the fusion weight (unless `--retune`, `--tune`
or `--dense-weight`), and the ingest manifest while the passages are the
folder's own (a re-tune), so the next folder run stays incremental.
"""

from __future__ import annotations


def update_index(index_dir: str, encoder, add: str | None = None,
                 delete: list[str] | None = None, tune_pairs: str | None = None,
                 retune: bool = False, fusion=None, log=print) -> str:
    """Writes a new version: the latest one with documents added (upserted by
    id) and/or deleted, its fusion weight tuned again or set.

    Args:
        index_dir: the index base folder (one index or sharded).
        encoder: an encoder SavedModel path, or an encoder object
            (`encode_documents`, `encode_queries`, `info`).
        add: a JSONL/BEIR corpus of documents to add or replace.
        delete: document ids to delete.
        tune_pairs: a JSONL of `{query, positive}` to tune the weight on.
        retune: choose the weight again (on `tune_pairs`, else self-tuned).
        fusion: a fixed `FusionConfig` to set.
        log: where messages go.

    Returns:
        The new version folder.

    Raises:
        FileNotFoundError: no index at `index_dir`.
        IndexMismatchError: the index was built by another encoder.
        KeyError: an id to delete is not in the index.
        ValueError: `tune_pairs` none of whose positives is in the index.
    """
    from lepton_tf.index.build import read_corpus
    from lepton_tf.index.reuse_plan import ReusePlan
    from lepton_tf.index.sharded_storage import load_any
    from lepton_tf.index.version_builder import IndexVersionBuilder

    if isinstance(encoder, str):
        from lepton_tf.index.encoding import SavedModelEncoder

        encoder = SavedModelEncoder(encoder)
    index = load_any(index_dir, expected_encoder=encoder.info)  # sharded or not
    plan = ReusePlan.decide(index_dir, encoder.info, retune=retune or bool(tune_pairs),
                            log=log)
    if delete:
        index.delete(delete)
    if add:
        documents = read_corpus(add)
        same = [d for d in documents
                if plan.same_content(index.documents.get(d.doc_id), d)]
        if same:
            index.replace_documents(same)
            log(f"{len(same)} documents changed only readers or metadata: not re-encoded")
        kept = {d.doc_id for d in same}
        documents = [d for d in documents if d.doc_id not in kept]
        if documents:
            index.upsert(documents,
                         encoder.encode_documents([d.embedding_text() for d in documents]))
    if index.lexical is None:
        index.rebuild_lexical()  # a version without BM25 gains its part
    builder = IndexVersionBuilder(index_dir, encoder, plan, fusion=fusion,
                                  tune_pairs=tune_pairs, self_tune=retune, log=log)
    path = builder.publish(index, ingest=None if add or delete else plan.parts.ingest)
    log(f"Index now {len(index)} documents -> {path}")
    return path
