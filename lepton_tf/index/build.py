"""Build an index version from a corpus file and an encoder SavedModel."""

from __future__ import annotations

import os
import time

from lepton_tf.index.documents import Document, read_documents

DEFAULT_INDEX_DIR = os.path.join("indexes", "stackfaq")


def is_beir_folder(path: str) -> bool:
    """True for a folder holding `corpus.jsonl[.gz]` (BEIR), not user files."""
    return any(os.path.exists(os.path.join(path, name))
               for name in ("corpus.jsonl", "corpus.jsonl.gz"))


def is_file_folder(path: str) -> bool:
    """True for a folder of user files (`lepton_tf.ingest` reads it)."""
    return os.path.isdir(path) and not is_beir_folder(path)


def read_corpus(path: str) -> list[Document]:
    """Documents from a BEIR folder (`corpus.jsonl[.gz]`) or a JSONL file of
    `{"_id", "title", "text", "metadata"}`."""
    if os.path.isdir(path):
        for name in ("corpus.jsonl", "corpus.jsonl.gz"):
            if os.path.exists(os.path.join(path, name)):
                return read_documents(os.path.join(path, name))
        raise FileNotFoundError(f"{path} has no corpus.jsonl[.gz].")
    return read_documents(path)


def default_index_dir(corpus: str) -> str:
    """Where `lepton-tf index` writes without `--out` (every path of it: a
    build, an update, the Beam pipeline).

    Args:
        corpus: the `--corpus` given.

    Returns:
        `indexes/<folder name>` for a folder of files, else `indexes/stackfaq`
        (the default corpus's).
    """
    if is_file_folder(corpus):
        return os.path.join("indexes", os.path.basename(os.path.abspath(corpus)))
    return DEFAULT_INDEX_DIR


def not_found_rule(corpus: str, index, encoder, log=print):
    """The not-found rule of the index when `corpus` is a BEIR folder whose ids
    name their thread (StackFAQ): fitted by leaving threads out
    (`index.not_found_thread_fit`).

    Returns:
        A `NotFoundRule`, or None (the servable uses the default rule).
    """
    import numpy as np

    # (the module as `rules`: this function has its name)
    from lepton_tf.index import not_found_rule as rules
    from lepton_tf.index import not_found_thread_fit

    result = not_found_thread_fit.calibrate_collection(
        corpus, index.row_ids, [index.documents[d].embedding_text() for d in index.row_ids],
        np.asarray(index.embeddings), encoder.encode_queries,
        questions=index.known_questions) if is_beir_folder(corpus) else None
    if result is None:
        rule = "the dense and known-question signals as fitted on StackFAQ" \
            if index.known_questions is not None \
            else f"top-1 cosine < {rules.DEFAULT_NOT_FOUND_THRESHOLD}"
        log(f"not-found: no thread-named test questions in {corpus}; the default rule "
            f"({rule}) applies")
        return None
    held = result["held_out"]
    log(f"not-found: rule over {', '.join(result['rule'].features)}; held-out folds: "
        f"unanswerable flagged {held['unanswerable_flagged']:.1%} of {held['unanswerable']}, "
        f"answerable {held['answerable_flagged']:.1%} of {held['answerable']}")
    return result["rule"]


def build_index(corpus: str, encoder_path: str, out_dir: str, *, k: int = 10,
                version: int | None = None, encoder=None, tune_pairs: str | None = None,
                fusion=None, auto_tune: bool = True, calibrate: bool = True,
                questions: str | None = None) -> str:
    """Encodes every document, builds ScaNN (auto config) and stemmed BM25,
    chooses the fusion weight (on pairs, else on pseudo-queries of the
    corpus), fits the not-found rule (`calibrate`, on a corpus with
    thread-named test questions), saves a version.

    Args:
        tune_pairs: a JSONL of `{query, positive}` whose positives are
            documents of the corpus (see `index.fusion_tuning`).
        fusion: a `FusionConfig` (default `FusionConfig()`).
        auto_tune: without `tune_pairs`, choose the weight on pseudo-queries
            of the corpus (`index.fusion_selftune.tune_default`; the default);
            False keeps `fusion`'s weight.
        questions: for a BEIR folder, a split whose queries become the
            documents' known questions (`index.known_questions`; e.g. `train`,
            never the split the not-found rule is calibrated on: `test`). A
            JSONL corpus lists them per document (`"questions": [...]`).

    Returns:
        The new index version folder.
    """
    from lepton_tf.index.encoding import SavedModelEncoder
    from lepton_tf.index.version_builder import IndexVersionBuilder

    start = time.time()
    documents = read_corpus(corpus)
    if not documents:
        raise ValueError(f"{corpus} holds no documents.")
    if questions:
        if not is_beir_folder(corpus):
            raise ValueError(f"--questions {questions} needs a BEIR folder with qrels/"
                             f"{questions}.tsv; {corpus} is not one (a JSONL corpus lists "
                             "each document's \"questions\").")
        from lepton_tf.index.known_questions import attach_split_questions
        documents = attach_split_questions(documents, corpus, questions)
    encoder = encoder or SavedModelEncoder(encoder_path)
    vectors = encoder.encode_documents([d.embedding_text() for d in documents])
    # Without self-tuning, `fusion`'s weight is the one given (never tuned but on pairs).
    builder = IndexVersionBuilder(out_dir, encoder, fusion=None if auto_tune else fusion,
                                  method=fusion.method if fusion else "convex",
                                  tune_pairs=tune_pairs, self_tune=auto_tune, version=version)
    index = builder.new_index(vectors, documents, k)
    path = builder.publish(index, calibrate=(lambda built: not_found_rule(corpus, built, encoder))
                           if calibrate else None)
    print(f"Indexed {len(documents)} documents ({index.config.kind}) with "
          f"{encoder.info.name} v{encoder.info.version} in {time.time() - start:.0f} s -> {path}")
    return path
