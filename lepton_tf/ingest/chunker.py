"""Sections -> passages of at most N encoder word pieces, overlapping.

Windows are counted in the encoder's own WordPiece tokens (MiniLM's vocab,
`lepton_tf.text.wordpiece_offsets`), so a 200-token passage is 200 tokens to
the encoder and nothing past its 256-token input is silently lost. A window
ends at the best break in its second half: a blank line, else a line break,
else a sentence end, else a word start (never inside a word); the next
window starts `overlap` tokens earlier, at the first sentence or line start
in that overlap (else at a word after a space, in the overlap or, past a
long URL, before it; else at a word start). A
stop or a word with no space before the next piece (`readthedocs.io`,
`https://`, `f().g()`) is no break: a passage never opens inside a URL.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator

from lepton_tf.ingest.passage import ChunkConfig, Passage, Section

_SENTENCE_END = frozenset(".!?;:")


def _break_score(text: str, offsets, j: int) -> int:
    """How good a window end before piece j is (3 best, -1 worst).

    A stop counts only when a space follows it: the `.` of `readthedocs.io`
    or `f().g()` and the `:` of `https://` end no sentence, and a window
    starting after them would open on a fragment (`//github.com/...)`). A
    word piece after punctuation with no space (inside a URL or a call chain)
    is the worst break, below any spaced word.
    """
    gap = text[offsets[j - 1][1]:offsets[j][0]]
    if "\n\n" in gap or "\n\r\n" in gap:
        return 3
    if "\n" in gap:
        return 2
    if not gap[:1].isspace():
        return -1
    return 1 if text[offsets[j - 1][0]:offsets[j - 1][1]] in _SENTENCE_END else 0


def windows(pieces, text: str, max_tokens: int, overlap: int) -> list[tuple[int, int]]:
    """`[start, end)` piece ranges covering all pieces.

    Args:
        pieces: a `Pieces` of `text`.
        text: the text the offsets index.
        max_tokens: pieces a window holds at most.
        overlap: pieces the next window repeats (fewer when a word start
            forces it).

    Returns:
        The ranges, in order; the last one ends at `len(pieces)`.
    """
    n = len(pieces)
    out, start = [], 0
    while start < n:
        limit = min(start + max_tokens, n)
        end = limit
        if limit < n:
            best, best_score = None, -2
            for j in range(start + max(1, max_tokens // 2), limit + 1):
                if pieces.word_start[j]:
                    score = _break_score(text, pieces.offsets, j)
                    if score >= best_score:
                        best, best_score = j, score
            end = best or limit
        out.append((start, end))
        if end >= n:
            break
        nxt = max(end - overlap, start + 1)
        # The overlap starts where a sentence or a line does when one is in it,
        # so a passage (and an answer quoted from it) opens on a whole sentence.
        starts = [j for j in range(nxt, end) if pieces.word_start[j]]
        scores = [_break_score(text, pieces.offsets, j) for j in starts]
        whole = next((j for j, score in zip(starts, scores) if score >= 1), None)
        spaced = next((j for j, score in zip(starts, scores) if score >= 0), None)
        if spaced is None:  # a long URL fills the overlap: overlap more, from its space
            spaced = next((j for j in range(nxt - 1, start, -1) if pieces.word_start[j]
                           and _break_score(text, pieces.offsets, j) >= 0), None)
        while nxt < end and not pieces.word_start[nxt]:
            nxt += 1
        start = next(j for j in (whole, spaced, nxt) if j is not None)
    return out


class Chunker:
    """Cuts a file's sections into `Passage`s (holds only the tokenizer).

    Args:
        config: a `ChunkConfig`.
        tokenizer: a `WordPieceOffsets` (default: built from
            `config.vocabulary`); share one across files, it is read-only.

    Example:

    ```python
    chunker = Chunker(ChunkConfig(max_tokens=200, overlap=40))
    passages = chunker.chunk(sections, "guides/install.md")
    ```
    """

    def __init__(self, config: ChunkConfig | None = None, tokenizer=None):
        from lepton_tf.text.wordpiece_offsets import WordPieceOffsets

        self.config = config or ChunkConfig()
        self.tokenizer = tokenizer or WordPieceOffsets(self.config.vocabulary)

    def chunk(self, sections: Iterable[Section], relpath: str,
              file_format: str = "") -> Iterator[Passage]:
        """The passages of one file's sections.

        Args:
            sections: the file's sections, in reading order.
            relpath: the file's path relative to the corpus folder (`/`).
            file_format: stored as `metadata["format"]`.

        Yields:
            Passages with ids `<relpath>#<n>`, n from 0 in reading order.
        """
        sections = [s for s in sections if s.text.strip()]
        stem = os.path.splitext(os.path.basename(relpath))[0]
        n = 0
        for section, pieces in zip(sections, self.tokenizer.tokenize([s.text for s in sections])):
            title = section.heading_path or section.title or (
                "" if section.document else stem)
            for first, last in windows(pieces, section.text, self.config.max_tokens,
                                       self.config.overlap):
                lo, hi = pieces.offsets[first][0], pieces.offsets[last - 1][1]
                metadata = {**section.metadata, "source": relpath,
                            "document": section.document or relpath,
                            "section": section.heading_path or str(
                                section.metadata.get("record", "")),
                            "start": section.unit_offset(lo),
                            "end": section.unit_offset(hi - 1) + 1,
                            "format": file_format, "passage": n}
                if section.page is not None:
                    metadata["page"] = section.page
                yield Passage(f"{relpath}#{n}", title, section.text[lo:hi], metadata,
                              section.questions)
                n += 1
