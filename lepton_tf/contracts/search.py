"""The `search` servable: signatures, tensor names, modes, and its outputs
packed into tensors and read back into hits.

Signatures (all answer the same outputs):

- `serving_default`: `query` string `[B]`; hybrid, the index's default k.
- `search`: also `k` (int32 scalar).
- `search_options`: also `mode` (string scalar, one of `MODES`) and
  `filter` (string scalar, JSON `{field: value or [values]}`; `""` for none).

Outputs `[B, k]`: `doc_ids`, `texts`, `titles`, `metadata` (a JSON object
as UTF-8 text; `questions` in it lists the questions the passage's document
is known to answer, when it lists some) strings; `scores`, `dense_score`, `bm25_score` float32; and
`not_found` bool `[B]`. A row with fewer hits than the widest is padded with
`doc_ids` `""` and scores 0; `unpack_hits` drops the padding.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Sequence

import numpy as np

MODEL = "search"
DEFAULT_SIGNATURE = "serving_default"
K_SIGNATURE = "search"
OPTIONS_SIGNATURE = "search_options"
SIGNATURES = (DEFAULT_SIGNATURE, K_SIGNATURE, OPTIONS_SIGNATURE)

QUERY = "query"
K = "k"
MODE = "mode"
FILTER = "filter"

DOC_IDS = "doc_ids"
SCORES = "scores"
TEXTS = "texts"
TITLES = "titles"
METADATA = "metadata"
DENSE_SCORE = "dense_score"
BM25_SCORE = "bm25_score"
NOT_FOUND = "not_found"
KNOWN_QUESTIONS = "questions"  # the metadata key of a hit's known questions
STRING_OUTPUTS = (DOC_IDS, TEXTS, TITLES, METADATA)
SCORE_OUTPUTS = (SCORES, DENSE_SCORE, BM25_SCORE)

MODES = ("dense", "bm25", "hybrid")
DEFAULT_MODE = "hybrid"


def check_mode(mode: str) -> str:
    """`mode` when it is a search mode.

    Raises:
        ValueError: naming the modes.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}.")
    return mode


@dataclasses.dataclass(frozen=True)
class SearchHit:
    """One hit.

    Attributes:
        doc_id / title / text: the passage.
        score: the mode's score (fused in `hybrid`, cosine in `dense`, BM25
            in `bm25`).
        metadata: the passage's metadata (source file, page, ...).
        dense_score / bm25_score: the two retrievers' own scores (None
            when the server does not return them).
    """

    doc_id: str
    score: float
    title: str
    text: str
    metadata: dict = dataclasses.field(default_factory=dict)
    dense_score: float | None = None
    bm25_score: float | None = None

    @property
    def known_questions(self) -> tuple[str, ...]:
        """The questions the passage's document is known to answer (a FAQ's
        phrasings; none for a folder's passages)."""
        return tuple(self.metadata.get(KNOWN_QUESTIONS) or ())

    @property
    def source(self) -> str:
        """Where the passage comes from (`file`, `file p. 3`, `file > Section`)."""
        m = self.metadata
        where = m.get("source", "")
        if "page" in m:
            where += f" p. {m['page']}"
        if m.get("section") and m.get("section") != m.get("record"):
            where += f" > {m['section']}"
        return where


def metadata_bytes(metadata: dict) -> bytes:
    """A passage's metadata as the `metadata` tensor holds it (JSON, UTF-8)."""
    return json.dumps(metadata, ensure_ascii=False, sort_keys=True).encode()


def metadata_from_bytes(raw: bytes | None) -> dict:
    """The metadata dict of one `metadata` element (`{}` for none)."""
    return json.loads(raw.decode("utf-8", "replace")) if raw else {}


def filter_text(filter: dict | str | None) -> str:
    """The `filter` input for a filter given as a dict, its JSON text or None."""
    if filter is None:
        return ""
    return filter if isinstance(filter, str) else json.dumps(filter, ensure_ascii=False)


def pack_outputs(rows: Sequence[Sequence[SearchHit]],
                 not_found: Sequence[bool] | None = None) -> dict[str, np.ndarray]:
    """The output tensors of a batch of queries' hits.

    Args:
        rows: each query's hits, best first.
        not_found: each query's not-found flag (None: every query flagged);
            a query without hits is flagged whatever its flag.

    Returns:
        `{output name: array}`, `[B, widest row]` (`[B]` for `not_found`).
    """
    count, width = len(rows), max((len(r) for r in rows), default=0)
    out = {name: np.full((count, width), b"", object) for name in STRING_OUTPUTS}
    out.update({name: np.zeros((count, width), np.float32) for name in SCORE_OUTPUTS})
    for i, hits in enumerate(rows):
        n = len(hits)
        out[DOC_IDS][i, :n] = [h.doc_id.encode() for h in hits]
        out[TEXTS][i, :n] = [h.text.encode() for h in hits]
        out[TITLES][i, :n] = [h.title.encode() for h in hits]
        out[METADATA][i, :n] = [metadata_bytes(h.metadata) for h in hits]
        out[SCORES][i, :n] = [h.score for h in hits]
        out[DENSE_SCORE][i, :n] = [h.dense_score or 0.0 for h in hits]
        out[BM25_SCORE][i, :n] = [h.bm25_score or 0.0 for h in hits]
    flags = np.ones(count, bool) if not_found is None else not_found
    out[NOT_FOUND] = np.array([not len(hits) or bool(f) for hits, f in zip(rows, flags)], bool)
    return out


def _decode(raw) -> str:
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)


def unpack_hits(outputs: dict) -> list[list[SearchHit]]:
    """Each query's hits from `search` outputs, padding dropped.

    Outputs the caller did not ask for are left at their defaults (`""`,
    `{}`, None).
    """
    hits = []
    for row, doc_ids in enumerate(outputs[DOC_IDS]):
        def get(name, j):
            return outputs[name][row][j] if name in outputs else None

        found = []
        for j, doc_id in enumerate(doc_ids):
            if not doc_id:
                continue  # padding: fewer passages matched than the widest row
            dense, bm25 = get(DENSE_SCORE, j), get(BM25_SCORE, j)
            found.append(SearchHit(
                _decode(doc_id), float(outputs[SCORES][row][j]), _decode(get(TITLES, j) or b""),
                _decode(get(TEXTS, j) or b""), metadata_from_bytes(get(METADATA, j)),
                None if dense is None else float(dense), None if bm25 is None else float(bm25)))
        hits.append(found)
    return hits


def unpack_not_found(outputs: dict) -> list[bool] | None:
    """Each query's not-found flag (None when the outputs have none)."""
    if NOT_FOUND not in outputs:
        return None
    return [bool(f) for f in np.asarray(outputs[NOT_FOUND]).reshape(-1)]
