"""Follow-up questions: "and on my phone?" right after a search turn.

A short turn after a search turn may only make sense with the question
before it. It is searched twice, as typed and rewritten with what the last
search turn searched (`"<last query> <turn>"`), and the rewritten search is
kept when it scores at least as well: a new question that happens to be
short stands on its own, a follow-up finds its passages with the previous
question's words. The reply's sentences are then scored against both, the
follow-up's words counting twice (see `answers.extractive_answer`'s `focus`).
Not for small talk, task dialogue, or a turn the intent model claims.

A turn that only points at one of the last search answer's numbered
sources ("what about the second one?", "the first", "#2", "the last one")
is answered from that source (`ordinal_reference`), with the numbers the
sources were shown with.
"""

from __future__ import annotations

import re

FOLLOWUP_WORDS = 6  # a turn this short after a search may be a follow-up question


def may_follow_up(last_route: str, last_query: str, message: str) -> bool:
    """Whether `message` is short enough, right after a search turn, to be a follow-up."""
    return last_route == "search" and bool(last_query) and \
        len(message.split()) <= FOLLOWUP_WORDS


def rewrite(last_query: str, message: str) -> str:
    """The follow-up searched with what came before.

    >>> rewrite("How do I turn off YouTube autoplay?", "and on my phone?")
    'How do I turn off YouTube autoplay? and on my phone?'
    """
    return f"{last_query} {message}"


def better(plain: tuple, rewritten: tuple) -> bool:
    """Whether the rewritten search `(passages, not_found)` beats the plain one."""
    top = lambda result: result[0][0].score if result[0] else float("-inf")
    return bool(rewritten[0]) and top(rewritten) >= top(plain)


ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6,
            "seventh": 7, "eighth": 8, "ninth": 9, "tenth": 10, "last": -1}
# Words a turn that only points at a source may hold besides its ordinal.
POINTING_WORDS = frozenset(
    "what whats what's about and the one ones how tell me more show open read say says "
    "does do is in that this please source sources answer result link passage number no "
    "ok okay then so of from on with us explain".split())
_TOKEN = re.compile(r"[a-z']+|\d+(?:st|nd|rd|th)?")
_NUMBERED = re.compile(r"^(\d+)(?:st|nd|rd|th)?$")


def ordinal_reference(message: str, count: int) -> int | None:
    """The source number (1-based) `message` points at among `count` shown ones, or None
    when it is not only a pointer (a question of its own that happens to say
    "first") or points past them.

    >>> [ordinal_reference(m, 2) for m in ("what about the second one?", "#2", "the last one",
    ...                                     "And the 2nd?", "the third", "the first Gmail filter")]
    [2, 2, 2, 2, None, None]
    """
    words = _TOKEN.findall(message.lower())  # "#2", "[2]": the digits
    picked = []
    for word in words:
        numbered = _NUMBERED.match(word)
        if word in ORDINALS or numbered:
            picked.append(ORDINALS[word] if word in ORDINALS else int(numbered.group(1)))
        elif word not in POINTING_WORDS:
            return None
    if len(picked) != 1 or count < 1:
        return None
    n = count if picked[0] == -1 else picked[0]
    return n if 1 <= n <= count else None
