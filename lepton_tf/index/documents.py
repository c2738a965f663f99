"""The document store beside an index: id, title, text, metadata."""

from __future__ import annotations

import dataclasses
import gzip
import json
import os

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

    def embedding_text(self) -> str:
        """What the document tower reads: the title, then the text."""
        return f"{self.title}\n{self.text}" if self.title else self.text


def write_documents(documents, path: str) -> None:
    """Writes documents as gzipped JSONL (same bytes for the same content)."""
    with gzip.GzipFile(path, "wb", mtime=0) as f:
        for d in documents:
            record = {"_id": d.doc_id, "title": d.title, "text": d.text, "metadata": d.metadata}
            if d.questions:  # absent otherwise: the same bytes as before for such documents
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
        for line_no, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                r = json.loads(line)
                documents.append(Document(str(r["_id"]), r.get("text", "") or "",
                                          r.get("title", "") or "", r.get("metadata") or {},
                                          _questions(r.get("questions")),
                                          readers_of(r.get("readers"))))
            except (ValueError, KeyError, TypeError) as e:
                raise IndexFormatError(f"{path}:{line_no}: bad document record ({e}).") from None
    return documents


def check_unique(documents) -> None:
    seen = set()
    for d in documents:
        if d.doc_id in seen:
            raise ValueError(f"Duplicate document id {d.doc_id!r}: ids must be unique.")
        seen.add(d.doc_id)


def documents_path(index_dir: str) -> str:
    return os.path.join(index_dir, "documents.jsonl.gz")


def _questions(value) -> tuple:
    """A record's `questions`: a list of strings (blank ones dropped, repeats once)."""
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(q, str) for q in value):
        raise ValueError(f"questions must be a list of strings, not {value!r:.60}")
    return tuple(dict.fromkeys(q.strip() for q in value if q.strip()))


def readers_of(value) -> tuple | None:
    """A record's `readers`: a list of non-empty strings, sorted, once each (None: absent).

    Raises:
        ValueError: anything but a list of non-empty strings.
    """
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(r, str) and r.strip() for r in value):
        raise ValueError(f"readers must be a list of group or user:NAME strings, not {value!r:.60}")
    return tuple(sorted({r.strip() for r in value}))
