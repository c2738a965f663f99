"""A rule-based tracker with lookup tables: the stand-in until a learned one is served.

It implements the :class:`~lepton_tf.dialogue.state.Tracker` protocol over any
schema, with what a business already has, as Rasa's lookup tables do:

- the intent whose name and description share the most words with the turn
  (``book`` counts as ``reserve``), helped by slot values of its service found in
  the turn; a clear new match switches the task, else the task goes on;
- free-text values from lookup tables (the database's values of that slot:
  restaurant names, cities, cuisines), categorical values from the schema,
  disambiguated by the word before them ("from Boston to Chicago");
- dates ("tomorrow", "next Friday", "March 8th", "the 8th"), times ("7 pm",
  "at 7", "make it 8"), counts ("for two", "4 people", "2 rooms", "3 nights") and
  amounts of money ("$200") by pattern, kept as said: the manager resolves them against the caller's clock;
- the slots the user asks about ("what's their phone number?");
- carry-over: values given earlier stay until the user changes them.

The service the latest turn is about is the last one in the state's mapping.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable, Mapping

from lepton_tf.dialogue.dates import is_date_slot, is_time_slot
from lepton_tf.dialogue.schema import Service
from lepton_tf.dialogue.state import NO_INTENT, DialogueState, ServiceState

MAX_UTTERANCE_CHARS = 2000
_WORD = re.compile(r"[a-z0-9']+")
_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_STOP = frozenset("a an the to of for in on at and or is are be by with from it i you me my your do "
                  "does can could would will want like need please some get has have that this "
                  "there what which any as if whether user new given particular one another yes no ok okay "
                   "sure it's that's".split())
_SYNONYMS = {"book": "reserve", "booking": "reserve", "reservation": "reserve", "table": "restaurant",
             "tickets": "buy", "ticket": "buy", "purchase": "buy", "search": "find",
             "look": "find", "looking": "find", "hotels": "hotel", "restaurants": "restaurant",
             "flights": "flight", "cars": "car", "movies": "movie", "events": "event",
             "rent": "car", "rental": "car", "eat": "restaurant", "dinner": "restaurant",
             "lunch": "restaurant", "place": "restaurant", "stay": "hotel", "room": "hotel",
             "fly": "flight", "concert": "event", "game": "event", "attractions": "attraction"}
_NUMBERS = {"one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6",
            "seven": "7", "eight": "8", "nine": "9", "ten": "10", "a couple of": "2", "single": "1"}
_NUM = r"(\d{1,2}|one|two|three|four|five|six|seven|eight|nine|ten)"
_PEOPLE = re.compile(rf"\b(?:for|party of|table for|group of)\s+{_NUM}\b(?!\s*(?:am|pm|a\.m|p\.m|:|nights?|"
                     rf"days?|rooms?|o'?clock))|\b{_NUM}\s+(?:people|persons|guests|adults|passengers|"
                     rf"tickets|seats|travell?ers|riders|of us)\b", re.I)
# An amount of money as said: "$200", "$1,250.50", "200 dollars".
_MONEY = re.compile(r"\$\s?\d[\d,]*(?:\.\d{1,2})?|\b\d[\d,]*(?:\.\d{1,2})?\s*(?:dollars|bucks|usd)\b",
                    re.I)
_ROOMS = re.compile(rf"\b{_NUM}\s+rooms?\b", re.I)
_NIGHTS = re.compile(rf"\b{_NUM}\s+(?:nights?|days?)\b", re.I)
_DAYPART = r"(?:\s+in the (?:morning|afternoon|evening)|\s+at night)?"
_TIME = re.compile(r"\b(?:(?:half past|quarter past|quarter to)\s+)?\d{1,2}(?::\d{2})?\s*(?:am|pm|a\.m\.|p\.m\.|"
                   r"o'?clock)|\b(?:at|around|by|make it|change it to)\s+(?:(?:half past|quarter past|"
                   r"quarter to)\s+)?\d{1,2}(?::\d{2})?(?:\s*(?:am|pm|a\.m\.|p\.m\.)|\b)(?!\s*(?:people|persons|guests|rooms?|nights?|"
                   r"days?|tickets|seats|of us|th|st|nd|rd))" + _DAYPART + r"|\b(?:noon|midnight)\b", re.I)
_WEEKDAY = r"(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)"
_MONTH = (r"(?:january|february|march|april|may|june|july|august|september|october|november|"
          r"december|jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec)")
_DATE = re.compile(
    rf"\b(?:day after tomorrow|tomorrow|today|tonight|this evening|(?:next|this|coming)\s+{_WEEKDAY}|"
    rf"{_WEEKDAY}|{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?|\d{{1,2}}(?:st|nd|rd|th)?\s+of\s+{_MONTH}|"
    rf"the\s+\d{{1,2}}(?:st|nd|rd|th)(?:\s+of\s+this\s+month)?|\d{{4}}-\d{{2}}-\d{{2}}|"
    r"in\s+\d{1,2}\s+days)\b", re.I)
_QUESTION = re.compile(r"\?|\b(what|what's|which|where|when|how|tell me|is there|are there|does it|"
                       r"do they|can i get)\b", re.I)
_ASKED = {"phone_number": ("phone", "number", "call"), "street_address": ("address", "where"),
          "address": ("address", "where"), "price_range": ("expensive", "cheap", "price"),
          "price": ("cost", "price", "much"), "total_price": ("cost", "price", "much", "total"),
          "price_per_night": ("cost", "price", "much", "night"), "fare": ("cost", "fare", "much"),
          "serves_alcohol": ("alcohol", "drinks", "wine", "beer"),
          "has_live_music": ("music",), "star_rating": ("stars", "rating"),
          "rating": ("rating",), "average_rating": ("rating",), "has_wifi": ("wifi",)}
_START, _END = ("from", "leaving", "departing", "out of", "pick up in", "pickup in"), ("to", "into",
                                                                                      "arriving")


def _words(text: str) -> list[str]:
    return [_SYNONYMS.get(w, w) for w in _WORD.findall(text.lower())]


def _normalise(text: str) -> str:
    return " ".join(_TOKEN.findall(text.lower()))


def _ngrams(text: str, longest: int = 6):
    """``(normalised n-gram, start, end)`` of ``text``'s words, longest first."""
    tokens = [(m.group(0), m.start(), m.end()) for m in _TOKEN.finditer(text.lower())]
    for n in range(min(longest, len(tokens)), 0, -1):
        for i in range(len(tokens) - n + 1):
            yield " ".join(t for t, _, _ in tokens[i:i + n]), tokens[i][1], tokens[i + n - 1][2]


