"""The chat model's context format: the one definition of its markers and ids.

A context is a string of turns, each opened by a speaker marker, optionally
preceded by numbered passages:

    [DOC] [1] title: text [DOC] [2] title: text [USER] question [SYSTEM] reply [USER] ...

Text that does not start with a marker is one user turn. The reserved tokens
sit at fixed ids 0..7 of every chat vocabulary; `ChatPreprocessor` checks a
vocabulary against them when it is loaded. Everything that writes or reads a
context (the training task, the servable, the assistant, the client and the
evaluations) uses these definitions.

Example:

>>> format_context(["Hi", "Hello, how can I help?"], ["USER", "SYSTEM"])
'[USER] Hi [SYSTEM] Hello, how can I help?'
>>> build_context([("Gmail", "Open settings.")], [("USER", "How do I [DOC] it?")])
'[DOC] [1] Gmail: Open settings. [USER] How do I (DOC) it?'
"""

from __future__ import annotations

import re
from typing import Iterable, Sequence

RESERVED_TOKENS = ("[PAD]", "[UNK]", "[BOS]", "[EOS]", "[SEP]", "[USER]", "[SYSTEM]", "[DOC]")
PAD_ID, UNK_ID, BOS_ID, EOS_ID, SEP_ID, USER_ID, SYSTEM_ID, DOC_ID = range(len(RESERVED_TOKENS))
USER, SYSTEM = "USER", "SYSTEM"
SPEAKER_MARKERS = {USER: "[USER]", SYSTEM: "[SYSTEM]"}
USER_MARKER, SYSTEM_MARKER, DOC_MARKER = "[USER]", "[SYSTEM]", "[DOC]"
# A grounded context opens with a passage (TF regex syntax, for the servable).
GROUNDED_CONTEXT_PATTERN = r"(?s)\s*" + re.escape(DOC_MARKER) + r".*"
PASSAGE_CHARS = 400  # of each passage in the context (the model reads ~64 tokens of it)
_MARKER_TEXT = re.compile(r"\[(USER|SYSTEM|DOC)\]")


def clean_text(text: str) -> str:
    """Whitespace collapsed; speaker and passage markers defused.

    A passage or a user's message must not open a fake turn or passage.

    >>> clean_text("a  [SYSTEM]\\nb")
    'a (SYSTEM) b'
    """
    return _MARKER_TEXT.sub(r"(\1)", " ".join(text.split()))


def format_context(turns: Sequence[str], speakers: Sequence[str]) -> str:
    """Joins dialogue turns into the context string the model reads.

    Args:
        turns: utterances, oldest first.
        speakers: `"USER"` or `"SYSTEM"` for each turn.

    Returns:
        The turns, each prefixed by `[USER]` or `[SYSTEM]`, joined by spaces.

    Raises:
        KeyError: for a speaker that is neither.
    """
    return " ".join(f"{SPEAKER_MARKERS[s]} {t}" for t, s in zip(turns, speakers))


def passage_header(number: int, title: str) -> str:
    """What opens passage `number` in the context: `[DOC] [n] title:`.

    >>> passage_header(2, "Gmail")
    '[DOC] [2] Gmail:'
    """
    return f"{DOC_MARKER} [{number}] {clean_text(title)}:"


def build_context(passages: Iterable[tuple[str, str]], turns: Iterable[tuple[str, str]],
                  passage_chars: int = PASSAGE_CHARS) -> str:
    """The chat model's `context`: numbered passages, then the dialogue turns.

    Args:
        passages: `(title, text)` pairs, numbered from 1 in order.
        turns: `(speaker, text)` pairs, oldest first; speaker USER or SYSTEM.
        passage_chars: characters kept of each passage's text.

    Returns:
        The context string, markers defused inside every text.

    Raises:
        KeyError: for a speaker that is neither USER nor SYSTEM.
    """
    parts = [f"{passage_header(i, title)} {clean_text(text)[:passage_chars]}"
             for i, (title, text) in enumerate(passages, 1)]
    parts += [f"{SPEAKER_MARKERS[speaker]} {clean_text(text)}" for speaker, text in turns]
    return " ".join(parts)
