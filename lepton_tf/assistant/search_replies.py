"""The reply of a search turn: cited sentences of the passages, or not found."""

from __future__ import annotations

import re

from lepton_tf.assistant import answers
from lepton_tf.assistant.knowledge_base import KnowledgeBase
from lepton_tf.assistant.routing import SEARCH, Router
from lepton_tf.assistant.turn_signals import TurnSignals, timed
from lepton_tf.server.errors import ServingError, stops_work


def similarity_scorer(backends):
    """`score(question, sentences)` by the encoder, by words in common where the
    encoder is not served; None where the backends have no `similarity`."""
    similarity = getattr(backends, "similarity", None)
    if similarity is None:
        return None

    def score(question, sentences):
        try:
            return similarity(question, sentences)
        except ServingError as e:  # no encoder: words in common
            if stops_work(e):
                raise
            return answers.lexical_similarity(question, sentences)
    return score


def search_reply(backends, router: Router, knowledge_base: KnowledgeBase,
                 context_passages: int, signals: TurnSignals, message: str, session,
                 timings: dict):
    """The answer of a search turn.

    Args:
        backends: see `engine.Assistant` (`similarity`, when it has one).
        router: its not-found rule, where the search servable sent no flag.
        knowledge_base: the not-found text.
        context_passages: how many of the passages the answer may cite.
        signals: the turn's search and scores.
        message: the checked message.
        session: the caller's session (the last reply is not repeated).
        timings: milliseconds per stage, added to.

    Returns:
        `(reply, shown passages, cited numbers, not_found)`.
    """
    shown = signals.passages[:context_passages]
    not_found = signals.not_found if signals.not_found is not None \
        else router.not_found(signals.top)
    if not not_found:
        focus = message if signals.query != message else ""
        reply, numbers = timed(
            timings, "search", answers.extractive_answer, signals.query, shown,
            similarity_scorer(backends),
            session.last_reply if session.last_route == SEARCH else "", focus)
        if reply:
            return reply, shown, numbers, False
    return knowledge_base.text("not_found"), shown, [], True


def pointed_reply(backends, knowledge_base: KnowledgeBase, session, number: int,
                  timings: dict) -> tuple[str, list]:
    """The last search's question answered from its source `number` alone ("what
    about the second one?"), cited with that number.

    Returns:
        `(reply, [number])`, or `(not-found text, [])` where that source holds
        no sentence that answers it.
    """
    passage = session.last_results[number - 1]
    reply, _ = timed(timings, "search", answers.extractive_answer,
                     session.last_query, [passage], similarity_scorer(backends),
                     session.last_reply)
    if not reply:
        return knowledge_base.text("not_found"), []
    return re.sub(r"\[1\]", f"[{number}]", reply), [number]
