"""One assistant turn: state, routing, search, grounded chat, citations, as events.

`Assistant.stream(session_id, message)` yields the turn as it happens:

1. `{"type": "sources", ...}` as soon as the route is known and the
   passages are retrieved (before the chat model runs);
2. `{"type": "delta", "text": ...}` chunks of the reply (word by word: the
   chat servable decodes the whole reply in its graph, so chunks follow
   generation rather than being decoded one token per call);
3. `{"type": "final", ...}` the whole `TurnResult` as a dict.

`Assistant.answer` runs the same generator to the end (the Predict API).
"""

from __future__ import annotations

import dataclasses
import re
import time
from concurrent import futures
from typing import Iterator

from lepton_tf.assistant import grounding
from lepton_tf.assistant.grounding import Passage
from lepton_tf.assistant.routing import CHAT, OUT_OF_SCOPE, SEARCH, Router
from lepton_tf.assistant.sessions import SessionStore

MAX_MESSAGE_CHARS = 2000
SEARCH_K = 10         # passages retrieved (related questions come from their titles)
CONTEXT_PASSAGES = 2  # of them shown to the chat model, numbered (the grounded chat model reads 2)
FOLLOWUP_WORDS = 6    # a turn this short after a search may be a follow-up question
REFUSAL = ("Sorry, I can't help with that here. I can answer questions about web apps "
           "such as Facebook, GitHub or Gmail, and help with bookings such as "
           "restaurants, travel and events.")


@dataclasses.dataclass
class TurnResult:
    """What one turn answers; the servable's outputs, the stream's final message."""

    reply: str
    route: str
    intent: str
    citations: list = dataclasses.field(default_factory=list)  # Passages cited, in order
    cited_by: str = ""  # "model" ([n] in the reply), "retrieval", "extractive" or ""
    related_questions: list = dataclasses.field(default_factory=list)
    timings_ms: dict = dataclasses.field(default_factory=dict)  # intent, search, chat, total
    search_score: float = 0.0

    def to_dict(self) -> dict:
        return {"reply": self.reply, "route": self.route, "intent": self.intent,
                "cited_by": self.cited_by, "search_score": self.search_score,
                "citations": [citation_dict(n, p) for n, p in self.citations],
                "related_questions": self.related_questions, "timings_ms": self.timings_ms}


def citation_dict(number: int, passage: Passage) -> dict:
    return {"n": number, "doc_id": passage.doc_id, "title": passage.title,
            "snippet": passage.snippet(), "score": round(passage.score, 4)}


def check_message(session_id: str, message: str) -> str:
    """The stripped message.

    Raises:
        ValueError: a missing session id, an empty or too long message.
    """
    if not session_id or not session_id.strip():
        raise ValueError("session_id must not be empty.")
    if len(session_id) > 200:
        raise ValueError("session_id is longer than 200 characters.")
    message = " ".join(message.split())
    if not message:
        raise ValueError("message must not be empty.")
    if len(message) > MAX_MESSAGE_CHARS:
        raise ValueError(f"message is longer than {MAX_MESSAGE_CHARS} characters.")
    return message


def word_chunks(text: str) -> list[str]:
    """`text` in word-sized pieces whose concatenation is `text`."""
    return re.findall(r"\S+\s*", text)


