"""The `search` servable: the ScaNN + BM25 index behind the TF Serving Predict API."""

from __future__ import annotations

import logging
from typing import Callable

import numpy as np

from lepton_tf.contracts import search as contract
from lepton_tf.contracts.search import SearchHit
from lepton_tf.index import not_found_rule
from lepton_tf.index.filters import READERS_FIELD, FilterError
from lepton_tf.index.permissions import permitted_filter, shown_metadata
from lepton_tf.index.permitted_signals import permitted_lexical
from lepton_tf.index.sharded_storage import load_any
from lepton_tf.index.storage import list_index_versions, resolve_index_dir
from lepton_tf.search.backend import SearchBackend
from lepton_tf.server import audit, identity
from lepton_tf.server.servable import Servable, Signature, TensorSpec

log = logging.getLogger(__name__)
MAX_K = 1000

_OUTPUTS = {name: TensorSpec(name, "string", (None, None)) for name in contract.STRING_OUTPUTS}
_OUTPUTS.update({name: TensorSpec(name, "float32", (None, None))
                 for name in contract.SCORE_OUTPUTS})
# bool [B]: the index's not-found rule flags the query (`index.not_found_rule`).
_OUTPUTS[contract.NOT_FOUND] = TensorSpec(contract.NOT_FOUND, "bool", (None,))
_QUERY = TensorSpec(contract.QUERY, "string", (None,))
_K = TensorSpec(contract.K, "int32", ())


def index_is_folder(path) -> bool:
    """Whether `path` is an index version folder on disk (not remote shards)."""
    import os

    return isinstance(path, str) and os.path.isdir(path)


def _scalar_text(inputs: dict, name: str) -> str:
    value = np.asarray(inputs[name]).reshape(-1)
    if value.size != 1:
        raise ValueError(f"{name} must be one string, got {value.size} values.")
    raw = value[0]
    try:
        return raw.decode("utf-8") if isinstance(raw, bytes) else str(raw)
    except UnicodeDecodeError:
        raise ValueError(f"{name} is not valid UTF-8.") from None


