"""What ingestion produces: sections of a parsed file, then passages.

A parser turns one file into `Section`s (a run of text under one heading
path, on one page, or one record); the chunker cuts sections into
`Passage`s of at most `ChunkConfig.max_tokens` encoder word pieces.
"""

from __future__ import annotations

import dataclasses

from lepton_tf.ingest.reflow import map_offset

TITLE_SEPARATOR = " > "
# How parsers lay text out and where windows break; part of the chunking
# config, so an index built before hard-wrapped lines were joined into
# paragraphs, or before a stop needed a space after it, is re-chunked.
LAYOUT = "paragraphs, spaced stops"


@dataclasses.dataclass(frozen=True)
class Section:
    """A stretch of text that shares its heading path and location.

    Attributes:
        text: the text, as cut from `unit` (no rewriting, so offsets hold).
        start: character offset of `text` in its unit: the file's text for
            Markdown and plain text, the extracted visible text for HTML,
            the page's extracted text for PDF, the record's text for JSONL
            and CSV.
        headings: the heading path, outermost first (empty: none).
        page: 1-based PDF page (None for other formats).
        document: the parent document id, when a file holds several
            documents (JSONL/CSV records); None: the file itself.
        title: a title to use when there is no heading path (the record's
            title, a PDF's metadata title, an HTML `<title>`).
        metadata: extra str/int/float fields (e.g. CSV columns).
        anchors: where `text` was rewritten (paragraph lines joined,
            `ingest.reflow`): `(offset in text, offset in unit)` pairs,
            between which both advance together; empty: `text` is cut
            verbatim from `start`.
        questions: questions the record is known to answer (JSONL records).
    """

    text: str
    start: int = 0
    headings: tuple[str, ...] = ()
    page: int | None = None
    document: str | None = None
    title: str = ""
    metadata: dict = dataclasses.field(default_factory=dict)
    anchors: tuple[tuple[int, int], ...] = ()
    questions: tuple[str, ...] = ()

    def unit_offset(self, i: int) -> int:
        """The offset in the unit (the file's text, a page's) of `text[i]`."""
        return map_offset(self.anchors, i, self.start)

    @property
    def heading_path(self) -> str:
        return TITLE_SEPARATOR.join(self.headings)


@dataclasses.dataclass(frozen=True)
class Passage:
    """One searchable passage, ready for the document store.

    Attributes:
        doc_id: `<relpath>#<n>`, n counting the file's passages from 0.
        title: the heading path (`A > B > C`), else the section's title,
            else the file name.
        text: the passage text.
        metadata: `source` (the file's path relative to the corpus folder),
            `document` (parent document id), `section` (heading path or
            record id), `page` (PDF), `start` / `end` (character offsets
            in the unit described at `Section.start`), `format` (file
            suffix), `passage` (n), plus a record's own str/int/float fields.
        questions: the questions its record is known to answer (every
            passage of the record keeps them).
    """

    doc_id: str
    title: str
    text: str
    metadata: dict
    questions: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class ChunkConfig:
    """How sections are cut into passages.

    Attributes:
        max_tokens: word pieces a passage holds at most (the title is
            embedded in front of it: keep max_tokens + title below the
            encoder's 256).
        overlap: word pieces shared by consecutive passages of a section.
        vocabulary: WordPiece `vocab.txt` (None: MiniLM's).

    Raises:
        ValueError: for max_tokens < 8 or an overlap not below half of it.
    """

    max_tokens: int = 200
    overlap: int = 40
    vocabulary: str | None = None

    def __post_init__(self):
        if self.max_tokens < 8:
            raise ValueError(f"max_tokens must be >= 8, got {self.max_tokens}.")
        if not 0 <= self.overlap < self.max_tokens // 2:
            raise ValueError(f"overlap must be in [0, max_tokens / 2), got {self.overlap} "
                             f"for max_tokens={self.max_tokens}.")

    def to_dict(self) -> dict:
        """What decides the passages (stored in the index: a change re-chunks all)."""
        return {"max_tokens": self.max_tokens, "overlap": self.overlap,
                "vocabulary": "minilm" if self.vocabulary is None else self.vocabulary,
                "layout": LAYOUT}
