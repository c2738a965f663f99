"""Hosting the `search` servable: query embeddings from the `encoder`.

In the embedded deployment the `encoder` SavedModel is in the same server,
so queries are embedded in process; with `--search-only --tf-serving
HOST:PORT` they are embedded by a remote TF Serving over gRPC Predict. Either
way `SearchServable(index_dir, embed_queries)` sees the same function.
"""

from __future__ import annotations

import os
from typing import Callable

import numpy as np

from lepton_tf.contracts.encoder import EMBEDDING, QUERY_SIGNATURE, TEXT
from lepton_tf.contracts.encoder import MODEL as ENCODER_MODEL
from lepton_tf.contracts.search import MODEL as SEARCH_MODEL



def local_embedder(manager, model: str = ENCODER_MODEL, signature: str = QUERY_SIGNATURE,
                   version: int | None = None) -> Callable[[list], np.ndarray]:
    """`embed_queries` calling the encoder servable of this server in process
    (`version`: that version; None: the latest)."""
    from lepton_tf.server import inference

    def embed(texts: list) -> np.ndarray:
        batch = np.empty(len(texts), dtype=object)
        batch[:] = list(texts)
        with manager.servable(model, version) as servable:
            _, outputs = inference.predict_arrays(servable, signature, {TEXT: batch},
                                                  [EMBEDDING])
        return np.asarray(outputs[EMBEDDING], dtype=np.float32)
    return embed


def remote_embedder(target: str, model: str = ENCODER_MODEL, signature: str = QUERY_SIGNATURE,
                    timeout_s: float = 10.0, **client_options) -> Callable[[list], np.ndarray]:
    """`embed_queries` asking a TF Serving at `target` (HOST:PORT) over gRPC.

    Args:
        client_options: `PredictClient` options (TLS, token).
    """
    from lepton_tf.client.base import PredictClient

    client = PredictClient(target, timeout_s=timeout_s, **client_options)

    def embed(texts: list) -> np.ndarray:
        outputs = client.predict(model, {TEXT: np.array(list(texts), dtype=object)},
                                 signature_name=signature, output_filter=[EMBEDDING])
        return np.asarray(outputs[EMBEDDING], dtype=np.float32)
    return embed


def paired_search(server, path: str, name: str = SEARCH_MODEL, model: str = ENCODER_MODEL):
    """A `SearchServable` over one index version, embedding queries with the
    loaded encoder version that built it, kept loaded while it serves.

    Raises:
        IndexMismatchError: no loaded encoder version built this index.
    """
    from lepton_tf.search.pairing import choose_encoder, loaded_encoders
    from lepton_tf.search.servable import SearchServable

    manager = server.manager
    encoder = choose_encoder(path, loaded_encoders(manager, model))
    if encoder is None:  # no encoder here yet: the latest, whenever it loads
        return SearchServable(path, local_embedder(manager, model), name)
    servable = SearchServable(path, local_embedder(manager, model, version=encoder.version),
                              name, expected_encoder=encoder)
    servable.encoder = encoder
    manager.pin(model, encoder.version)
    servable.on_close(lambda: manager.pin(model, encoder.version, pinned=False))
    return servable


def search_factory(index_dir: str, remote: str | None = None, **client_options):
    """A `register_python_servable` factory building the `SearchServable`.

    The index module is imported only here, when `--search_index` is given.
    """
    def build(server):
        from lepton_tf.search.servable import SearchServable

        if remote:
            return SearchServable(index_dir, remote_embedder(remote, **client_options))
        return paired_search(server, index_dir)
    return build


def search_index_source(index_dir: str, remote: str | None = None, **client_options):
    """`(lister, loader)` for `ModelServer.register_polled_python_servable`.

    Every index version under `index_dir` (or just `index_dir` when it is a
    version folder) is a version of `search`: a new one written by `lepton-tf
    index` is loaded and served without a restart, the old one unloaded. In
    process, each version is paired with the encoder version that built it
    (`search.pairing`); each poll reports in GetModelStatus when a newer
    encoder is loaded that the served index does not fit.
    """
    embedders: dict = {}  # one remote embedder (one gRPC channel) shared by all versions
    served: dict = {}     # search version -> its SearchServable (in process)
    state: dict = {}

    def report(server) -> None:
        from lepton_tf.server.errors import failed_precondition
        from lepton_tf.search.pairing import loaded_encoders, pairing_note

        available = loaded_encoders(server.manager, ENCODER_MODEL)
        for version, servable in list(served.items()):
            note = pairing_note(servable.index.encoder, servable.encoder, available)
            server.manager.set_version_error(servable.name, version,
                                             failed_precondition(note) if note else None)

    def lister() -> dict[int, str]:
        from lepton_tf.search.servable import SearchServable

        if "server" in state:
            report(state["server"])
        if os.path.exists(os.path.join(index_dir, "manifest.json")):
            return {int(os.path.basename(os.path.normpath(index_dir))): index_dir}
        return {v: os.path.join(index_dir, str(v))
                for v in SearchServable.available_versions(index_dir)}

    def loader(server, path: str, version: int):
        from lepton_tf.search.servable import SearchServable

        if remote:
            if "embed" not in embedders:
                embedders["embed"] = remote_embedder(remote, **client_options)
            return SearchServable(path, embedders["embed"])
        state["server"] = server
        servable = paired_search(server, path)
        if getattr(servable, "encoder", None) is not None:
            served[version] = servable
            servable.on_close(lambda: served.pop(version, None))
        return servable
    return lister, loader


def remote_shards_factory(targets: list[str], remote: str | None = None, k: int = 10,
                          **client_options):
    """A `register_python_servable` factory: `search` over shard servers.

    Args:
        targets: `HOST:PORT` of each `lepton-tf serve --search-shard N`, in
            shard order (lookups route by `shard_of`).
        remote: TF Serving embedding the queries (None: this server's encoder).
        k: default number of results.
        client_options: TLS options for the shard and encoder channels.
    """
    def build(server):
        from lepton_tf.index.sharded import ShardedIndex
        from lepton_tf.search.servable import SearchServable
        from lepton_tf.search.shards import RemoteShard

        embed = remote_embedder(remote, **client_options) if remote else \
            local_embedder(server.manager)
        index = ShardedIndex([RemoteShard(t, **client_options) for t in targets], k=k)
        return SearchServable(None, embed, index=index)
    return build
