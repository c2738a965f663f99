"""The document store beside an index: id, title, text, metadata."""

from __future__ import annotations

import dataclasses
import gzip
import json
import os

from lepton_tf.data.document_records import RecordError, read_records
from lepton_tf.index.errors import IndexFormatError


@dataclasses.dataclass(frozen=True)
class Document:
    """One searchable passage.

    Attributes:
        doc_id: unique id (a string; what `search` returns).
        text: the passage that is embedded and shown.
        title: optional title (embedded in front of the text).
        metadata: free-form JSON-serialisable data returned with hits.
        questions: questions this document is known to answer (a FAQ's
            alternative phrasings; `index.known_questions`): embedded apart
            from the document, they rank it and tell the not-found rule what
            users ask.
        readers: who may read it (`index.permissions`): groups, `user:NAME`
            principals, `"*"` for everyone; `()` nobody; None: the index has
            no permissions (every caller reads it).
    """

    doc_id: str
    text: str
    title: str = ""
    metadata: dict = dataclasses.field(default_factory=dict)
    questions: tuple = ()
    readers: tuple | None = None

    @classmethod
    def of_passage(cls, passage) -> "Document":
        """The document of an ingested passage (`lepton_tf.ingest.Passage`), its
        known questions included: every build path stores a folder's passages so.

        Args:
            passage: has `doc_id`, `text`, `title`, `metadata`, `questions`.

        Returns:
            A `Document` without readers (the ACL and records' own set them).
        """
        return cls(passage.doc_id, passage.text, passage.title, passage.metadata,
                   tuple(passage.questions))

    def embedding_text(self) -> str:
        """What the document tower reads: the title, then the text."""
        return f"{self.title}\n{self.text}" if self.title else self.text


def write_documents(documents, path: str) -> None:
    """Writes documents as gzipped JSONL (same bytes for the same content)."""
    with gzip.GzipFile(path, "wb", mtime=0) as f:
        for d in documents:
            record = {"_id": d.doc_id, "title": d.title, "text": d.text, "metadata": d.metadata}
            if d.questions:  # absent otherwise: a corpus without questions keeps its bytes
                record["questions"] = list(d.questions)
            if d.readers is not None:
                record["readers"] = list(d.readers)
            f.write((json.dumps(record, ensure_ascii=False) + "\n").encode())


def read_documents(path: str) -> list[Document]:
    """Reads what `write_documents` wrote (also accepts BEIR `corpus.jsonl`).

    Raises:
        IndexFormatError: naming the file and line of a bad record.
    """
    opener = gzip.open if path.endswith(".gz") else open
    documents = []
    with opener(path, "rt", encoding="utf-8") as f:
        try:
            for r in read_records(f):
                if r.record_id is None:
                    raise RecordError(r.line, "no _id.")
                documents.append(Document(r.record_id, r.text, r.title, r.metadata,
                                          r.questions, r.readers))
        except RecordError as e:
            raise IndexFormatError(f"{path}:{e.line}: bad document record ({e.reason})") \
                from None
    return documents


def check_unique(documents) -> None:
    seen = set()
    for d in documents:
        if d.doc_id in seen:
            raise ValueError(f"Duplicate document id {d.doc_id!r}: ids must be unique.")
        seen.add(d.doc_id)


def documents_path(index_dir: str) -> str:
    return os.path.join(index_dir, "documents.jsonl.gz")
