"""Reading and writing WordPiece vocabularies (one token a line)."""

import os
import tempfile


def save_vocab(vocab, path):
    """Writes a vocabulary to `path`, one token a line, atomically.

    The tokens go to a temporary file in the same directory which then
    replaces `path` with `os.replace`, so a reader never sees a half-written
    file.

    Args:
        vocab: Sequence of token strings; token `i` is written on line `i`.
        path: Destination file path. Its directory must exist.

    Returns:
        The absolute path written.

    Raises:
        ValueError: If a token is empty or contains a line break.

    Example:

    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "vocab.txt")
    >>> _ = save_vocab(["[PAD]", "[UNK]", "hello"], path)
    >>> load_vocab(path)
    ['[PAD]', '[UNK]', 'hello']
    """
    tokens = [str(token) for token in vocab]
    for i, token in enumerate(tokens):
        if not token or "\n" in token or "\r" in token:
            raise ValueError(f"Token {i} ({token!r}) is empty or has a line break.")
    path = os.path.abspath(path)
    fd, tmp_path = tempfile.mkstemp(
        dir=os.path.dirname(path), prefix=".vocab-", suffix=".tmp"
    )
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write("\n".join(tokens) + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_path, path)
    except BaseException:
        if os.path.exists(tmp_path):
            os.remove(tmp_path)
        raise
    return path


def load_vocab(path):
    """Reads a vocabulary written by `save_vocab` (or a BERT `vocab.txt`).

    Args:
        path: Path to a UTF-8 text file with one token a line.

    Returns:
        The tokens as a list of `str`; line `i` is token id `i`. Line
        breaks (`\\n`, `\\r\\n`) are stripped, and so is the empty string after
        the final line break; nothing else is, so ids never shift.

    Raises:
        FileNotFoundError: If `path` does not exist.

    Example:

    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "vocab.txt")
    >>> _ = open(path, "w").write("[PAD]\\n[UNK]\\nhi\\n")
    >>> load_vocab(path)
    ['[PAD]', '[UNK]', 'hi']
    """
    with open(path, encoding="utf-8", newline="") as f:
        lines = f.read().split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def resolve_vocabulary(vocabulary):
    """Turns a vocabulary argument (file path or sequence) into a list.

    Args:
        vocabulary: A path to a one-token-a-line file, or a sequence of
            token strings.

    Returns:
        A new `list` of `str` tokens.

    Raises:
        ValueError: If the vocabulary is empty.
        TypeError: If `vocabulary` is neither a path nor a sequence.

    Example:

    >>> resolve_vocabulary(("[PAD]", "a"))
    ['[PAD]', 'a']
    """
    if isinstance(vocabulary, (str, os.PathLike)):
        tokens = load_vocab(vocabulary)
    elif isinstance(vocabulary, (list, tuple)) or hasattr(vocabulary, "__iter__"):
        tokens = [
            t.decode("utf-8") if isinstance(t, bytes) else str(t) for t in vocabulary
        ]
    else:
        raise TypeError(
            f"vocabulary must be a path or a list of tokens, got {type(vocabulary)}"
        )
    if not tokens:
        raise ValueError("vocabulary is empty")
    return tokens
