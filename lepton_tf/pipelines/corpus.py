"""The documents a pipeline indexes, read by the same code as the in-process build.

A corpus is split into *sources* that workers read in parallel:
- a folder of files (`.md .txt .html .pdf .jsonl .csv`): one source a file,
  read and chunked by `lepton_tf.ingest.iter_passages` (what
  `lepton-tf index --corpus DIR` runs in process), one `Chunker` a worker;
- a BEIR folder or a JSONL file: one source, read by
  `lepton_tf.index.build.read_corpus` (the in-process reader).

Each document comes with a *position* `(source number, n)`, so shards keep
corpus order whatever order the workers finish in.

A corpus on an object store (`gs://`, `s3://`) is listed and read through
Beam's `FileSystems` (`pipelines.filesystems`): a folder's files are read as
bytes (`iter_passages(data=...)`), a JSONL file copied to the worker's temp
folder and read there.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from typing import Iterator

from lepton_tf.index.documents import Document
from lepton_tf.index.permissions import readers_of_document


def list_sources(corpus: str) -> list[tuple[int, str, str | None]]:
    """`(source number, corpus, relpath or None)` for every source of `corpus`.

    Raises:
        FileNotFoundError: no corpus there.
    """
    from lepton_tf.index.build import is_file_folder
    from lepton_tf.pipelines import filesystems

    if not filesystems.is_local(corpus):
        return remote_sources(corpus)
    if not os.path.exists(corpus):
        raise FileNotFoundError(f"No corpus at {corpus}.")
    if is_file_folder(corpus):
        from lepton_tf.ingest import scan_folder

        return [(i, corpus, rel) for i, (rel, _) in enumerate(scan_folder(corpus))]
    return [(0, corpus, None)]


def remote_sources(corpus: str) -> list[tuple[int, str, str | None]]:
    """`list_sources` of a corpus on an object store: a BEIR folder (its
    `corpus.jsonl[.gz]`), a JSONL file, or a folder of files.

    Raises:
        FileNotFoundError: nothing there.
    """
    from lepton_tf.ingest.parsers import SUPPORTED
    from lepton_tf.pipelines import filesystems

    for name in ("corpus.jsonl", "corpus.jsonl.gz"):
        if filesystems.exists(filesystems.join(corpus, name)):
            return [(0, filesystems.join(corpus, name), None)]
    files = [rel for rel in filesystems.list_files(corpus)
             if not any(p.startswith(".") for p in rel.split("/"))
             and rel.lower().endswith(SUPPORTED)]
    if files:
        return [(i, corpus, rel) for i, rel in enumerate(files)]
    if filesystems.exists(corpus):
        return [(0, corpus, None)]
    raise FileNotFoundError(f"No corpus at {corpus}.")


class ReadSource:
    """`(source number, corpus, relpath)` -> `((source, n), Document)` items.

    A callable for `beam.FlatMap`; the ingest `Chunker` (its WordPiece
    vocabulary) is built once per worker, on first use.

    Args:
        config: an ingest `ChunkConfig` for folders of files (default
            200 tokens, 40 overlap, as `lepton-tf index`).

    Raises:
        lepton_tf.ingest.ParseError: a file that cannot be parsed (the whole
            pipeline fails and publishes nothing, like `--strict`).
        lepton_tf.index.IndexFormatError: a bad JSONL record.
    """

    def __init__(self, config=None, acl=None):
        self.config, self.acl = config, acl  # acl: `index.permissions.AclRules` or None
        self._chunker = None

    def __call__(self, source) -> Iterator[tuple[tuple[int, int], Document]]:
        from lepton_tf.pipelines import filesystems

        number, corpus, rel = source
        local = filesystems.is_local(corpus)
        if rel is None:
            from lepton_tf.index.build import read_corpus

            with tempfile.TemporaryDirectory(prefix="lepton-corpus-") as tmp:
                path = corpus if local else filesystems.local_copy(corpus, tmp)
                docs = read_corpus(path)
            for n, doc in enumerate(docs):
                yield (number, n), doc  # records carry their own readers
            return
        from lepton_tf.ingest import Chunker, iter_passages

        if self._chunker is None:
            self._chunker = Chunker(self.config)
        path = os.path.join(corpus, *rel.split("/")) if local else filesystems.join(corpus, rel)
        data = None if local else filesystems.read_bytes(path)
        for n, p in enumerate(iter_passages(path, relpath=rel, chunker=self._chunker,
                                            data=data)):
            doc = Document.of_passage(p)
            yield (number, n), dataclasses.replace(doc, readers=readers_of_document(doc,
                                                                                    self.acl))

    def __getstate__(self):  # the chunker is rebuilt on each worker
        return {"config": self.config, "acl": self.acl, "_chunker": None}
