"""The dialogue manager: schema + tracked state -> system acts and backend calls.

Per user turn, after the tracker has updated the state:

- a cancel drops the task (nothing booked); a task switch leaves the old one as
  it is (its values stay in the state, so the user can come back to it);
- while a confirmation is pending: a yes calls the backend once, with the
  idempotency key of the turn that asked (a repeated yes after a failure asks the
  same transaction again, never a second one); a changed value is confirmed anew;
- while results are on offer: "another one?" offers the next, a question about
  the offered one is answered from its row, a yes to book it carries its values
  into the transaction;
- else: dates and times are resolved against the caller's clock; the required
  slots still missing are asked for, one at a time, never one the user gave; a
  transaction missing the entity's name is first searched for (the Italian place
  in San Jose), then offered; a complete search is run and its first result
  offered; a complete transaction is confirmed with every value.

Nothing is stated that is not in the user's words, the schema's defaults or a
backend's rows; a backend that fails is said to have failed.
"""

from __future__ import annotations

import dataclasses
import datetime
import re
from collections.abc import Mapping

from lepton_tf.dialogue import acts as A
from lepton_tf.dialogue import user_acts
from lepton_tf.dialogue.acts import Act
from lepton_tf.dialogue.backend import BackendCall, idempotency_key
from lepton_tf.dialogue.dates import ISO_DATE, is_date_slot, is_time_slot, resolve_date, resolve_time
from lepton_tf.dialogue.schema import DONTCARE, Intent, Service
from lepton_tf.dialogue.state import NO_INTENT, DialogueState
from lepton_tf.dialogue.task_memory import Decision, TaskMemory

__all__ = ["Decision", "Policy", "TaskMemory"]

MAX_BARE_ANSWER_WORDS = 6
# Small talk is never a slot's value ("hello there" is not a date or a restaurant).
_SMALL_TALK = re.compile(r"^\W*(hi|hello|hey|thanks|thank you|cheers|bye|goodbye|good (morning|"
                         r"afternoon|evening|night)|how are you)\b", re.I)
_NAME_SLOTS = re.compile(r"(_name|^title$|^airlines$|^movie_title$|^track$|^song_name$)")
_HIDDEN_IN_OFFER = ("phone_number", "street_address", "address", "address_of_location")


def _values(state: DialogueState, service: str) -> dict[str, str]:
    return {s: v[0] for s, v in state.service(service).slot_values.items() if v}


def _started(state: DialogueState, service: str, intent: str) -> DialogueState:
    """``state`` with ``intent`` active in ``service``, the service in play (last)."""
    now = state.service(service)
    others = {k: v for k, v in state.services.items() if k != service}
    return DialogueState({**others, service: dataclasses.replace(now, active_intent=intent)})


