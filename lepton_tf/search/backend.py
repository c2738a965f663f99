"""What the `search` servable needs of an index: `SearchBackend`.

Both index kinds satisfy it: one `SearchIndex` (a version folder), and a
`ShardedIndex` (a sharded version on disk, or shards on other servers),
which answers every mode and filter as one unsharded index would.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, runtime_checkable

import numpy as np

from lepton_tf.index.documents import Document
from lepton_tf.index.hybrid import Hits
from lepton_tf.index.known_questions import KnownQuestions
from lepton_tf.index.not_found_rule import NotFoundRule
from lepton_tf.index.search_index import EncoderInfo


@runtime_checkable
class SearchBackend(Protocol):
    """An index the `search` servable answers from.

    Attributes:
        documents: doc id -> `Document` (a sharded index's: the hits fetched so far).
        config: its settings; `config.k` is the default number of hits.
        encoder: the encoder that embedded its passages.
        lexical: truthy when it has BM25 (None: dense search only).
        known_questions: its documents' embedded known questions (None: none).
        not_found_rule: the rule it carries (a sharded index: its shards'),
            None when the rule is read from the version folder.
        sharded: whether it answers by scatter-gather over shards: no shard
            holds the whole corpus's BM25, and remote shards do not report
            their size.
    """

    documents: Mapping[str, Document]
    encoder: EncoderInfo
    known_questions: KnownQuestions | None
    not_found_rule: NotFoundRule | None
    sharded: bool

    @property
    def config(self): ...

    @property
    def lexical(self): ...

    def __len__(self) -> int: ...

    def hybrid_search(self, queries: np.ndarray, texts: list[str], k: int | None = None,
                      mode: str = "hybrid", filter=None, fusion=None,
                      signals: int = 0) -> list[Hits]:
        """Each query's top-k `Hits`; with `signals`, their not-found signals."""

    def close(self) -> None:
        """Releases what it holds (threads, channels)."""
