"""One file -> its passages: the pure per-file API (Beam reuses it)."""

from __future__ import annotations

import os
from collections.abc import Iterator

from lepton_tf.ingest.chunker import Chunker
from lepton_tf.ingest.parsers import file_format, parse_bytes, parse_file
from lepton_tf.ingest.passage import ChunkConfig, Passage


def iter_passages(path: str, config: ChunkConfig | None = None, *, relpath: str | None = None,
                  chunker: Chunker | None = None, data: bytes | None = None
                  ) -> Iterator[Passage]:
    """The passages of one file, read, parsed and chunked.

    A pure function of the file's bytes, its relpath and `config`: no global
    state, so it runs as is in a Beam `DoFn` (build one `Chunker` in
    `setup()` and pass it, to load the vocabulary once per worker).

    Args:
        path: the file.
        config: chunking settings (default `ChunkConfig()`: 200 tokens,
            40 overlap); ignored when `chunker` is given.
        relpath: the name ids and `metadata["source"]` use (default: the
            file name); pass the path relative to the corpus folder.
        chunker: a `Chunker` to reuse.
        data: the file's bytes, when already read (e.g. from GCS).

    Yields:
        `Passage`s with ids `<relpath>#<n>`.

    Raises:
        ParseError: naming the file, when it cannot be read or parsed.

    Example:

    ```python
    for passage in iter_passages("docs/guide.md", relpath="guide.md"):
        print(passage.doc_id, passage.title, passage.metadata["start"])
    ```
    """
    name = relpath or os.path.basename(path)
    sections = parse_bytes(data, name) if data is not None else parse_file(path, name)
    chunker = chunker or Chunker(config)
    yield from chunker.chunk(sections, name, file_format(name))
