"""Replies that say only what is true: templates from the acts and the schema, and a check.

:func:`template_reply` writes a reply from the system acts and the service's schema
(slot names and intent descriptions); every value in it comes from an act, shown
as a person reads it (``2026-12-08`` as "Tuesday, December 8, 2026", ``19:00`` as
"7 pm", ``True`` as "yes").

:func:`value_errors` is the check any generated reply must pass: the values it
dropped (an act's value the reply does not state) and the values it added (a
number, time or name the acts do not hold). :func:`faithful_reply` keeps a
candidate reply only if it has none, else falls back to the template. The slot
error rate (Kale & Rastogi, 2020) counts the same two errors over the act slots.

    >>> from lepton_tf.dialogue.acts import Act
    >>> acts = [Act("CONFIRM", "restaurant_name", ("Arcadia",)), Act("CONFIRM", "time", ("19:00",))]
    >>> template_reply(acts)
    'Please confirm: restaurant name Arcadia, time 7 pm. Shall I go ahead?'
    >>> value_errors("Booked Arcadia at 8 pm.", acts)
    (['7 pm'], ['8 pm'])
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from lepton_tf.dialogue import acts as A
from lepton_tf.dialogue.acts import Act
from lepton_tf.dialogue.dates import is_date_slot, is_time_slot, spoken_date, spoken_time
from lepton_tf.dialogue.schema import DONTCARE, Service

_CITY = {"city", "location", "destination", "where_to", "city_of_event", "pickup_city", "area"}
_ORIGIN, _DEST = ("origin", "from"), ("destination_city", "to_location", "destination", "to_city", "to")
# Words a template writes itself: not values, so never "added" by the check.
_VALUE_TOKEN = re.compile(r"\$?\d[\d,.:]*(?:\s?(?:am|pm))?|\b[A-Z][a-z'&.-]+(?:\s+[A-Z][a-z'&.-]+)*")


def label(slot: str) -> str:
    """``restaurant_name`` -> ``restaurant name``."""
    return slot.replace("_", " ")


def render(slot: str, value: str) -> str:
    """A value as the reply states it."""
    if value == DONTCARE:
        return "any"
    if is_date_slot(slot):
        return spoken_date(value)
    if is_time_slot(slot):
        return spoken_time(value)
    if value in ("True", "False"):
        return "yes" if value == "True" else "no"
    return value


def _question(slot: str, service: Service | None) -> str:
    if is_date_slot(slot):
        return "For which date?" if slot == "date" else f"Which {label(slot)}?"
    if is_time_slot(slot):
        return "At what time?" if slot == "time" else f"What {label(slot)} would you like?"
    if any(k in slot for k in ("party_size", "number_of_seats", "passengers", "travelers",
                               "number_of_tickets", "group_size", "number_of_adults")):
        return "For how many people?"
    if slot in _CITY:
        return "In which city?"
    if slot.startswith(_ORIGIN):
        return "Where are you leaving from?"
    if slot in _DEST or slot.startswith("destination"):
        return "Where are you going?"
    if slot.endswith("_name"):
        return f"Which {label(slot[:-5])}?"
    description = ""
    if service is not None and slot in service.slot_names:
        # "The account type of the user" reads "What account type of the user ...".
        description = re.sub(r"^(the|a|an)\s+", "", service.slot(slot).description.strip()
                             .rstrip("."), flags=re.I)
    return f"What {description[0].lower() + description[1:]} would you like?" if description \
        else f"What {label(slot)} would you like?"


def _said(slot: str, values) -> str:
    """One value, or several ("Dumbo, Hellboy or Us")."""
    shown = [render(slot, v) for v in values]
    return shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " or " + shown[-1]


def _pairs(acts: Iterable[Act]) -> str:
    return ", ".join(f"{label(a.slot)} {_said(a.slot, a.values)}" for a in acts if a.values)


def template_reply(acts: list[Act], service: Service | None = None) -> str:
    """The reply to ``acts`` built from templates (the schema's words where it has them).

    Args:
        acts: the system acts of one turn.
        service: the schema of the service in play (intent descriptions, slots).
    """
    by_kind: dict[str, list[Act]] = {}
    for act in acts:
        by_kind.setdefault(act.act, []).append(act)
    out = []
    for act in by_kind.get(A.INFORM_COUNT, []):
        count = act.values[0] if act.values else "0"
        out.append(f"I found {count} result{'s' if count != '1' else ''}.")
    if A.OFFER in by_kind:
        offers = by_kind[A.OFFER]
        head, rest = offers[0], offers[1:]
        detail = f" ({_pairs(rest)})" if rest else ""
        out.append(f"How about {_said(head.slot, head.values)}{detail}?")
    for act in by_kind.get(A.OFFER_INTENT, []):
        intent = act.values[0] if act.values else ""
        description = ""
        if service is not None and intent in service.intent_names:
            description = service.intent(intent).description.rstrip(".")
        out.append(f"Would you like me to {description[0].lower() + description[1:]}?"
                   if description else "Would you like me to book it?")
    if A.OFFER in by_kind and A.OFFER_INTENT not in by_kind:
        out.append("Say \"another one\" to hear the next.")
    if A.CONFIRM in by_kind:
        out.append(f"Please confirm: {_pairs(by_kind[A.CONFIRM])}. Shall I go ahead?")
    if A.NOTIFY_SUCCESS in by_kind:
        out.append("Done: it is booked.")
    for act in by_kind.get(A.NOTIFY_FAILURE, [])[:1]:
        out.append(f"Sorry, that was not done: {act.values[0]}." if act.values
                   else "Sorry, that could not be booked: the business declined it.")
    for act in by_kind.get(A.INFORM, []):
        out.append(f"The {label(act.slot)} is {_said(act.slot, act.values)}." if act.values
                   else f"I don't have the {label(act.slot)}.")
    for act in by_kind.get(A.NOT_UNDERSTOOD, []):
        out.append(f"Sorry, I couldn't read \"{act.values[0]}\" as a "
                   f"{'date' if is_date_slot(act.slot) else 'time'}.")
    for act in by_kind.get(A.REQUEST, []):
        if not act.slot:
            out.append("What would you like to change?")
        elif act.values:  # a choice offered: "Luxury or Pool?"
            out.append(f"{_question(act.slot, service)} {_said(act.slot, act.values)}?")
        else:
            out.append(_question(act.slot, service))
    if A.NO_RESULTS in by_kind:
        found = [a for a in by_kind[A.NO_RESULTS] if a.values]
        if found:
            out.append(f"Sorry, I found nothing for {_pairs(found)}.")
        elif any(a.slot == "change" for a in by_kind[A.NO_RESULTS]):
            out.append("I still have nothing for that: tell me what to change, or ask me "
                       "something else.")
        else:
            out.append("That was the last one I have.")
    if A.BACKEND_ERROR in by_kind:
        out.append("Sorry, I couldn't reach the system that handles this, so I can't tell "
                   "whether anything was done. Say yes to try again: it will not be done twice."
                   if _was_transaction(acts) else
                   "Sorry, I couldn't reach the system that handles this. Please try again "
                   "in a moment.")
    if A.UNSUPPORTED in by_kind:
        out.append("Sorry, I can't do that here: no system is connected to handle it.")
    if A.CANCELLED in by_kind:
        out.append("OK, I've stopped that request.")
    if A.REQ_MORE in by_kind:
        out.append("Anything else I can help with?")
    if A.GOODBYE in by_kind:
        out.append("Goodbye!")
    return " ".join(out)


def _was_transaction(acts) -> bool:
    return any(a.act == A.BACKEND_ERROR and a.slot == "transaction" for a in acts)


def act_values(acts: Iterable[Act]) -> list[str]:
    """Every value the acts state, as the reply shows it."""
    return [render(a.slot, v) for a in acts for v in a.values
            if a.act not in (A.OFFER_INTENT,) and v and a.slot not in ("", "more")]


def value_errors(reply: str, acts: list[Act], known_words: Iterable[str] = ()
                 ) -> tuple[list[str], list[str]]:
    """``(dropped, added)``: act values the reply does not state, and value-like spans
    (numbers, times, capitalised names) the acts do not hold.

    Args:
        reply: the candidate reply.
        acts: the acts it must say.
        known_words: words the reply may use besides the values (schema words).
    """
    values = act_values(acts)
    low = reply.lower()
    dropped = [v for v in values if v.lower() not in low]
    allowed = " ".join(values).lower()
    known = {w.lower() for w in known_words} | set(_TEMPLATE_WORDS)
    added = []
    for match in _VALUE_TOKEN.finditer(reply):
        span = match.group(0).strip(" .,")
        words = re.findall(r"[\w$:']+", span.lower())
        if _sentence_start(reply, match.start()) and words and words[0].isalpha():
            words = words[1:]  # "Booked Arcadia": the first word is capitalised as a sentence's
        words = [w for w in words if w not in known]
        if words and not all(w in allowed for w in words):
            added.append(span)
    return dropped, added


def _sentence_start(text: str, at: int) -> bool:
    before = text[:at].rstrip()
    return not before or before[-1] in ".!?:\""


def faithful_reply(candidate: str, acts: list[Act], service: Service | None = None
                   ) -> tuple[str, bool]:
    """``(reply, replaced)``: the candidate if it states exactly the acts' values, else
    the template reply."""
    words = _schema_words(service)
    dropped, added = value_errors(candidate, acts, words) if candidate else (["<empty>"], [])
    if dropped or added:
        return template_reply(acts, service), True
    return candidate, False


def _schema_words(service: Service | None) -> set[str]:
    if service is None:
        return set()
    text = " ".join([service.description] + [i.description for i in service.intents]
                    + [s.description for s in service.slots])
    return set(re.findall(r"[\w']+", text.lower()))


def slot_error_counts(reply: str, acts: list[Act], known_words: Iterable[str] = ()
                      ) -> tuple[int, int, int]:
    """``(slots, missing, added)`` for the slot error rate: (missing + added) / slots."""
    dropped, added = value_errors(reply, acts, known_words)
    return len(act_values(acts)), len(dropped), len(added)


_TEMPLATE_WORDS = {"i", "how", "would", "please", "shall", "sorry", "say", "what", "which", "for",
                   "at", "in", "where", "done", "the", "that", "ok", "anything", "goodbye",
                   "another", "one", "confirm", "found", "results", "result", "it", "there", "is",
                   "you", "your", "we", "they", "their", "this", "and", "yes", "no", "any", "a",
                   "an", "am", "pm", "do", "can", "does", "great", "sure", "thanks", "thank", "i've", "i'm",
                   "i'll", "couldn't", "can't", "don't", "won't", "let", "me", "my"}


def schema_words(service: Service | None) -> set[str]:
    """The words of a schema's descriptions (allowed in a reply besides the values)."""
    return _schema_words(service)


__all__ = ["template_reply", "value_errors", "faithful_reply", "slot_error_counts", "render",
           "label", "act_values", "schema_words"]
