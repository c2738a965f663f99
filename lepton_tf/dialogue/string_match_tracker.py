"""A string-matching state tracker: the simple baseline every learned tracker must beat.

Per user turn and service it

- keeps every value given earlier (carry-over) and the active intent;
- picks the intent whose name and description share the most words with the
  user's words (switching only on a clear match);
- fills a categorical slot when one of its possible values (or, for numbers,
  the number's word) occurs in the user's words; a True/False slot when its
  name's words occur (False after "no", "not", "without");
- fills a free-text slot when one of the schema's example values occurs;
- marks the slot the system just asked about as ``dontcare`` when the user
  says "any", "doesn't matter" and the like;
- requests the slots whose name words the user asks about.

It reads only the schema and the two utterances, so it works on any service.

    >>> from lepton_tf.dialogue.schema import parse_schema
    >>> schema = parse_schema([{"service_name": "Restaurants_9", "description": "Find restaurants",
    ...     "slots": [{"name": "party_size", "description": "Number of people",
    ...                "is_categorical": True, "possible_values": ["1", "2", "3"]},
    ...               {"name": "phone_number", "description": "Phone number",
    ...                "is_categorical": False, "possible_values": []}],
    ...     "intents": [{"name": "ReserveRestaurant", "description": "Reserve a table at a restaurant",
    ...                  "is_transactional": True, "required_slots": ["party_size"]}]}])
    >>> state = StringMatchTracker().update(DialogueState(), "", "Book a table for two. What's their phone number?", schema)
    >>> state.service("Restaurants_9").to_json()
    {'active_intent': 'ReserveRestaurant', 'requested_slots': ['phone_number'], 'slot_values': {'party_size': ['2']}}
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from lepton_tf.dialogue.schema import DONTCARE, Service
from lepton_tf.dialogue.state import NO_INTENT, DialogueState, ServiceState

# Utterances are cut here: a tracker reads a turn, not a document, and string
# matching over a pasted 100 kB text would be slow for nothing.
MAX_UTTERANCE_CHARS = 2000

_NUMBER_WORDS = {
    "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6", "seven": "7",
    "eight": "8", "nine": "9", "ten": "10", "single": "1", "couple": "2",
}
_STOP = {
    "a", "an", "the", "to", "of", "for", "in", "on", "at", "and", "or", "is", "are", "be", "by", "with",
    "from", "it", "i", "you", "me", "my", "your", "do", "does", "can", "could", "would", "will", "want",
    "like", "need", "please", "some", "get", "find", "has", "have", "number", "name", "type", "that",
    "this", "there", "what", "which", "any", "as", "if", "whether", "user", "new", "s",
}
_NEGATIONS = {"no", "not", "without", "dont", "don't", "doesn't", "doesnt", "isn't", "non"}
_DONTCARE = re.compile(
    r"\b(any(thing|where| one| time| is fine)?|doesn'?t matter|don'?t care|no preference|whatever|"
    r"either (is|one|way)|i'?m (not picky|flexible))\b", re.I)
_QUESTION = re.compile(r"\?|\b(what|what's|which|where|when|how|tell me|know|is it|is there|are there|does it|do they)\b",
                       re.I)
_WORD = re.compile(r"[a-z0-9']+")
_BOOLEAN = ("True", "False")


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _name_words(name: str) -> list[str]:
    """``ReserveRestaurant`` / ``phone_number`` -> their lower-case words."""
    spaced = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", name).replace("_", " ")
    return _words(spaced)


def _content(words) -> set[str]:
    return {w for w in words if w not in _STOP and len(w) > 1}


def _contains(text: str, phrase: str) -> bool:
    return re.search(rf"(?<![\w]){re.escape(phrase.lower())}(?![\w])", text) is not None


class StringMatchTracker:
    """The string-matching baseline tracker (implements ``Tracker``)."""

    def update(self, state: DialogueState, system_utterance: str, user_utterance: str,
               schemas: Mapping[str, Service]) -> DialogueState:
        """Return the state after the user's turn (see the module docstring).

        Args:
            state: the state before the turn.
            system_utterance: the system's preceding utterance ("" at the start).
            user_utterance: the user's utterance.
            schemas: the services in play, by name.

        Returns:
            The new state.
        """
        user = user_utterance[:MAX_UTTERANCE_CHARS].lower()
        system = system_utterance[:MAX_UTTERANCE_CHARS].lower()
        for name, service in schemas.items():
            state = state.with_service(name, self._update_service(state.service(name), system, user, service))
        return state

    def _update_service(self, before: ServiceState, system: str, user: str, service: Service) -> ServiceState:
        user_words = _words(user)
        values = dict(before.slot_values)
        values.update(self._slot_values(user, user_words, service))
        asked = [s.name for s in service.slots if _QUESTION.search(system) and _mentions(system, s.name)]
        if _DONTCARE.search(user) and len(asked) == 1 and asked[0] not in values:
            values[asked[0]] = (DONTCARE,)
        return ServiceState(
            active_intent=self._intent(before.active_intent, user_words, service),
            requested_slots=self._requested(user, user_words, service, values),
            slot_values=values,
        )

    @staticmethod
    def _intent(current: str, user_words: list[str], service: Service) -> str:
        said = _content(user_words)
        scored = []
        for intent in service.intents:
            name_hits = len(said & _content(_name_words(intent.name)))
            description_hits = len(said & _content(_words(intent.description)))
            scored.append((2 * name_hits + description_hits, intent.name))
        best_score, best = max(scored, key=lambda pair: pair[0]) if scored else (0, NO_INTENT)
        if current == NO_INTENT:
            # A frame exists because the user turned to this service: take the best guess.
            return best if best_score > 0 else service.intents[0].name
        return best if best_score >= 3 and best != current else current

    @staticmethod
    def _slot_values(user: str, user_words: list[str], service: Service) -> dict[str, tuple[str, ...]]:
        found: dict[str, tuple[str, ...]] = {}
        said = set(user_words)
        for slot in service.slots:
            if slot.is_categorical and set(slot.possible_values) == set(_BOOLEAN):
                words = _content(_name_words(slot.name))
                hits = [i for i, w in enumerate(user_words) if w in words]
                if words and hits:
                    negated = any(w in _NEGATIONS for w in user_words[max(0, hits[0] - 3):hits[0]])
                    found[slot.name] = ("False" if negated else "True",)
                continue
            for value in sorted(slot.possible_values, key=len, reverse=True):
                if _contains(user, value):
                    found[slot.name] = (value,)
                    break
                digit_words = [w for w, d in _NUMBER_WORDS.items() if d == value]
                if slot.is_categorical and said & set(digit_words) and _single_number(user_words):
                    found[slot.name] = (value,)
                    break
        return found

    @staticmethod
    def _requested(user: str, user_words: list[str], service: Service,
                   values: Mapping[str, tuple[str, ...]]) -> tuple[str, ...]:
        if not _QUESTION.search(user):
            return ()
        said = set(user_words)
        requested = []
        for slot in service.slots:
            words = _content(_name_words(slot.name))
            if words and words <= said and slot.name not in values:
                requested.append(slot.name)
        return tuple(requested)


def _mentions(text: str, slot_name: str) -> bool:
    words = _content(_name_words(slot_name))
    return bool(words) and words <= set(_words(text))


def _single_number(user_words: list[str]) -> bool:
    """True when the user said exactly one number (so a number word likely fills the slot)."""
    numbers = [w for w in user_words if w in _NUMBER_WORDS or w.isdigit()]
    return len(numbers) == 1
