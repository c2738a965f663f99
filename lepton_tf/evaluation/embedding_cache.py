"""Query and document embeddings of an evaluation, cached in one `.npz` file.

Embedding 3,204 CACM abstracts with MiniLM takes minutes on a CPU; sweeping a
fusion weight or re-running a table must not pay that again. A cache file is
keyed by the encoder's identity (name, version, SavedModel fingerprint) and a
hash of the exact texts, so a changed encoder or collection never reuses
stale vectors.
"""

from __future__ import annotations

import hashlib
import os
import re

import numpy as np


def _digest(texts) -> str:
    h = hashlib.sha256()
    for t in texts:
        h.update(t.encode("utf-8"))
        h.update(b"\0")
    return h.hexdigest()[:16]


def cache_path(cache_dir: str, encoder_info, what: str, texts) -> str:
    """`<cache_dir>/<encoder>-v<version>-<fingerprint>-<what>-<texts hash>.npz`."""
    fingerprint = encoder_info.fingerprint
    # A digest of the whole fingerprint: its graph part alone is shared by
    # every export of one architecture.
    tag = hashlib.sha256(fingerprint.encode()).hexdigest()[:12] if fingerprint else "nofp"
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{encoder_info.name}-v{encoder_info.version}-"
                  f"{tag}-{what}")
    return os.path.join(cache_dir, f"{name}-{_digest(texts)}.npz")


def cached_encode(encode, texts, encoder_info, what: str, cache_dir: str | None) -> np.ndarray:
    """`encode(texts)`, read from / written to the cache when `cache_dir` is set.

    Args:
        encode: list of str -> float32 `[N, D]`.
        texts: the texts, in order.
        encoder_info: an `EncoderInfo` (name, version, fingerprint).
        what: a label for the file name (`cacm-documents`).
        cache_dir: the folder, or None for no cache.

    Returns:
        float32 `[N, D]`.
    """
    texts = list(texts)
    if not cache_dir:
        return np.asarray(encode(texts), np.float32)
    path = cache_path(cache_dir, encoder_info, what, texts)
    if os.path.exists(path):
        with np.load(path) as f:
            vectors = f["vectors"]
        if len(vectors) == len(texts):
            return vectors
    vectors = np.asarray(encode(texts), np.float32)
    os.makedirs(cache_dir, exist_ok=True)
    tmp = path + ".tmp.npz"
    np.savez(tmp, vectors=vectors)
    os.replace(tmp, path)
    return vectors


class CachedEncoder:
    """An encoder whose query and document vectors go through `cached_encode`.

    Args:
        encoder: `encode_queries`, `encode_documents` and `info`.
        cache_dir: the cache folder (None: no cache).
        tag: the file-name label of these texts (`cacm-pseudo-title-0`).
    """

    def __init__(self, encoder, cache_dir: str | None, tag: str):
        self.encoder, self.cache_dir, self.tag = encoder, cache_dir, tag
        self.info = encoder.info

    def encode_queries(self, texts):
        return cached_encode(self.encoder.encode_queries, texts, self.info,
                             self.tag + "-queries", self.cache_dir)

    def encode_documents(self, texts):
        return cached_encode(self.encoder.encode_documents, texts, self.info,
                             self.tag + "-documents", self.cache_dir)