class SearchServable(Servable):
    """Answers `query` strings with the top-k passages of an index.

    Signatures and outputs are the contract's (`contracts.search`): `query`,
    and `k`, `mode`, `filter` (JSON `{field: value or [values]}` over
    `doc_id`, `title` and metadata keys). `metadata` holds, for a folder
    index, `source`, `document`, `section`, `page`, `start`, `end`; `scores`
    are the mode's (fused, cosine or BM25); `dense_score` is the cosine or,
    when higher, the cosine of the passage's best known question
    (`index.known_questions`). When fewer than k passages match a filter,
    rows are padded.

    The index is one `SearchIndex`, or a `ShardedIndex` (a sharded version
    on disk, or shards on other servers: `index=`) answered by
    scatter-gather, every mode and filter answered as by one unsharded index
    (`index.sharded_hybrid`).

    `not_found` (bool `[B]`): the index version's not-found rule
    (`not_found.json`, fitted by `lepton-tf index` on thread-named test
    questions; else the default top-1 cosine rule, see `index.not_found_rule`)
    flags the query: its answer is likely not in the index (the assistant's
    not-found answer, `lepton-tf eval not-found`). The rule reads the query's
    top cosines and BM25 signals, and its cosines to the documents' known
    questions when they list some (`index.known_questions`), whatever `mode`
    ranked the hits.

    Document permissions (`index.permissions`): the calling principal
    (`server.identity`) reads only passages whose readers include it, one of
    its groups or `"*"`; that is a filter key added before ranking, so hits,
    scores, fusion and the not-found flag are those of the permitted passages
    alone, in every mode and over shards.

    ScaNN ops are not in stock TF Serving, so this servable lives in the
    lepton-tf server; queries are embedded by the `encoder` servable (in
    process or on a remote TF Serving).

    Args:
        index_dir: an index version folder or the base holding versions.
        embed_queries: list of UTF-8 `bytes` -> float32 `[B, D]` embeddings.
        name: the model name clients use.
        expected_encoder: refuse an index built by another encoder
            (`IndexMismatchError`).
        index: an already built index (e.g. over remote shards) instead of
            loading `index_dir`; then `version` numbers it.
        not_found_threshold: use the single rule "top-1 cosine below this"
            instead of the index's rule.
    """

    def __init__(self, index_dir: str | None, embed_queries: Callable[[list], np.ndarray],
                 name: str = contract.MODEL, expected_encoder=None,
                 index: SearchBackend | None = None, version: int = 1,
                 not_found_threshold: float | None = None):
        if index is None:
            self.path = resolve_index_dir(index_dir)
            self.index: SearchBackend = load_any(self.path, expected_encoder=expected_encoder)
            self.version = int(self.path.rstrip("/").split("/")[-1])
        else:
            if not isinstance(index, SearchBackend):
                raise TypeError(f"{type(index).__name__} is not a SearchBackend (a "
                                "SearchIndex or a ShardedIndex).")
            self.path, self.index, self.version = index_dir, index, version
        self.embed_queries = embed_queries
        self.name = name
        if index is None and any(getattr(d, "readers", None) is not None
                                 for d in self.index.documents.values()):
            log.info("search %s: index version %d has document permissions; they apply to "
                     "callers with an identity (--tokens_file, --jwt_*): a server without "
                     "them, or with one shared --auth_token, lets every caller read every "
                     "document", name, self.version)
        self.not_found_rule = not_found_rule.threshold_rule(not_found_threshold) \
            if not_found_threshold is not None else self._rule()
        self.encoder = None  # the paired encoder version's EncoderInfo, when paired
        self._on_close: list[Callable[[], None]] = []
        with_k = {contract.QUERY: _QUERY, contract.K: _K}
        options = {name: TensorSpec(name, "string", ()) for name in (contract.MODE,
                                                                      contract.FILTER)}
        self._signatures = {
            contract.DEFAULT_SIGNATURE: Signature({contract.QUERY: _QUERY}, _OUTPUTS),
            contract.K_SIGNATURE: Signature(with_k, _OUTPUTS),
            contract.OPTIONS_SIGNATURE: Signature(dict(with_k, **options), _OUTPUTS)}

    def _rule(self) -> not_found_rule.NotFoundRule:
        known = self.index.known_questions is not None
        rule = self.index.not_found_rule or \
            not_found_rule.load_rule(self.path if index_is_folder(self.path) else None, known)
        # BM25 features need one index's scores and vocabulary (`cover`: the share of the
        # query's tokens the corpus holds), which no shard has alone: the cosine rule.
        if rule.needs_lexical() and (self.index.sharded or self.index.lexical is None):
            return not_found_rule.default_rule(known)  # no BM25 here
        if rule.needs_questions() and not known:
            return not_found_rule.DEFAULT_RULE  # no embedded known questions here
        return rule

    def not_found(self, hits: list, texts: list[str]) -> np.ndarray:
        """The rule's flag per query (bool `[B]`), read from the signals the
        search pass returned with each query's `Hits`: every one over the
        passages the caller may read (`hybrid.QuerySignals`)."""
        # A sharded index cannot be empty (each shard holds documents), and remote
        # shards do not report their size.
        if not self.index.sharded and not len(self.index):
            return np.ones(len(texts), bool)
        rule = self.not_found_rule
        signals = [h.signals for h in hits]
        # One caller per batch: every query's signals are over the same rows.
        readable = signals[0].readable_rows if signals else None
        lexical = None
        if rule.needs_lexical():
            lexical = self.index.lexical if readable is None else \
                permitted_lexical(self.index, readable)
        questions = [None] * len(texts)
        if rule.needs_questions():
            readers = None if readable is None else {self.index.row_ids[r] for r in readable}
            questions = self.index.known_questions.features_of(np.stack(
                [np.zeros(0, np.float32) if s.question_cosines is None else s.question_cosines
                 for s in signals]), readers)
        return np.array([len(s.top_cosines) == 0 or rule.flags(not_found_rule.query_features(
            s.top_cosines, text, lexical, q, s.bm25 if lexical is not None else None))
            for s, text, q in zip(signals, texts, questions)], bool)

    def on_close(self, callback: Callable[[], None]) -> None:
        """Runs `callback` when this version is unloaded (releases its pairing)."""
        self._on_close.append(callback)

    def close(self) -> None:
        """Releases the encoder pairing and stops a sharded index's threads."""
        for callback in self._on_close:
            callback()
        self._on_close = []
        self.index.close()

    @staticmethod
    def available_versions(index_dir: str) -> list[int]:
        return list_index_versions(index_dir)

    @property
    def signatures(self) -> dict[str, Signature]:
        return self._signatures

    def _options(self, signature_name: str, inputs: dict):
        k, mode, filter = self.index.config.k, contract.DEFAULT_MODE, None
        if signature_name in (contract.K_SIGNATURE, contract.OPTIONS_SIGNATURE):
            k = int(np.asarray(inputs[contract.K]).reshape(()))
            if not 1 <= k <= MAX_K:
                raise ValueError(f"k must be in [1, {MAX_K}], got {k}.")
        if signature_name == contract.OPTIONS_SIGNATURE:
            mode = contract.check_mode(_scalar_text(inputs, contract.MODE).strip()
                                       or contract.DEFAULT_MODE)
            filter = _scalar_text(inputs, contract.FILTER)
        if mode != "dense" and self.index.lexical is None:
            raise ValueError(f"mode {mode} needs BM25, which index version {self.version} "
                             "was built without: rebuild it with "
                             "`lepton-tf index`, or use mode dense.")
        return k, mode, filter

    @staticmethod
    def _queries(inputs: dict) -> list[bytes]:
        texts = []
        for q in np.asarray(inputs[contract.QUERY]).reshape(-1):
            raw = q if isinstance(q, bytes) else str(q).encode()
            try:
                decoded = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise ValueError("query is not valid UTF-8.") from None
            if not decoded.strip():
                raise ValueError("query is empty.")
            texts.append(raw)
        return texts

    def run(self, signature_name: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        k, mode, filter = self._options(signature_name, inputs)
        # The caller's permission is one more filter key, applied before any ranking
        # (`index.permissions`); the not-found rule sees only the same passages.
        readers = identity.current().readers()
        try:
            filter = permitted_filter(filter, readers)
        except FilterError as e:
            raise ValueError(str(e)) from None
        texts = self._queries(inputs)
        if not texts:
            return contract.pack_outputs([])
        vectors = np.asarray(self.embed_queries(texts), dtype=np.float32)
        strings = [t.decode("utf-8") for t in texts]
        try:
            hits = self.index.hybrid_search(vectors, strings, k, mode, filter,
                                            signals=not_found_rule.TOP_K)
        except FilterError as e:
            raise ValueError(str(e)) from None
        out = contract.pack_outputs([self._hits(h) for h in hits],
                                    self.not_found(hits, strings))
        audit.record(self.name, "search", strings, [list(h.doc_ids) for h in hits],
                     self._decision(readers), out[contract.NOT_FOUND].tolist())
        return out

    def _decision(self, readers) -> str:
        """The permission decision an audit record states."""
        if readers is None:
            return "unrestricted"
        if self.index.sharded:
            return f"readers={readers}"
        rows = self.index.field_index().rows({READERS_FIELD: list(readers)})
        permitted = len(self.index) if rows is None else len(rows)
        return f"readers={readers}; {permitted} of {len(self.index)} passages permitted"

    def _hits(self, hits) -> list[SearchHit]:
        """One query's `Hits` as the contract's hits, with their documents
        (metadata without the readers: callers do not see who else may read;
        with the document's known questions, which a caller may ask next)."""
        documents = self.index.documents
        return [SearchHit(d.doc_id, float(score), d.title, d.text, _metadata(d),
                          float(dense), float(bm25))
                for d, score, dense, bm25 in zip((documents[i] for i in hits.doc_ids),
                                                 hits.scores, hits.dense_scores,
                                                 hits.bm25_scores)]


def _metadata(document) -> dict:
    """A hit's metadata: the document's as callers see it, and its known questions."""
    metadata = shown_metadata(document.metadata)
    if document.questions:
        metadata[contract.KNOWN_QUESTIONS] = list(document.questions)
    return metadata
