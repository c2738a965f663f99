"""One assistant turn: state, routing, search, grounded chat, citations, as events.

`Assistant.stream(session_id, message)` yields the turn as it happens:

1. `{"type": "sources", ...}` as soon as the route is known and the
   passages are retrieved (before the chat model runs);
2. `{"type": "delta", "text": ...}` chunks of the reply (word by word: the
   chat servable decodes the whole reply in its graph, so chunks follow
   generation rather than being decoded one token per call);
3. `{"type": "final", ...}` the whole `TurnResult` as a dict.

`Assistant.answer` runs the same generator to the end (the Predict API).

Per route (see `routing`): `search` answers with whole, cited sentences of
the retrieved passages (`answers`), or with the knowledge base's not-found
text and the closest matches when the top score says the answer is not
there; `smalltalk` with the knowledge base's greeting, thanks or goodbye;
`chat` with the chat model reading the task dialogue alone (the session's
`chat` turns: never a search answer, its passages or `[n]`, which the chat
model, trained on SGD dialogues, copies and loops on); `out_of_scope` with
the knowledge base's refusal where the intent model claimed the turn, else
(nothing matched at all) with the not-found text and the closest matches;
`task` with the dialogue manager's reply (`tasks.TaskSkill`), and `skill` with
the answer or hand-off of the intent's skill. The intent is shown only where
the intent model decided the turn (a refused in-scope intent or its skill).
Each turn is logged (`sessions.log_turn`) before its reply is streamed; the
final event carries its `turn_id`.
"""

from __future__ import annotations

import time
from concurrent import futures
from typing import Iterator

from lepton_tf.assistant import followup, grounding, search_replies, smalltalk, turn_signals
from lepton_tf.assistant.knowledge_base import KnowledgeBase
from lepton_tf.assistant.routing import (CHAT, OUT_OF_SCOPE, SEARCH, SKILL, SMALLTALK, TASK,
                                         Router)
from lepton_tf.assistant.sessions import SessionStore
from lepton_tf.assistant.turn_input import check_message, session_key
from lepton_tf.assistant.turn_result import TurnResult, citation_dict, word_chunks
from lepton_tf.assistant.turn_signals import TurnSignals, timed
from lepton_tf.server import audit, deadline, identity
from lepton_tf.store.errors import StoreError
from lepton_tf.store.records import TurnRecord, new_turn_id

SEARCH_K = 10         # passages retrieved (related questions come from their titles)
CONTEXT_PASSAGES = 2  # of them the answer's sentences come from, numbered
REFUSAL = KnowledgeBase().text("refusal")