class Policy:
    """Args:
        schemas: service name -> schema (the services the assistant serves).
        tracker: a ``Tracker``.
        backends: has ``call(BackendCall) -> BackendResult`` (``Backends``).
        skill_only: service -> the intents of it that intent skills are bound to,
            for a service offered only for those: a turn opens it only on one of
            them (the tracker's or ``task``); once open, the tracker carries it on.
    """

    def __init__(self, schemas: Mapping[str, Service], tracker, backends,
                 skill_only: Mapping[str, frozenset] | None = None):
        self.schemas, self.tracker, self.backends = schemas, tracker, backends
        self.skill_only = dict(skill_only or {})

    # -- the turn ----------------------------------------------------------------------
    def turn(self, memory: TaskMemory, session_id: str, text: str,
             now: datetime.datetime | None = None, task: tuple[str, str] | None = None
             ) -> Decision:
        """Decide the system's acts for the user's ``text``; updates ``memory``.

        Args:
            memory: the conversation's memory (changed in place).
            session_id: for the idempotency keys.
            text: the user's turn.
            now: the caller's local time (default: this machine's).
            task: ``(service, intent)`` the turn starts whatever the tracker read (an
                intent classifier's intent bound to it); the tracker's values stay.

        Returns:
            The decision; no acts when the turn is about no task.
        """
        now = now or datetime.datetime.now().astimezone()
        memory.turn += 1
        kind = user_acts.reply_kind(text)
        before = memory.state
        # A started task is the tracker's task in play: its values are read for it.
        state = self.tracker.update(_started(before, *task) if task else before,
                                    memory.last_system, text, self.schemas)
        if task is not None:
            state = _started(state, *task)
        memory.state = state
        service = task[0] if task is not None else self._service_in_play(before, state, memory)
        if task is None and memory.pending and kind and service != memory.service and \
                not any(state.service(n).slot_values != before.service(n).slot_values
                        for n in state.services):
            # "yes" / "another one" answers the question on the table, whatever the
            # tracker made of it.
            memory.state = state = before
            service = memory.service
        if task is None and service in self.skill_only and service != memory.service and \
                state.service(service).active_intent not in self.skill_only[service]:
            # Its words ("bank", "card") are in many questions that are none of its
            # offered intents ("what is my card's PIN?" is no balance enquiry).
            memory.state = before
            return Decision([])
        if kind == user_acts.CANCEL and memory.service:
            return self._cancel(memory)
        if not service:
            return Decision([])
        intent_name = state.service(service).active_intent
        if intent_name == NO_INTENT or intent_name not in self.schemas[service].intent_names:
            return Decision([])
        changed = {s for s, v in _values(state, service).items()
                   if _values(before, service).get(s) != v}
        self._bare_answer(memory, service, text, changed, kind)
        if not changed and not kind and state == before:
            return Decision([])  # nothing of the task in it: the task waits as it was
        now_values = _values(memory.state, service)
        if memory.selected and any(memory.selected.get(s, now_values[s]) != now_values[s]
                                   for s in changed if s in now_values):
            memory.selected = {}  # another entity than the one offered: match it afresh
        if (service, intent_name) != (memory.service, memory.intent):
            switched_from_offer = memory.pending == "offer" and service == memory.service
            offer = memory.offers[memory.offer_index] if switched_from_offer else {}
            memory.pending, memory.confirmed = "", {}
            memory.service, memory.intent = service, intent_name
            memory.selected = {}
            if offer and self.schemas[service].intent(intent_name).is_transactional:
                self._carry_offer(memory, offer)  # "book it": the offered entity's values
        elif memory.pending == "no_results" and not changed:
            return self._say(memory, [Act(A.NO_RESULTS, "change")], keep_pending=True)
        elif memory.pending == "offer":
            decision = self._on_offer(memory, kind, changed)
            if decision is not None:
                return decision
        elif memory.pending == "confirm" and kind == user_acts.AFFIRM and \
                self._still_confirmed(memory, now):
            return self._transact(memory, session_id)
        elif memory.pending == "confirm" and not changed and kind == user_acts.NEGATE:
            memory.pending = "confirm"
            return self._say(memory, [Act(A.REQUEST, "")])
        elif not changed and state.service(service).requested_slots and memory.last_result:
            return self._inform(memory, memory.last_result)
        return self._advance(memory, session_id, now)

    # -- the steps ---------------------------------------------------------------------
    def _service_in_play(self, before: DialogueState, state: DialogueState, memory) -> str:
        """The service this turn is about: one whose intent or values the tracker moved
        (the task in progress first), else the task in progress. A tracker may update
        every service each turn (the learned one does); one that left a service as it
        was did not mean it."""
        touched = [n for n in state.services if n in self.schemas
                   and state.service(n) != before.service(n)]
        active = [n for n in touched if state.service(n).active_intent != NO_INTENT]
        moved = [n for n in active
                 if state.service(n).active_intent != before.service(n).active_intent
                 or state.service(n).slot_values != before.service(n).slot_values]
        if memory.service in moved:
            return memory.service
        if moved:
            return moved[-1]
        if memory.service in self.schemas:
            return memory.service
        return active[-1] if active else ""

    def _bare_answer(self, memory: TaskMemory, service: str, text: str, changed: set, kind: str):
        """A short reply to the slot just asked for is its value ("Fresno.")."""
        slot = memory.requested
        if not slot or changed or kind or len(text.split()) > MAX_BARE_ANSWER_WORDS \
                or text.strip().endswith("?") or _SMALL_TALK.search(text):
            return
        said = text.strip().strip(".!")
        spec = self.schemas[service].slot(slot) if slot in self.schemas[service].slot_names else None
        if spec is None:
            return
        if spec.is_categorical:
            said = next((v for v in spec.possible_values if v.lower() == said.lower()), "")
        elif is_date_slot(slot) and resolve_date(said, datetime.datetime.now()) is None or \
                is_time_slot(slot) and resolve_time(said) is None:
            said = ""  # not a date (a time): not an answer to the question
        if said:
            values = dict(memory.state.service(service).slot_values)
            values[slot] = (said,)
            memory.state = memory.state.with_service(service, dataclasses.replace(
                memory.state.service(service), slot_values=values))
            changed.add(slot)

    def _carry_offer(self, memory: TaskMemory, offer: Mapping[str, str]) -> None:
        memory.selected = dict(offer)
        service = self.schemas[memory.service]
        intent = service.intent(memory.intent)
        slots = set(intent.required_slots) | set(intent.optional_slots)
        current = memory.state.service(memory.service)
        values = dict(current.slot_values)
        for slot, value in offer.items():
            if slot in slots and slot not in values:
                values[slot] = (value,)
        memory.state = memory.state.with_service(memory.service, dataclasses.replace(
            current, slot_values=values))

    def _on_offer(self, memory: TaskMemory, kind: str, changed: set) -> Decision | None:
        offer = memory.offers[memory.offer_index]
        if kind == user_acts.ANOTHER:
            if memory.offer_index + 1 >= len(memory.offers):
                return self._say(memory, [Act(A.NO_RESULTS, "more")], keep_offer=True)
            memory.offer_index += 1
            return self._offer(memory)
        requested = memory.state.service(memory.service).requested_slots
        if requested and not changed:
            return self._inform(memory, offer, keep_offer=True)
        if kind == user_acts.AFFIRM and not changed:
            transactional = self._transaction_for(memory.service, offer)
            if transactional is not None:
                memory.intent, memory.pending = transactional.name, ""
                current = memory.state.service(memory.service)
                memory.state = memory.state.with_service(memory.service, dataclasses.replace(
                    current, active_intent=transactional.name))
                self._carry_offer(memory, offer)
                return None
            return self._say(memory, [Act(A.REQ_MORE)], keep_offer=True)
        if kind == user_acts.NEGATE and not changed:
            return self._say(memory, [Act(A.REQ_MORE)], keep_offer=True)
        return None

    def _still_confirmed(self, memory: TaskMemory, now) -> bool:
        """The values now are those the pending confirmation showed (a yes that also
        repeats a confirmed value, "yes, for 2", still says yes to them)."""
        values, bad = self._resolved(memory, now)
        intent = self.schemas[memory.service].intent(memory.intent)
        return not bad and self._arguments(intent, values, now) == memory.confirmed

    def _transaction_for(self, service: str, offer: Mapping[str, str]) -> Intent | None:
        """The service's transactional intent the offered row can fill the most of."""
        best, best_share = None, 0.0
        for intent in self.schemas[service].intents:
            if intent.is_transactional and intent.required_slots:
                share = len(set(intent.required_slots) & set(offer)) / len(intent.required_slots)
                if share > best_share:
                    best, best_share = intent, share
        return best

    def _resolved(self, memory: TaskMemory, now: datetime.datetime) -> tuple[dict, list]:
        """Resolved values of the service in play, and the slots whose value did not parse."""
        out, bad = {}, []
        for slot, value in _values(memory.state, memory.service).items():
            if value == DONTCARE:
                out[slot] = value
            elif is_date_slot(slot):
                resolved = resolve_date(value, now)
                (out.__setitem__(slot, resolved) if resolved else bad.append(slot))
            elif is_time_slot(slot):
                resolved = resolve_time(value, now)
                (out.__setitem__(slot, resolved) if resolved else bad.append(slot))
            else:
                out[slot] = value
        return out, bad

    def _arguments(self, intent: Intent, values: Mapping[str, str], now) -> dict[str, str]:
        """The intent's slots with their values; a transaction also gets its concrete
        defaults where none was given, shown in the confirmation (SGD writes "today"
        as the day its dialogues happened, 2019-03-01). A search leaves them out:
        what the user did not ask for does not narrow it."""
        args = {s: values[s] for s in (*intent.required_slots, *intent.optional_slots)
                if s in values and values[s] != DONTCARE}  # "any" narrows nothing
        if not intent.is_transactional:
            return args
        for slot, default in intent.optional_slots.items():
            if slot not in args and default != DONTCARE:
                args[slot] = now.date().isoformat() if ISO_DATE.match(default) else default
        return args

    def _advance(self, memory: TaskMemory, session_id: str, now) -> Decision:
        service = self.schemas[memory.service]
        intent = service.intent(memory.intent)
        values, bad = self._resolved(memory, now)
        if bad:  # said, but not a date or a time we can read: ask what was meant
            said = _values(memory.state, memory.service).get(bad[0], "")
            return self._say(memory, [Act(A.NOT_UNDERSTOOD, bad[0], (said,)),
                                      Act(A.REQUEST, bad[0])], requested=bad[0])
        missing = [s for s in intent.required_slots if s not in values]
        if intent.is_transactional and missing:
            search = self._search_for(service, missing, values)
            if search is not None:
                return self._search(memory, search, values, now)
        if missing:
            return self._say(memory, [Act(A.REQUEST, missing[0])], requested=missing[0])
        if intent.is_transactional:
            args = self._arguments(intent, values, now)
            if memory.pending == "confirm" and args == memory.confirmed and memory.confirm_key:
                key = memory.confirm_key  # the same confirmation asked again: the same key
            else:
                key = idempotency_key(f"{session_id}~{memory.conversation}", memory.turn)
            memory.pending, memory.confirmed, memory.confirm_key = "confirm", args, key
            return self._say(memory, [Act(A.CONFIRM, s, (v,)) for s, v in args.items()],
                             keep_pending=True)
        return self._search(memory, intent, values, now)

    def _search_for(self, service: Service, missing: list, values: Mapping) -> Intent | None:
        """A search intent that returns the missing slots and whose own required slots
        are all given: the way to find the entity a transaction needs."""
        for intent in service.intents:
            if not intent.is_transactional and set(missing) & set(intent.result_slots) and \
                    all(s in values for s in intent.required_slots):
                return intent
        return None

    def _search(self, memory: TaskMemory, intent: Intent, values, now) -> Decision:
        args = self._arguments(intent, values, now)
        result = self.backends.call(BackendCall(memory.service, intent.name, args))
        if not result.ok:
            return self._say(memory, [Act(A.BACKEND_ERROR, "search") if result.error !=
                                      "unsupported" else Act(A.UNSUPPORTED)],
                             call=result, arguments=args)
        if not result.rows:
            memory.pending = "no_results"  # until the user changes something
            return self._say(memory, [Act(A.NO_RESULTS, s, (v,)) for s, v in args.items()
                                      if v != DONTCARE], call=result, arguments=args,
                             keep_pending=True)
        memory.offers, memory.offer_index = [dict(r) for r in result.rows], 0
        memory.searched = dict(args)
        return self._offer(memory, result, args,
                           [Act(A.INFORM_COUNT, "count", (str(len(result.rows)),))])

    def _offer(self, memory: TaskMemory, call=None, arguments=None, first=()) -> Decision:
        row = memory.offers[memory.offer_index]
        given = _values(memory.state, memory.service)
        name = [s for s in row if _NAME_SLOTS.search(s)][:1]
        rest = [s for s in row if s not in name and s not in given and s not in _HIDDEN_IN_OFFER
                and s not in memory.searched]
        # What tells one result from the next first: times, then prices, then the rest.
        rest.sort(key=lambda s: (0 if is_time_slot(s) else 1 if re.search(
            r"price|fare|cost|rating", s) else 2))
        shown = name + rest[:3]
        acts = list(first) + [Act(A.OFFER, s, (row[s],)) for s in shown]
        if self._transaction_for(memory.service, row) is not None:
            acts.append(Act(A.OFFER_INTENT, "intent", (self._transaction_for(memory.service,
                                                                             row).name,)))
        memory.pending = "offer"
        return self._say(memory, acts, call=call, arguments=arguments, offered=row,
                         keep_offer=True)

    def _inform(self, memory: TaskMemory, row: Mapping[str, str], keep_offer=False) -> Decision:
        asked = memory.state.service(memory.service).requested_slots
        acts = [Act(A.INFORM, s, (row[s],)) for s in asked if s in row] or \
            [Act(A.INFORM, s) for s in asked]  # asked, and not in the row: "not known"
        return self._say(memory, acts, offered=row if keep_offer else {}, keep_offer=keep_offer)

    def _transact(self, memory: TaskMemory, session_id: str) -> Decision:
        args = dict(memory.confirmed)
        call = BackendCall(memory.service, memory.intent, args, True, memory.confirm_key,
                           memory.selected)
        result = self.backends.call(call)
        if not result.ok:  # the confirmation stays: a later yes asks again, same key
            act = Act(A.BACKEND_ERROR, "transaction") if result.error != "unsupported" \
                else Act(A.UNSUPPORTED)
            return self._say(memory, [act], call=result, arguments=args, keep_pending=True)
        if not result.rows:  # declined: the business's reason, when it gave one
            memory.pending = ""
            failure = Act(A.NOTIFY_FAILURE, "reason", (result.declined,)) if result.declined \
                else Act(A.NOTIFY_FAILURE)
            return self._say(memory, [failure, Act(A.REQ_MORE)], call=result, arguments=args)
        memory.pending, memory.last_result = "", dict(result.rows[0])
        booked = result.rows[0]
        shown = [Act(A.INFORM, s, (booked[s],)) for s in booked
                 if s not in args and s in ("phone_number", "street_address", "address",
                                            "total_price", "price", "fare")]
        return self._say(memory, [Act(A.NOTIFY_SUCCESS)] + shown + [Act(A.REQ_MORE)],
                         call=result, arguments=args)

    def _cancel(self, memory: TaskMemory) -> Decision:
        service, intent = memory.service, memory.intent
        current = memory.state.service(service)
        memory.state = memory.state.with_service(service, dataclasses.replace(
            current, active_intent=NO_INTENT))
        memory.service = memory.intent = memory.pending = memory.requested = ""
        memory.offers, memory.confirmed, memory.selected = [], {}, {}
        return Decision([Act(A.CANCELLED)], service, intent)

    def _say(self, memory: TaskMemory, acts, requested: str = "", call=None, arguments=None,
             offered=None, keep_offer=False, keep_pending=False) -> Decision:
        memory.requested = requested
        if not keep_offer and not keep_pending:
            memory.pending = ""
        if not keep_offer:
            memory.offers, memory.offer_index = ([], 0) if not keep_pending else \
                (memory.offers, memory.offer_index)
        return Decision(acts, memory.service, memory.intent,
                        dict(arguments if arguments is not None else memory.confirmed), call,
                        dict(offered or {}))