def _number(text: str) -> str:
    text = text.lower()
    return _NUMBERS.get(text, text)


def _intent_words(service: Service, intent) -> set[str]:
    name = re.sub(r"([a-z])([A-Z])", r"\1 \2", intent.name)
    return {w.rstrip("s") if len(w) > 4 else w for w in _words(f"{name} {intent.description}")} - _STOP


def _ends(slot: str) -> str:
    """``start`` (origin_city, from_location), ``end`` (destination_city, to_location) or ""."""
    if any(k in slot for k in ("origin", "from", "leaving")):
        return "start"
    if (slot.startswith("destination_") or slot.startswith("to_")) or slot in ("to",):
        return "end"
    return ""


def _kind(slot: str, description: str) -> str:
    """``date``, ``time``, ``money``, ``people``, ``rooms``, ``nights`` or "" (a plain slot)."""
    if slot == "amount" or "amount of money" in description.lower():
        return "money"
    if is_date_slot(slot):
        return "date"
    if is_time_slot(slot):
        return "time"
    if "room" in slot:
        return "rooms"
    if slot in ("number_of_days", "stay_length"):
        return "nights"
    text = f"{slot} {description}".lower()
    if re.search(r"party|passengers|travell?ers|seats|tickets|adults|riders|group|people|guests", text) \
            and re.search(r"number|size|count|num", text):
        return "people"
    return ""


