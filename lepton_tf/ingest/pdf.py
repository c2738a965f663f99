"""PDF (`.pdf`): one section per page, under the outline entry it falls in.

pypdf is maintained, pure Python (no poppler or Java to install) and reads
the text layer page by page, which gives every passage its page number; its
outline (bookmarks) API names the chapter a page belongs to. Scanned PDFs
have no text layer: they are reported, not silently indexed as empty (OCR
them first). pdfminer.six extracts layout more faithfully but is several
times slower and has no page-outline mapping of its own.
"""

from __future__ import annotations

import io

from lepton_tf.ingest.errors import ParseError
from lepton_tf.ingest.plain import reflowed_section


def _outline_errors():
    from pypdf.errors import PyPdfError

    return (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError,
            RecursionError)


def _outline_starts(reader) -> list[tuple[int, tuple[str, ...]]]:
    """(first page index, heading path) of each outline entry, by page."""
    errors = _outline_errors()
    starts = []

    def walk(entries, path):
        last = path
        for entry in entries:
            if isinstance(entry, list):
                walk(entry, last)
                continue
            try:
                page = reader.get_destination_page_number(entry)
            except errors:  # a broken bookmark must not lose the text
                continue
            last = path + (str(entry.title).strip(),)
            starts.append((page, last))

    try:
        walk(reader.outline, ())
    except errors:
        return []
    return sorted(starts, key=lambda s: s[0])


def parse_pdf(data: bytes, path: str) -> list[Section]:
    """The text layer of each page, its lines joined into paragraphs (offsets
    index the page's extracted text).

    The title of a page without outline entry is the PDF's metadata title.

    Raises:
        ParseError: for a file pypdf cannot read (corrupt, encrypted with a
            password) or one with no text layer at all.
    """
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise ParseError(path, "the PDF is encrypted with a password.")
        pages = [page.extract_text() or "" for page in reader.pages]
        title = str((reader.metadata or {}).get("/Title") or "").strip()
    except ParseError:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, OSError) as e:
        raise ParseError(path, f"not a readable PDF ({type(e).__name__}: {e}).") from None
    outline = _outline_starts(reader)
    sections = []
    for number, page_text in enumerate(pages):
        headings = ()
        for first, entry in outline:
            if first <= number:
                headings = entry
        section = reflowed_section(page_text, headings=headings, page=number + 1, title=title)
        if section:
            sections.append(section)
    if pages and not sections:
        raise ParseError(path, f"no text layer on its {len(pages)} pages (scanned? OCR it "
                               "first).")
    if not pages:
        raise ParseError(path, "the PDF has no pages.")
    return sections
