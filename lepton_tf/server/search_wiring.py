"""Hosting the `search` servable: query embeddings from the `encoder`.

In the embedded deployment the `encoder` SavedModel is in the same server,
so queries are embedded in process; with `--search-only --tf-serving
HOST:PORT` they are embedded by a remote TF Serving over gRPC Predict. Either
way `SearchServable(index_dir, embed_queries)` sees the same function.
"""

from __future__ import annotations

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
        client_options: `PredictClient` options (TLS, token, retries).
    """
    from lepton_tf.client.base import PredictClient

    client = PredictClient(target, timeout_s=timeout_s, **client_options)

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
        from lepton_tf.index.search_servable import SearchServable

        embed = remote_embedder(remote, **client_options) if remote else \
            local_embedder(server.manager)
        return SearchServable(index_dir, embed)
    return build
