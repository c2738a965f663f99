"""The `search_shard` servable's candidate tensors, both ways (`shards`): a
shard packs its `Candidates` into the `candidates` signature's outputs, the
front unpacks them; and the scalar strings both sides pass."""

from __future__ import annotations

import json

import numpy as np

from lepton_tf.index.sharded_hybrid import Candidates, Part

PARTS = ("dense", "lexical", "fill")
SIGNAL_COSINES, SIGNAL_COUNT = "signal_cosines", "signal_count"


def scalar_text(tensor) -> str:
    """A scalar string tensor as text."""
    value = np.asarray(tensor).reshape(()).item()
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def filter_text(filter) -> str:
    """A filter (a dict, JSON text or bytes, None) as JSON text."""
    if filter is not None and not isinstance(filter, (str, bytes)):
        filter = json.dumps(filter)
    return filter.decode("utf-8") if isinstance(filter, bytes) else (filter or "")


def pack_candidates(found: list[Candidates]) -> dict[str, np.ndarray]:
    """`Candidates` of each query -> the `candidates` signature's tensors."""
    out = {}
    for part in PARTS:
        parts = [getattr(c, part) for c in found]
        width = max([len(p.doc_ids) for p in parts] + [0])
        ids = np.full((len(parts), width), b"", object)
        dense, bm25 = (np.zeros((len(parts), width), np.float32) for _ in range(2))
        for i, p in enumerate(parts):
            n = len(p.doc_ids)
            ids[i, :n] = [d.encode() for d in p.doc_ids]
            dense[i, :n], bm25[i, :n] = p.dense, p.bm25
        out.update({f"{part}_doc_ids": ids, f"{part}_dense": dense, f"{part}_bm25": bm25,
                    f"{part}_count": np.asarray([len(p.doc_ids) for p in parts], np.int32)})
    counts = [len(c.top_cosines) for c in found]
    cosines = np.zeros((len(found), max(counts + [0])), np.float32)
    for i, c in enumerate(found):
        cosines[i, :counts[i]] = c.top_cosines
    out.update({SIGNAL_COSINES: cosines, SIGNAL_COUNT: np.asarray(counts, np.int32)})
    return out


def unpack_candidates(out: dict[str, np.ndarray]) -> list[Candidates]:
    """The `candidates` signature's tensors -> `Candidates` of each query."""
    counts = {part: np.asarray(out[f"{part}_count"]).reshape(-1) for part in PARTS}
    found = []
    for i in range(len(counts["dense"])):
        parts = []
        for part in PARTS:
            n = int(counts[part][i])
            ids = [d.decode("utf-8") for d in np.asarray(out[f"{part}_doc_ids"])[i, :n]] \
                if n else []
            parts.append(Part(ids, np.asarray(out[f"{part}_dense"], np.float32)[i, :n],
                              np.asarray(out[f"{part}_bm25"], np.float32)[i, :n]))
        n = int(np.asarray(out[SIGNAL_COUNT]).reshape(-1)[i])
        found.append(Candidates(*parts, top_cosines=np.asarray(out[SIGNAL_COSINES],
                                                               np.float32)[i, :n]))
    return found