class Assistant:
    """The dialogue manager over `backends` (see `backends.ServerBackends`).

    Args:
        backends: has `intent(text)`, `search(query, k)`, `chat(context)`,
            `dialogue_score(text)` and optionally `chitchat_score(text)`.
        router: the routing rule and thresholds.
        sessions: the session store (memory bound and TTL).
    """

    def __init__(self, backends, router: Router | None = None,
                 sessions: SessionStore | None = None, search_k: int = SEARCH_K,
                 context_passages: int = CONTEXT_PASSAGES):
        self.backends = backends
        self.router = router or Router()
        self.sessions = sessions if sessions is not None else SessionStore()
        self.search_k, self.context_passages = search_k, context_passages
        self._pool = futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="assistant")

    def answer(self, session_id: str, message: str) -> TurnResult:
        result = None
        for event in self._turn(session_id, message):
            if isinstance(event, TurnResult):
                result = event
        return result

    def stream(self, session_id: str, message: str) -> Iterator[dict]:
        for event in self._turn(session_id, message):
            yield {"type": "final", **event.to_dict()} if isinstance(event, TurnResult) \
                else event

    def _timed(self, timings: dict, key: str, fn, *args):
        start = time.perf_counter()
        try:
            return fn(*args)
        finally:
            timings[key] = timings.get(key, 0.0) + (time.perf_counter() - start) * 1e3

    def _signals(self, session, message: str, timings: dict):
        """Intent and dialogue score in a thread while searching here."""
        chitchat = getattr(self.backends, "chitchat_score", lambda text: None)
        side = self._pool.submit(lambda: (
            self._timed(timings, "intent", self.backends.intent, message),
            self._timed(timings, "dialogue", self.backends.dialogue_score, message),
            self._timed(timings, "dialogue", chitchat, message)))
        passages = self._timed(timings, "search", self.backends.search, message, self.search_k)
        top = passages[0].score if passages else None
        intent, dialogue, chitchat = side.result()
        threshold = self.router.search_threshold
        refused = self.router.use_intent and intent is not None and intent.out_of_scope is False
        if (session.last_route == SEARCH and (top is None or top < threshold)
                and len(message.split()) <= FOLLOWUP_WORDS and not refused
                and not (dialogue is not None and dialogue >= self.router.dialogue_threshold)):
            # A short follow-up that is neither chit-chat nor of a domain the intent
            # model refuses ("and on mobile?"): search it with the previous question.
            followup = self._timed(timings, "search", self.backends.search,
                                   f"{session.last_user_turn()} {message}", self.search_k)
            if followup and followup[0].score >= threshold:
                passages, top = followup, followup[0].score
        return passages, top, intent, (dialogue, chitchat)

    def _turn(self, session_id: str, message: str):
        message = check_message(session_id, message)
        start = time.perf_counter()
        timings: dict = {}
        session = self.sessions.get(session_id)
        with session.lock:  # one turn at a time per session, in order
            passages, top, intent, (dialogue, chitchat) = self._signals(session, message,
                                                                         timings)
            route = self.router.route(top, dialogue, intent, message, session.last_route,
                                      chitchat_score=chitchat)
            intent_name = "" if intent is None else \
                ("out_of_scope" if intent.out_of_scope else intent.intent)
            shown = passages[:self.context_passages] if route == SEARCH else []
            yield {"type": "sources", "route": route, "intent": intent_name,
                   "sources": [citation_dict(n, p) for n, p in enumerate(shown, 1)]}
            turns = session.turns + [("USER", message)]
            numbers, cited_by = [], ""
            if route == SEARCH:
                raw = self._timed(timings, "chat", self.backends.chat,
                                  grounding.build_context(shown, turns))
                reply, numbers, cited_by = grounding.grounded_reply(raw, shown, message)
            elif route == CHAT:
                reply = self._timed(timings, "chat", self.backends.chat,
                                    grounding.dialogue_context(turns))
            else:
                reply = REFUSAL
            citations = [(n, shown[n - 1]) for n in numbers]
            related = grounding.related_questions(
                passages if route == SEARCH else [], numbers[0] if numbers else None,
                asked=message)
            # The state is updated before the reply is streamed: a client that goes
            # away mid-stream still leaves a consistent session.
            session.add_turn("USER", message, self.sessions.max_turns)
            session.add_turn("SYSTEM", reply, self.sessions.max_turns)
            session.last_intent, session.last_route = intent_name, route
            session.last_results = shown
        for chunk in word_chunks(reply):
            yield {"type": "delta", "text": chunk}
        timings["total"] = (time.perf_counter() - start) * 1e3
        yield TurnResult(reply, route, intent_name, citations, cited_by, related,
                         {k: round(v, 2) for k, v in timings.items()},
                         float(top) if top is not None else 0.0)

    def close(self) -> None:
        self._pool.shutdown(wait=False)
