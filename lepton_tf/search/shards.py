"""Search shards as separate servers: `lepton-tf serve --search-shard N`.

A shard server hosts `search_shard`: shard N of each sharded index version
under `--search_index`, searched by query *vector* (signature
`search_vectors`: `embedding` float32 `[B, D]`, `k` int32 scalar ->
`doc_ids`, `texts`, `titles` `[B, k]` strings, `scores` float32). The front
server (`--search-shards HOST:PORT,...`, in shard order) embeds the queries
once, calls every shard over gRPC Predict (the same TF Serving protos) in
parallel through `RemoteShard`, and merges the top-k (`ShardedIndex`).

BM25, hybrid and filters (`index.sharded_hybrid`) use two more signatures:
- `candidates`: `embedding` `[B, D]`, `query` `[B]` strings, `k`, `pool`,
  `signals` int32, `mode`, `filter` strings -> for each of `dense`,
  `lexical`, `fill`: `<part>_doc_ids` `[B, n]` strings (padded with ""),
  `<part>_dense` and `<part>_bm25` float32 `[B, n]`, `<part>_count` int32
  `[B]`: the shard's candidates with both exact scores, which the front
  pools and fuses; and `signal_cosines` float32 `[B, n]`, `signal_count`
  int32 `[B]`: the shard's best `signals` cosines over what the caller may
  read, from the same pass, which the front merges for the not-found rule
  (one scatter a query);
- `documents`: `doc_ids` `[N]` -> `texts`, `titles`, `metadata` (JSON) `[N]`:
  the final hits' documents only (not every candidate's text);
- `term_statistics`: `query` `[B]`, `filter` -> `statistics` (JSON scalar):
  the BM25 statistics (`index.permitted_bm25_exact.PermittedStatistics`) of
  the shard's passages the filter's permission leaves, for the queries'
  tokens. The front sums every shard's and asks `candidates_with_statistics`
  (the `candidates` inputs and that `statistics`): every shard then scores
  BM25 as one index of the caller's permitted passages alone would;
- `info`: no inputs -> `fusion` (the shard manifest's `FusionConfig` as
  JSON) and `not_found` (the version's `not_found.json`, "" when it has
  none) scalar strings: the front fuses with shard 0's weight and refuses
  shards that disagree (`ShardedIndex`), so a self-tuned index fuses on the
  front as it does in one process.
"""

from __future__ import annotations

import collections
import json
import os
import threading

import numpy as np

from lepton_tf.contracts.search import metadata_bytes, metadata_from_bytes
from lepton_tf.index import not_found_rule
from lepton_tf.index.documents import Document
from lepton_tf.index.filters import READERS_FIELD, FilterError, matches, parse_filter
from lepton_tf.index.permitted_bm25_exact import PermittedStatistics
from lepton_tf.index.permissions import permitted_filter, shown_metadata
from lepton_tf.index.fusion import FusionConfig
from lepton_tf.index.sharded_hybrid import local_statistics, shard_candidates
from lepton_tf.index.sharded_storage import shard_name
from lepton_tf.index.storage import list_index_versions, load_index
from lepton_tf.search.shard_tensors import (PARTS, SIGNAL_COSINES, SIGNAL_COUNT, filter_text,
                                            pack_candidates, scalar_text, unpack_candidates)
from lepton_tf.server import identity
from lepton_tf.server.servable import Servable, Signature, TensorSpec

MODEL = "search_shard"
SIGNATURE = "search_vectors"
CANDIDATES = "candidates"
DOCUMENTS = "documents"
INFO = "info"
TERM_STATISTICS = "term_statistics"
CANDIDATES_WITH_STATISTICS = "candidates_with_statistics"
_STRING = ("string", (None,))
_CANDIDATE_OUTPUTS = {f"{part}_{name}": TensorSpec(f"{part}_{name}", dtype, shape)
                      for part in PARTS
                      for name, dtype, shape in (("doc_ids", "string", (None, None)),
                                                 ("dense", "float32", (None, None)),
                                                 ("bm25", "float32", (None, None)),
                                                 ("count", "int32", (None,)))}
_CANDIDATE_OUTPUTS[SIGNAL_COSINES] = TensorSpec(SIGNAL_COSINES, "float32", (None, None))
_CANDIDATE_OUTPUTS[SIGNAL_COUNT] = TensorSpec(SIGNAL_COUNT, "int32", (None,))
MAX_K = 1000
_OUTPUTS = {"doc_ids": TensorSpec("doc_ids", "string", (None, None)),
            "scores": TensorSpec("scores", "float32", (None, None)),
            "texts": TensorSpec("texts", "string", (None, None)),
            "titles": TensorSpec("titles", "string", (None, None))}