class LookupTracker:
    """Tracks the state with lookup tables and patterns (see the module docstring).

    Args:
        lookups: service -> slot -> known values (e.g. the database's).
        services: the services to consider (None: every service of the schema).
    """

    def __init__(self, lookups: Mapping[str, Mapping[str, Iterable[str]]] | None = None,
                 services: Iterable[str] | None = None):
        self.services = None if services is None else tuple(services)
        # service -> slot -> {normalised value: value}: a turn's word n-grams are looked
        # up, not every value searched for (thousands of names per slot).
        self._lookups: dict = {}
        for service, slots in (lookups or {}).items():
            for slot, values in slots.items():
                table = self._lookups.setdefault(service, {}).setdefault(slot, {})
                for value in values:
                    key = _normalise(value)
                    if value and len(key) >= 3 and not key.isdigit() and key not in _STOP:
                        table.setdefault(key, value)

    @classmethod
    def from_sqlite(cls, db_path: str, schemas: Mapping[str, Service],
                    services: Iterable[str] | None = None) -> "LookupTracker":
        """Lookup tables of the free-text slots users give, from a database's tables."""
        from lepton_tf.dialogue.example_db import identifier, table_name

        lookups: dict = {}
        wanted = list(services) if services is not None else list(schemas)
        with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as db:
            for name in wanted:
                service = schemas.get(name)
                if service is None:
                    continue
                given = {s for i in service.intents for s in (*i.required_slots, *i.optional_slots)}
                columns = {r[1] for r in db.execute(f"PRAGMA table_info({identifier(table_name(name))})")}
                for slot in sorted(given & columns):
                    if service.slot(slot).is_categorical or _kind(slot, "") in ("date", "time"):
                        continue
                    rows = db.execute(f"SELECT DISTINCT {identifier(slot)} FROM "
                                      f"{identifier(table_name(name))}")
                    lookups.setdefault(name, {})[slot] = [r[0] for r in rows if r[0]]
        return cls(lookups, services)

    # -- the protocol ------------------------------------------------------------------
    def update(self, state: DialogueState, system_utterance: str, user_utterance: str,
               schemas: Mapping[str, Service]) -> DialogueState:
        """The state after ``user_utterance`` (see ``Tracker.update``)."""
        text = user_utterance[:MAX_UTTERANCE_CHARS]
        names = [n for n in (self.services or schemas) if n in schemas]
        current = next(reversed(state.services), None) if state.services else None
        found = {n: self._values(schemas[n], text, state.service(n)) for n in names}
        if current in schemas and state.service(current).active_intent != NO_INTENT and \
                not found.get(current) and self._requested(schemas[current], text):
            # A question about the task in play ("what genre is it?") switches nothing.
            service, intent = current, state.service(current).active_intent
        else:
            service, intent = self._intent(schemas, names, text, found, current, state)
        if service is None:
            return state
        before = state.service(service)
        values = dict(before.slot_values)
        values.update({slot: (value,) for slot, value in found[service].items()})
        new = ServiceState(intent, self._requested(schemas[service], text), values)
        others = {k: v for k, v in state.services.items() if k != service}
        return DialogueState({**others, service: new})  # the service in play goes last

    def _intent(self, schemas, names, text, found, current, state):
        words = set(w.rstrip("s") if len(w) > 4 else w for w in _words(text)) - _STOP
        best, best_score = (None, None), 0.0
        for name in names:
            service = schemas[name]
            service_words = {w for w in _words(service.description)} - _STOP
            for intent in service.intents:
                score = len(words & _intent_words(service, intent)) + 0.5 * len(words & service_words)
                score += 0.5 * len(found[name])
                if name == current:  # the task in progress goes on unless another is clearly asked
                    score += 1.0 if intent.name == state.service(name).active_intent else 0.5
                if score > best_score:
                    best, best_score = (name, intent.name), score
        # A new task needs two pieces of evidence ("book" + "table", "hotel" + a city);
        # "book" alone could be a dentist's appointment no service here takes.
        if best_score >= 1.5 or (best_score >= 1.0 and best[0] == current):
            return best
        if current is not None and state.service(current).active_intent != NO_INTENT:
            return current, state.service(current).active_intent
        return None, None

    def _requested(self, service: Service, text: str) -> tuple[str, ...]:
        """The slots asked about: cue words ("how much" -> price), or the slot's own
        name words ("what genre", "which airport")."""
        if not _QUESTION.search(text):
            return ()
        words = set(_WORD.findall(text.lower()))
        asked = [slot for slot, cues in _ASKED.items()
                 if slot in service.slot_names and words & set(cues)]
        for slot in service.slot_names:
            own = {w for w in slot.split("_") if len(w) > 3} - {"name", "number", "city"}
            if slot not in asked and own and own <= words:
                asked.append(slot)
        return tuple(asked)

    def _values(self, service: Service, text: str, before: ServiceState) -> dict[str, str]:
        """Slot -> value said in ``text`` for ``service``."""
        low, values, taken = text.lower(), {}, []

        def free(start, end):
            return all(end <= a or start >= b for a, b in taken)
        kinds = {s.name: _kind(s.name, s.description) for s in service.slots}
        for kind, pattern in (("money", _MONEY), ("time", _TIME), ("date", _DATE), ("rooms", _ROOMS),
                              ("nights", _NIGHTS), ("people", _PEOPLE)):
            slots = [s for s in service.slot_names if kinds[s] == kind and self._given(service, s)]
            for match in pattern.finditer(low):
                if not slots or not free(*match.span()):
                    continue
                said = match.group(0)
                if kind in ("people", "rooms", "nights"):
                    said = _number(next(g for g in match.groups() if g))
                elif kind == "time":
                    said = re.sub(r"^(at|around|by|make it|change it to)\s+", "", said)
                slot = self._which(slots, low, match.start(), values, before, kind)
                if slot:
                    values[slot] = said
                    taken.append(match.span())
        grams = list(_ngrams(text))
        lookups = [s for s in service.slots if s.name not in values and not kinds[s.name]
                   and self._given(service, s.name)
                   and not (s.is_categorical and set(s.possible_values) <= {"True", "False"})]
        # Every slot's matches compete, longest first: "Ace Hotel London" is one hotel's
        # name, not the name "Ace Hotel" and the location "London".
        found = []
        for order, slot in enumerate(lookups):  # a tie goes to the schema's first slot
            table = {_normalise(v): v for v in slot.possible_values} if slot.is_categorical \
                else self._lookups.get(service.name, {}).get(slot.name, {})
            found += [(start - end, start, order, slot.name, table[gram])
                      for gram, start, end in grams
                      if gram in table and self._fits(slot.name, low, start)]
        for length, start, _, name, value in sorted(found):
            if name not in values and free(start, start - length):
                values[name] = value
                taken.append((start, start - length))
        for slot in lookups:
            if slot.name not in values and not slot.is_categorical and _ends(slot.name):
                # A place the lookup table lacks, capitalised after its cue ("to Boston").
                cue = "|".join(_START if _ends(slot.name) == "start" else _END)
                match = re.search(rf"\b(?:{cue})\s+((?:[A-Z][\w'.-]*\s?)+)", text)
                if match and free(*match.span(1)):
                    values[slot.name] = match.group(1).strip()
                    taken.append(match.span(1))
        return values

    @staticmethod
    def _given(service: Service, slot: str) -> bool:
        return any(slot in i.required_slots or slot in i.optional_slots for i in service.intents)

    @staticmethod
    def _fits(slot: str, text: str, start: int) -> bool:
        """A start/end slot takes a value only after its preposition ("from X", "to X")."""
        before = text[:start].rstrip()
        end = _ends(slot)
        if end:
            return before.endswith(_START if end == "start" else _END)
        return True

    @staticmethod
    def _which(slots, text, start, values, before, kind):
        """Which of several same-kind slots a match fills (return / check-out / drop-off
        after their cue, else the first still empty this turn)."""
        if len(slots) == 1:
            return slots[0] if slots[0] not in values else None
        cue = text[max(0, start - 25):start]
        late = [s for s in slots if any(k in s for k in ("return", "out", "dropoff", "end", "inbound"))]
        if late and re.search(r"return|back|until|till|check ?out|drop ?off|end", cue):
            return next((s for s in late if s not in values), None)
        early = [s for s in slots if s not in late] or slots
        return next((s for s in early if s not in values), None)