class Assistant:
    """The dialogue manager over `backends` (see `backends.ServerBackends`).

    Args:
        backends: has `intent(text)`, `search(query, k)` (passages, or
            `(passages, not_found)`), `chat(context)`, `dialogue_score(text)`
            and optionally `smalltalk(text)` and `similarity(question, sentences)`.
        router: the routing rule and thresholds.
        sessions: the session store (memory bound and TTL).
        knowledge_base: the texts of the replies that are not generated.
        tasks: the task dialogues (`tasks.TaskSkill`); with them, a turn about a
            task is the dialogue manager's, and the `chat` route answers with what
            the tasks can do instead of the chat model (which would invent
            bookings, prices and dates).
        skills: what the intent model's intents do (`skills.Skills`): a turn it
            claims gets its skill's answer or hand-off instead of the refusal.
    """

    def __init__(self, backends, router: Router | None = None,
                 sessions: SessionStore | None = None, search_k: int = SEARCH_K,
                 context_passages: int = CONTEXT_PASSAGES,
                 knowledge_base: KnowledgeBase | None = None, tasks=None, skills=None):
        self.backends, self.tasks, self.skills = backends, tasks, skills
        self.router = router or Router()
        self.sessions = sessions if sessions is not None else SessionStore()
        self.search_k, self.context_passages = search_k, context_passages
        self.knowledge_base = knowledge_base or KnowledgeBase()
        self._pool = futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="assistant")

    def answer(self, session_id: str, message: str, time_zone: str = "") -> TurnResult:
        result = None
        for event in self._turn(session_id, message, time_zone):
            if isinstance(event, TurnResult):
                result = event
        return result

    def stream(self, session_id: str, message: str, time_zone: str = "") -> Iterator[dict]:
        for event in self._turn(session_id, message, time_zone):
            yield {"type": "final", **event.to_dict()} if isinstance(event, TurnResult) \
                else event

    def _still_readable(self, passages: list) -> bool:
        """Whether the caller may still read every one of `passages` (a permission
        may have been revoked since they were shown); backends that cannot tell
        (no `readable`) are trusted."""
        readable = getattr(self.backends, "readable", None)
        if readable is None or not passages:
            return True
        return set(readable([p.doc_id for p in passages])) >= {p.doc_id for p in passages}

    def _turn(self, session_id: str, message: str, time_zone: str = ""):
        message = check_message(session_id, message)
        if time_zone and self.tasks is not None:
            self.tasks.check_time_zone(time_zone)  # ValueError: INVALID_ARGUMENT
        start = time.perf_counter()
        timings: dict = {}
        session = self.sessions.get(session_key(session_id))
        # One turn at a time per session, in order; a turn queued past its deadline
        # is answered DEADLINE_EXCEEDED then, not when the session frees.
        with deadline.holding(session.lock):
            self.sessions.refresh(session)  # another process may have answered the last turn
            # The task dialogue runs on the refreshed state: a booking goes on where the
            # last turn (in this process or another) left it.
            task = timed(timings, "dialogue", self.tasks.turn, session, message,
                         time_zone) if self.tasks is not None else None
            if task is not None:
                result = yield from self._task_turn(session_id, session, message, task,
                                                    timings, start)
            else:
                result = yield from self._routed_turn(session_id, session, message, timings,
                                                      start)
        for chunk in word_chunks(result.reply):
            yield {"type": "delta", "text": chunk}
        yield result

    def _routed_turn(self, session_id: str, session, message: str, timings: dict,
                     start: float):
        """Yields the sources event of a turn the router decides, updates and logs the
        session (under its lock), and returns the `TurnResult`."""
        # "the second one" right after a search: that answer's source 2.
        pointed = followup.ordinal_reference(message, len(session.last_results)) \
            if session.last_route == SEARCH else None
        revoked = bool(pointed) and not self._still_readable(session.last_results)
        if revoked:  # the sources shown before are not all readable now: show none
            signals = TurnSignals([], None, True, session.last_query, None, None, None)
            session.last_results, pointed = [], None
        elif pointed:
            signals = TurnSignals(session.last_results, session.last_results[0].score, False,
                               session.last_query, None, None, None)
        else:
            signals = turn_signals.gather(self.backends, self.router, self._pool, self.search_k,
                                          session, message, timings)
        chitchat = signals.smalltalk[1] if signals.smalltalk else None
        route = SEARCH if pointed or revoked else self.router.route(
            signals.top, signals.dialogue, signals.intent, message, session.last_route,
            chitchat_score=chitchat, domain_score=signals.domain)
        intent = signals.intent
        # The intent model is in scope only where it decided the turn: a refusal, or
        # the intent's skill.
        intent_name = intent.intent if route == OUT_OF_SCOPE and intent is not None \
            and intent.out_of_scope is False else ""
        skill = self.skills.get(intent_name, self.tasks is not None) \
            if self.skills is not None and route == OUT_OF_SCOPE and intent_name else None
        if skill is not None and skill.kind == "task":  # the intent starts a schema task
            task = timed(timings, "dialogue", self.tasks.turn, session, message, "", skill.text)
            if task is not None:
                return (yield from self._task_turn(session_id, session, message, task,
                                                   timings, start))
            skill = self.skills.get(intent_name, tasks_on=False)
        if skill is not None:
            route = SKILL
        shown, numbers, not_found = [], [], False
        if revoked:
            reply, not_found = self.knowledge_base.text("not_found"), True
        elif pointed:
            shown = signals.passages
            reply, numbers = search_replies.pointed_reply(self.backends, self.knowledge_base,
                                                          session, pointed, timings)
        elif route == SEARCH:
            reply, shown, numbers, not_found = search_replies.search_reply(
                self.backends, self.router, self.knowledge_base, self.context_passages,
                signals, message, session, timings)
        elif route == OUT_OF_SCOPE and not intent_name:
            # Nothing matched (no intent claimed it): say so, with the closest matches.
            reply, shown, not_found = self.knowledge_base.text("not_found"), \
                signals.passages[:self.context_passages], True
        yield {"type": "sources", "route": route, "intent": intent_name,
               "not_found": not_found,
               "sources": [citation_dict(n, p) for n, p in enumerate(shown, 1)]}
        if route == CHAT and self.tasks is not None:
            reply = self.tasks.help_text()
        elif route == CHAT:
            reply = timed(timings, "chat", self.backends.chat,
                          grounding.dialogue_context(session.dialogue + [("USER", message)]))
            session.add_dialogue_turn("USER", message, self.sessions.max_turns)
            session.add_dialogue_turn("SYSTEM", reply, self.sessions.max_turns)
        elif route == SMALLTALK:
            reply = smalltalk.reply(self.knowledge_base, signals.smalltalk[0])
        elif route == SKILL:
            reply = skill.text
        elif route == OUT_OF_SCOPE and not not_found:
            reply = self.knowledge_base.text("refusal")
        citations = [(n, shown[n - 1]) for n in numbers]
        related = grounding.related_questions(
            signals.passages if route == SEARCH or not_found else [],
            None if not_found or not numbers else numbers[0], asked=message)
        # The state is updated before the reply is streamed: a client that goes
        # away mid-stream still leaves a consistent session.
        session.add_turn("USER", message, self.sessions.max_turns)
        session.add_turn("SYSTEM", reply, self.sessions.max_turns)
        session.last_intent, session.last_route = intent_name, route
        session.last_results = shown
        session.last_query = signals.query if route == SEARCH else ""
        session.last_reply = reply
        session.turn_count += 1
        principal, turn_id = identity.current(), new_turn_id()
        audited = audit.entry("assistant", route, [message], [[p.doc_id for _, p in citations]],
                     "sources no longer readable: none shown" if revoked else
                     "unrestricted" if principal.unrestricted else
                     f"readers={principal.readers()}", [not_found], turn_id=turn_id)
        timings["total"] = (time.perf_counter() - start) * 1e3
        result = TurnResult(reply, route, intent_name, citations,
                            "extractive" if numbers else "", related,
                            {k: round(v, 2) for k, v in timings.items()},
                            float(signals.top) if signals.top is not None else 0.0,
                            not_found, turn_id,
                            handoff=skill is not None and skill.kind == "handoff")
        # Logged (committed) before any of the reply is sent: a turn a client saw
        # is in the log even if the process dies right after.
        self.sessions.log_turn(session, self._record(message, result, shown, session), audited)
        return result

    def _task_turn(self, session_id: str, session, message: str, task, timings: dict,
                   start: float):
        """Yields the sources event of a turn the dialogue manager answered, updates
        and logs the session (under its lock), and returns the `TurnResult`."""
        yield {"type": "sources", "route": TASK, "intent": task.intent, "not_found": False,
               "sources": []}
        session.add_turn("USER", message, self.sessions.max_turns)
        session.add_turn("SYSTEM", task.reply, self.sessions.max_turns)
        session.last_intent, session.last_route = task.intent, TASK
        session.last_results, session.last_query, session.last_reply = [], "", task.reply
        session.turn_count += 1
        timings["total"] = (time.perf_counter() - start) * 1e3
        turn_id, principal = new_turn_id(), identity.current()
        audited = audit.entry("assistant", TASK, [message], [[]], "unrestricted"
                     if principal.unrestricted else f"readers={principal.readers()}",
                     [False], turn_id=turn_id)
        result = TurnResult(task.reply, TASK, task.intent,
                            timings_ms={k: round(v, 2) for k, v in timings.items()},
                            turn_id=turn_id, task=task.to_json())
        self.sessions.log_turn(session, self._record(message, result, [], session), audited)
        return result

    def _record(self, message: str, result: TurnResult, shown: list,
                session) -> TurnRecord:
        """The turn as logged, under the session's key (a restricted caller's
        sessions are its own: `session_key`)."""
        versions = getattr(self.backends, "versions", dict)()
        return TurnRecord(
            turn_id=result.turn_id, session_id=session.session_id, message=message,
            route=result.route, intent=result.intent, state=session.tracked_state(),
            sources=[{"n": n, "doc_id": p.doc_id, "title": p.title, "score": round(p.score, 4)}
                     for n, p in enumerate(shown, 1)],
            cited=[n for n, _ in result.citations], not_found=result.not_found,
            reply=result.reply, latency_ms=result.timings_ms.get("total", 0.0),
            timings_ms=result.timings_ms, model_versions=versions,
            index_version=str(versions.get("search", "")))

    def feedback(self, session_id: str, turn_id: str, rating: str, comment: str = "") -> None:
        """Records a rating of one of this assistant's turns.

        Raises:
            ValueError: a bad rating or comment.
            UnknownTurnError: no such turn in that session.
            StoreError: no conversation store, or it failed.
        """
        store = self._store()
        store.add_feedback(session_key(session_id), turn_id, rating,
                           self.sessions.writer.redact_text(comment or ""))

    def forget(self, session_id: str) -> int:
        """Deletes everything stored of one of the caller's sessions (see
        `StoredSessions.forget`): a restricted caller names only its own (the id
        is keyed by its principal, `session_key`)."""
        self._store()
        return self.sessions.forget(session_key(session_id))

    def _store(self):
        store = getattr(self.sessions, "store", None)
        if store is None:
            raise StoreError("This assistant keeps no conversation store (it was started "
                             "without one): feedback and deletion are not available.")
        return store

    def close(self) -> None:
        self._pool.shutdown(wait=False)
        self.sessions.close()
