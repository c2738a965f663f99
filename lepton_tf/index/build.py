"""Build an index version from a corpus file and an encoder SavedModel."""

from __future__ import annotations

import os
import time

import numpy as np

from lepton_tf.index.documents import Document, read_documents
from lepton_tf.index.search_index import SearchIndex
from lepton_tf.index.storage import save_index


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


def tune(index, pairs_path: str, encoder) -> None:
    """Sets `index.fusion` to the weight that does best on the pairs file."""
    from lepton_tf.data.pairs import read_pairs
    from lepton_tf.index.fusion_tuning import tune_fusion

    config, table = tune_fusion(index, read_pairs(pairs_path), encoder.encode_queries,
                                source=pairs_path)
    print("fusion: nDCG@10 by dense weight on " + config.tuned_on + ": "
          + " ".join(f"{w:g}:{v:.3f}" for w, v in table.items()))
    print(f"fusion: dense weight {config.dense_weight:g} ({config.method})")


def not_found_rule(corpus: str, index, encoder) -> dict[str, str]:
    """`not_found.json` for the index when `corpus` is a BEIR folder whose ids name
    their thread (StackFAQ): the rule fitted by leaving threads out
    (`index.not_found_thread_fit`); else nothing (the servable uses the default rule)."""
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
        print(f"not-found: no thread-named test questions in {corpus}; the default rule "
              f"({rule}) applies")
        return {}
    held = result["held_out"]
    print(f"not-found: rule over {', '.join(result['rule'].features)}; held-out folds: "
          f"unanswerable flagged {held['unanswerable_flagged']:.1%} of {held['unanswerable']}, "
          f"answerable {held['answerable_flagged']:.1%} of {held['answerable']}")
    return rules.rule_file(result["rule"])


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
    from lepton_tf.index.scann_config import IndexBuilder
    config = IndexBuilder(*vectors.shape).auto().config(k=k)
    index = SearchIndex.build(vectors, documents, config, encoder=encoder.info, fusion=fusion)
    index.refresh_questions(encoder.encode_queries)
    if index.known_questions is not None:
        print(f"known questions: {len(index.known_questions)} embedded")
    if tune_pairs:
        tune(index, tune_pairs, encoder)
    elif auto_tune:
        from lepton_tf.index.fusion_selftune import tune_default
        tune_default(index, encoder)
    extra = not_found_rule(corpus, index, encoder) if calibrate else {}
    path = save_index(index, out_dir, version, extra_files=extra)
    print(f"Indexed {len(documents)} documents ({index.config.kind}) with "
          f"{encoder.info.name} v{encoder.info.version} in {time.time() - start:.0f} s -> {path}")
    return path
