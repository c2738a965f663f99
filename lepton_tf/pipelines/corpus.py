"""The documents a pipeline indexes, read by the same code as the in-process build.

`iter_documents` is the one place the pipeline reads a corpus: it yields
`(position, Document)` so shards keep corpus order whatever order the
workers finish in. It reads BEIR folders and JSONL through
`lepton_tf.index.build.read_corpus` (the in-process reader), so both paths
index the same passages.
"""

from __future__ import annotations

from typing import Iterator

from lepton_tf.index.documents import Document


def iter_documents(path: str) -> Iterator[tuple[int, Document]]:
    """`(position, Document)` for every document of a BEIR folder or JSONL file.

    Raises:
        FileNotFoundError: no corpus there.
        lepton_tf.index.IndexFormatError: a bad record (file and line named).
    """
    from lepton_tf.index.build import read_corpus

    yield from enumerate(read_corpus(path))