class SearchShardServable(Servable):
    """One shard of a sharded index version, searched by query vectors.

    Args:
        shard_dir: the shard's folder (`<base>/<version>/shard-NNNNN`).
        version: the index version it belongs to.
        name: the model name the front calls.
    """

    def __init__(self, shard_dir: str, version: int, name: str = MODEL):
        self.index = load_index(shard_dir)
        self.name, self.version, self.path = name, version, shard_dir
        spec = {"embedding": TensorSpec("embedding", "float32", (None, self.index.dimension)),
                "k": TensorSpec("k", "int32", ())}
        candidates = dict(spec, query=TensorSpec("query", *_STRING),
                          pool=TensorSpec("pool", "int32", ()),
                          signals=TensorSpec("signals", "int32", ()),
                          mode=TensorSpec("mode", "string", ()),
                          filter=TensorSpec("filter", "string", ()))
        self._signatures = {
            "serving_default": Signature(spec, _OUTPUTS), SIGNATURE: Signature(spec, _OUTPUTS),
            CANDIDATES: Signature(candidates, _CANDIDATE_OUTPUTS),
            CANDIDATES_WITH_STATISTICS: Signature(
                dict(candidates, statistics=TensorSpec("statistics", "string", ())),
                _CANDIDATE_OUTPUTS),
            TERM_STATISTICS: Signature(
                {"query": TensorSpec("query", *_STRING),
                 "filter": TensorSpec("filter", "string", ())},
                {"statistics": TensorSpec("statistics", "string", ())}),
            DOCUMENTS: Signature({"doc_ids": TensorSpec("doc_ids", *_STRING)},
                                 {name: TensorSpec(name, *_STRING)
                                  for name in ("texts", "titles", "metadata")}),
            INFO: Signature({}, {name: TensorSpec(name, "string", ())
                                 for name in ("fusion", "not_found")})}

    @property
    def signatures(self) -> dict[str, Signature]:
        return self._signatures

    def run(self, signature_name: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if signature_name in (CANDIDATES, CANDIDATES_WITH_STATISTICS):
            return self._candidates(inputs)
        if signature_name == TERM_STATISTICS:
            return self._term_statistics(inputs)
        if signature_name == DOCUMENTS:
            return self._documents(inputs)
        if signature_name == INFO:
            return self._info()
        k = int(np.asarray(inputs["k"]).reshape(()))
        if not 1 <= k <= MAX_K:
            raise ValueError(f"k must be in [1, {MAX_K}], got {k}.")
        vectors = np.asarray(inputs["embedding"], dtype=np.float32)
        readers = identity.current().readers()
        if readers is None:
            ids, scores = self.index.search_batched(vectors, k)
        else:  # a caller with document permissions: exact over what it may read
            hits = self.index.hybrid_search(vectors, [""] * len(vectors), k, "dense",
                                            {READERS_FIELD: readers})
            width = max(len(h.doc_ids) for h in hits) if hits else 0
            ids = [h.doc_ids for h in hits]
            scores = np.zeros((len(hits), width), np.float32)
            for row, h in enumerate(hits):
                scores[row, :len(h.doc_ids)] = h.scores
            if any(len(h.doc_ids) != width for h in hits):
                raise ValueError("Fewer permitted passages than k for some queries; ask "
                                 "`search` (it pads) or a smaller k.")
        docs = [[self.index.documents[i] for i in row] for row in ids]
        return {"doc_ids": np.array([[d.doc_id.encode() for d in row] for row in docs], object)
                .reshape(len(docs), -1),
                "texts": np.array([[d.text.encode() for d in row] for row in docs], object)
                .reshape(len(docs), -1),
                "titles": np.array([[d.title.encode() for d in row] for row in docs], object)
                .reshape(len(docs), -1),
                "scores": np.asarray(scores, np.float32).reshape(len(docs), -1)}


    def _candidates(self, inputs) -> dict[str, np.ndarray]:
        k, pool, signals = (int(np.asarray(inputs[n]).reshape(()))
                            for n in ("k", "pool", "signals"))
        if not 1 <= k <= pool <= 10 * MAX_K:
            raise ValueError(f"Need 1 <= k <= pool <= {10 * MAX_K}, got k={k}, pool={pool}.")
        if not 0 <= signals <= MAX_K:
            raise ValueError(f"signals must be in [0, {MAX_K}], got {signals}.")
        texts = [t.decode("utf-8") for t in np.asarray(inputs["query"]).reshape(-1)]
        mode, filter = (scalar_text(inputs[n]) for n in ("mode", "filter"))
        filter = _permitted(filter)
        stats = None
        if "statistics" in inputs:  # every shard's permitted passages' (the front sums them)
            try:
                stats = PermittedStatistics.from_dict(json.loads(
                    scalar_text(inputs["statistics"])))
            except (ValueError, TypeError) as e:
                raise ValueError(f"statistics: {e}") from None
        found = shard_candidates(self.index, np.asarray(inputs["embedding"], np.float32), texts,
                                 k, pool, mode, filter, stats, signals=signals)
        return pack_candidates(found)

    def _term_statistics(self, inputs) -> dict[str, np.ndarray]:
        texts = [t.decode("utf-8") for t in np.asarray(inputs["query"]).reshape(-1)]
        parsed = parse_filter(_permitted(scalar_text(inputs["filter"])))
        stats = local_statistics(self.index, texts, parsed) if READERS_FIELD in parsed \
            else PermittedStatistics()
        return {"statistics": np.array(json.dumps(stats.to_dict()).encode(), object)}

    def _info(self) -> dict[str, np.ndarray]:
        rule = os.path.join(os.path.dirname(os.path.normpath(self.path)), not_found_rule.FILE_NAME)
        text = ""
        if os.path.exists(rule):
            with open(rule, encoding="utf-8") as f:
                text = f.read()
        return {"fusion": np.array(json.dumps(self.index.fusion.to_dict(), sort_keys=True)
                                   .encode(), object),
                "not_found": np.array(text.encode("utf-8"), object)}

    def _documents(self, inputs) -> dict[str, np.ndarray]:
        readers = identity.current().readers()
        permission = None if readers is None else {READERS_FIELD: readers}
        docs = []
        for raw in np.asarray(inputs["doc_ids"]).reshape(-1):
            doc_id = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
            doc = self.index.documents.get(doc_id)
            # One answer for a missing and an unreadable id: no existence oracle.
            if doc is None or (permission is not None and not matches(doc, permission)):
                raise ValueError(f"No document {doc_id[:100]!r} in this shard.")
            docs.append(doc)
        return {"texts": np.array([d.text.encode() for d in docs], object),
                "titles": np.array([d.title.encode() for d in docs], object),
                "metadata": np.array([metadata_bytes(shown_metadata(d.metadata))
                                      for d in docs], object)}


def _permitted(filter: str):
    """The filter with the caller's permission (a front passes its caller's in
    `$readers`; a restricted direct caller cannot lift its own)."""
    try:
        return permitted_filter(filter, identity.current().readers())
    except FilterError as e:
        raise ValueError(str(e)) from None


def shard_source(index_dir: str, shard: int):
    """`(lister, loader)` for `register_polled_python_servable`: shard `shard`
    of every sharded version under `index_dir`, so a new version published
    by `lepton-tf index --runner ...` is picked up by every shard server."""
    def lister() -> dict[int, str]:
        return {v: os.path.join(index_dir, str(v), shard_name(shard))
                for v in list_index_versions(index_dir)
                if os.path.isdir(os.path.join(index_dir, str(v), shard_name(shard)))}

    def loader(server, path: str, version: int):
        return SearchShardServable(path, version)
    return lister, loader


class _DocumentCache(collections.abc.Mapping):
    """Documents a remote shard returned lately (bounded, thread-safe): the
    front reads each hit's text right after the search that returned it."""

    def __init__(self, size: int = 100_000):
        self._docs: collections.OrderedDict = collections.OrderedDict()
        self._size, self._lock = size, threading.Lock()

    def add(self, documents) -> None:
        with self._lock:
            for d in documents:
                self._docs[d.doc_id] = d
                self._docs.move_to_end(d.doc_id)
            while len(self._docs) > self._size:
                self._docs.popitem(last=False)

    def __getitem__(self, doc_id):
        with self._lock:
            return self._docs[doc_id]

    def __iter__(self):
        return iter(list(self._docs))

    def __len__(self) -> int:
        return len(self._docs)


class RemoteShard:
    """A shard on another server, with `SearchIndex`'s `search_batched`.

    Args:
        target: the shard server's `HOST:PORT` (a headless Service name with
            `dns:///` resolves to every pod; see serving/kubernetes).
        model: its model name.
        client_options: `PredictClient` options (timeout_s, TLS, token).
    """

    def __init__(self, target: str, model: str = MODEL, **client_options):
        from lepton_tf.client.base import PredictClient

        self.target, self.model = target, model
        self.client = PredictClient(target, **client_options)
        self.documents = _DocumentCache()
        self._dimension: int | None = None
        self._info: dict | None = None

    @property
    def dimension(self) -> int:
        """The shard's embedding size, read once from `GetModelMetadata`."""
        if self._dimension is None:
            from tensorflow_serving.apis import get_model_metadata_pb2

            request = get_model_metadata_pb2.GetModelMetadataRequest()
            request.model_spec.name = self.model
            request.metadata_field.append("signature_def")
            response = self.client.call("GetModelMetadata", request)
            defs = get_model_metadata_pb2.SignatureDefMap()
            response.metadata["signature_def"].Unpack(defs)
            shape = defs.signature_def[SIGNATURE].inputs["embedding"].tensor_shape
            self._dimension = int(shape.dim[1].size)
        return self._dimension

    def _read_info(self) -> dict:
        if self._info is None:
            out = self.client.predict(self.model, {}, signature_name=INFO)
            rule = np.asarray(out["not_found"]).reshape(()).item().decode("utf-8")
            self._info = {"fusion": FusionConfig.from_dict(json.loads(
                np.asarray(out["fusion"]).reshape(()).item().decode("utf-8"))),
                "not_found_rule": not_found_rule.NotFoundRule.from_dict(json.loads(rule))
                if rule else None}
        return self._info

    @property
    def fusion(self) -> FusionConfig:
        """The shard index's fusion config (its manifest's), read once (`info`)."""
        return self._read_info()["fusion"]

    @property
    def not_found_rule(self):
        """The shard's version's `NotFoundRule`, None when it has none (`info`)."""
        return self._read_info()["not_found_rule"]

    def search_batched(self, queries, k: int, parallel: bool = True):
        """Top-k of this shard: `(id lists, scores [B, k])`; caches the hits' documents."""
        out = self.client.predict(self.model, {"embedding": np.asarray(queries, np.float32),
                                               "k": np.int32(k)}, signature_name=SIGNATURE)
        ids = []
        for id_row, text_row, title_row in zip(out["doc_ids"], out["texts"], out["titles"]):
            row = [Document(i.decode(), t.decode(), title.decode())
                   for i, t, title in zip(id_row, text_row, title_row)]
            self.documents.add(row)
            ids.append([d.doc_id for d in row])
        return ids, np.asarray(out["scores"], np.float32)

    def candidates(self, queries, texts, k: int, pool: int, mode: str, filter=None,
                   signals: int = 0, statistics: PermittedStatistics | None = None):
        """This shard's `Candidates` for each query (`index.sharded_hybrid`), with
        its best `signals` cosines over what the caller may read; with
        `statistics`, BM25 scored with them (every shard's permitted passages')."""
        inputs = {"embedding": np.asarray(queries, np.float32),
                  "query": np.array([t.encode("utf-8") for t in texts], object),
                  "k": np.int32(k), "pool": np.int32(pool), "signals": np.int32(signals),
                  "mode": np.array(mode.encode(), object),
                  "filter": np.array(filter_text(filter).encode("utf-8"), object)}
        signature = CANDIDATES
        if statistics is not None:
            inputs["statistics"] = np.array(json.dumps(statistics.to_dict()).encode(), object)
            signature = CANDIDATES_WITH_STATISTICS
        return unpack_candidates(self.client.predict(self.model, inputs,
                                                     signature_name=signature))

    def term_statistics(self, texts, filter) -> PermittedStatistics:
        """The BM25 statistics of this shard's passages the filter's permission
        leaves, for the tokens of `texts`."""
        out = self.client.predict(self.model, {
            "query": np.array([t.encode("utf-8") for t in texts], object),
            "filter": np.array(filter_text(filter).encode("utf-8"), object)},
            signature_name=TERM_STATISTICS)
        return PermittedStatistics.from_dict(json.loads(scalar_text(out["statistics"])))

    def fetch_documents(self, doc_ids) -> None:
        """Reads these hits' documents (text, title, metadata) into `documents`."""
        doc_ids = list(doc_ids)
        out = self.client.predict(self.model, {"doc_ids": np.array(
            [d.encode("utf-8") for d in doc_ids], object)}, signature_name=DOCUMENTS)
        self.documents.add(Document(d, t.decode(), title.decode(), metadata_from_bytes(m))
                           for d, t, title, m in zip(doc_ids, out["texts"], out["titles"],
                                                     out["metadata"]))
