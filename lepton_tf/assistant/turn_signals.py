"""What a turn's route is decided on: the search and the models' scores.

The search runs in the calling thread while the intent, dialogue, small-talk
and domain scores run in a pool thread under the same deadline, so a turn
waits for the slower of the two rather than for their sum.
"""

from __future__ import annotations

import dataclasses
import time
from concurrent import futures

from lepton_tf.assistant import followup
from lepton_tf.assistant.routing import Router
from lepton_tf.server import deadline


@dataclasses.dataclass
class TurnSignals:
    passages: list
    top: float | None
    not_found: bool | None  # the search servable's flag (None: it has none)
    query: str              # what was searched (a follow-up: rewritten)
    intent: object
    dialogue: float | None
    smalltalk: tuple | None  # (category, score)
    domain: float | None = None  # similarity to the intent domain's requests


def timed(timings: dict, key: str, fn, *args):
    """`fn(*args)`, its milliseconds added to `timings[key]` (even when it raises)."""
    start = time.perf_counter()
    try:
        return fn(*args)
    finally:
        timings[key] = timings.get(key, 0.0) + (time.perf_counter() - start) * 1e3


def search(backends, k: int, timings: dict, query: str) -> tuple[list, bool | None]:
    """`(passages, not_found flag or None)` of the top `k` for `query`."""
    result = timed(timings, "search", backends.search, query, k)
    return result if isinstance(result, tuple) else (result, None)


def gather(backends, router: Router, pool: futures.Executor, k: int, session,
           message: str, timings: dict) -> TurnSignals:
    """Intent, dialogue and small-talk scores in a thread while searching here.

    A message that may follow up the last search (and that no intent claims and
    that does not read as conversation) is also searched rewritten with the last
    query; the better of the two results is kept.

    Args:
        backends: see `engine.Assistant`.
        router: its thresholds decide whether a follow-up is tried.
        pool: runs the side scores.
        k: passages retrieved.
        session: the caller's session (its last route and query).
        message: the checked message.
        timings: milliseconds per stage, added to.

    Returns:
        The turn's `TurnSignals`.
    """
    small = getattr(backends, "smalltalk", lambda text: None)
    domain = getattr(backends, "domain_score", lambda text: None)
    at, cancelled = deadline.current(), deadline.current_cancel()

    def side_work():  # under the turn's deadline: stopped with it
        with deadline.until(at, cancelled):
            return (timed(timings, "intent", backends.intent, message),
                    timed(timings, "dialogue", backends.dialogue_score, message),
                    timed(timings, "dialogue", small, message),
                    timed(timings, "dialogue", domain, message))
    side = pool.submit(side_work)
    result, query = search(backends, k, timings, message), message
    intent, dialogue, chitchat, domain_score = deadline.result(side)
    claimed = router.use_intent and intent is not None and intent.out_of_scope is False
    chatty = (chitchat is not None and chitchat[1] >= router.chitchat_threshold) or \
        (dialogue is not None and dialogue >= router.dialogue_threshold)
    if followup.may_follow_up(session.last_route, session.last_query, message) and \
            not claimed and not chatty:
        rewritten = followup.rewrite(session.last_query, message)
        again = search(backends, k, timings, rewritten)
        if followup.better(result, again):
            result, query = again, rewritten
    passages, flag = result
    top = passages[0].score if passages else None
    return TurnSignals(passages, top, flag, query, intent, dialogue, chitchat, domain_score)
