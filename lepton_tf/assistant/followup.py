"""Follow-up questions: "and on my phone?" right after a search turn.

A short turn after a search turn may only make sense with the question
before it. It is searched twice, as typed and rewritten with what the last
search turn searched (`"<last query> <turn>"`), and the rewritten search is
kept when it scores at least as well: a new question that happens to be
short stands on its own, a follow-up finds its passages with the previous
question's words. The reply's sentences are then scored against both, the
follow-up's words counting twice (see `answers.extractive_answer`'s `focus`).
Not for small talk, task dialogue, or a turn the intent model claims.
"""

from __future__ import annotations

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
