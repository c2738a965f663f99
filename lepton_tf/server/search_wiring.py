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

ENCODER_MODEL = "encoder"
QUERY_SIGNATURE = "encode_query"
TEXT_INPUT = "text"
EMBEDDING_OUTPUT = "embedding"


def local_embedder(manager, model: str = ENCODER_MODEL,
                   signature: str = QUERY_SIGNATURE) -> Callable[[list], np.ndarray]:
    """`embed_queries` calling the encoder servable of this server in process."""
    from lepton_tf.server import inference

    def embed(texts: list) -> np.ndarray:
        batch = np.empty(len(texts), dtype=object)
        batch[:] = list(texts)
        with manager.servable(model) as servable:
            _, outputs = inference.predict_arrays(servable, signature, {TEXT_INPUT: batch},
                                                  [EMBEDDING_OUTPUT])
        return np.asarray(outputs[EMBEDDING_OUTPUT], dtype=np.float32)
    return embed


def remote_embedder(target: str, model: str = ENCODER_MODEL, signature: str = QUERY_SIGNATURE,
                    timeout_s: float = 10.0, **client_options) -> Callable[[list], np.ndarray]:
    """`embed_queries` asking a TF Serving at `target` (HOST:PORT) over gRPC.

    Args:
        client_options: `UpstreamPredict` options (TLS, token).
    """
    from lepton_tf.server.upstream import UpstreamPredict

    client = UpstreamPredict(target, timeout_s=timeout_s, **client_options)

    def embed(texts: list) -> np.ndarray:
        outputs = client.predict(model, {TEXT_INPUT: np.array(list(texts), dtype=object)},
                                 signature_name=signature, output_filter=[EMBEDDING_OUTPUT])
        return np.asarray(outputs[EMBEDDING_OUTPUT], dtype=np.float32)
    return embed


def search_factory(index_dir: str, remote: str | None = None, **client_options):
    """A `register_python_servable` factory building the ScaNN `SearchServable`.

    The index module is imported only here, when `--search_index` is given.
    """
    def build(server):
        from lepton_tf.server.search_servable import SearchServable

        embed = remote_embedder(remote, **client_options) if remote else \
            local_embedder(server.manager)
        return SearchServable(index_dir, embed)
    return build


def search_index_source(index_dir: str, remote: str | None = None, **client_options):
    """`(lister, loader)` for `ModelServer.register_polled_python_servable`.

    Every index version under `index_dir` (or just `index_dir` when it is a
    version folder) is a version of `search`: a new one written by `lepton-tf
    index` is loaded and served without a restart, the old one unloaded.
    """
    embedders: dict = {}  # one embedder (one gRPC channel) shared by all versions

    def lister() -> dict[int, str]:
        from lepton_tf.server.search_servable import SearchServable

        if os.path.exists(os.path.join(index_dir, "manifest.json")):
            return {int(os.path.basename(os.path.normpath(index_dir))): index_dir}
        return {v: os.path.join(index_dir, str(v))
                for v in SearchServable.available_versions(index_dir)}

    def loader(server, path: str, version: int):
        from lepton_tf.server.search_servable import SearchServable

        if "embed" not in embedders:
            embedders["embed"] = remote_embedder(remote, **client_options) if remote else \
                local_embedder(server.manager)
        return SearchServable(path, embedders["embed"])
    return lister, loader
