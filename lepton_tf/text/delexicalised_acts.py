"""Delexicalised replies: slot values as placeholders named by their slot.

The reply generator never writes a value itself. It is trained on system turns
whose values are replaced by ``[slot]`` placeholders ("How about
[restaurant_name] in [city]?"), reads acts whose values are those placeholders,
and its output is relexicalised from the acts after decoding. A value therefore
reaches a reply only by being in the acts, and a placeholder left without a value
(repeated, or for a slot no act holds) is an error to count, not text to send.

    >>> acts = [("OFFER", "restaurant_name", ["Arcadia"]), ("OFFER", "city", ["San Jose"])]
    >>> delexicalise("How about Arcadia in San Jose?", acts)
    'How about [restaurant_name] in [city]?'
    >>> relexicalise("How about [restaurant_name] in [ city ]?", acts)
    ('How about Arcadia in San Jose?', [], [])
    >>> relexicalise("[restaurant_name] or [restaurant_name]?", acts)
    ('Arcadia or [restaurant_name]?', ['city'], ['restaurant_name'])
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

# Spaces inside are tolerated: a detokenizer may write "[ city ]".
PLACEHOLDER = re.compile(r"\[\s*([a-z][a-z0-9_ ]*?)\s*\]")
# Yes/no values are said by wording ("they have live music"), not as a value:
# they stay in the acts as they are and are never placeholders.
BOOLEAN_VALUES = frozenset({"True", "False"})
# Small counts that people spell out ("a table for two"): SGD's acts hold the digit.
_NUMBER_WORDS = {"1": "one", "2": "two", "3": "three", "4": "four", "5": "five", "6": "six",
                 "7": "seven", "8": "eight", "9": "nine", "10": "ten"}

Acts = Iterable[tuple[str, str, Sequence[str]]]


def placeholder(slot: str) -> str:
    """``restaurant_name`` -> ``[restaurant_name]``."""
    return f"[{slot}]"


def is_placeholder_value(slot: str, value: str) -> bool:
    """Whether a value goes into a reply through a placeholder: not a yes/no, and not
    an intent offered (its words come from the schema, not the value)."""
    return bool(value) and value not in BOOLEAN_VALUES and slot != "intent"


def delexicalised_acts(acts: Acts) -> list[tuple[str, str, list[str]]]:
    """The acts with each value a placeholder of its slot (yes/no values and intents
    kept)."""
    return [(act, slot, [placeholder(slot) if is_placeholder_value(slot, v) else v for v in values])
            for act, slot, values in acts]


def _slot_values(acts: Acts) -> dict[str, list[str]]:
    """`slot -> values` in act order, each value once per slot."""
    values: dict[str, list[str]] = {}
    for _, slot, vals in acts:
        for v in vals:
            if slot and is_placeholder_value(slot, v) and v not in values.setdefault(slot, []):
                values[slot].append(v)
    return {s: v for s, v in values.items() if v}


def _value_pattern(value: str) -> re.Pattern:
    spelled = _NUMBER_WORDS.get(value)
    body = re.escape(value) if not spelled else f"(?:{re.escape(value)}|{spelled})"
    return re.compile(rf"(?<![\w\[]){body}(?![\w\]])", re.I)


def delexicalise(utterance: str, acts: Acts) -> str | None:
    """`utterance` with every act value replaced by its slot's placeholder.

    Longer values go first, so "San Jose Airport" is not split by "San Jose".

    Args:
        utterance: the system turn as written.
        acts: its `(act, slot, values)`.

    Returns:
        The delexicalised text, or None when some value (not a yes/no) is not
        found in it: the turn says it otherwise ("two people", "the 8th"), and a
        model trained on it would learn to write values itself.
    """
    pairs = sorted(((v, s) for s, vals in _slot_values(acts).items() for v in vals),
                   key=lambda p: -len(p[0]))
    text = utterance
    for value, slot in pairs:
        text, found = _value_pattern(value).subn(placeholder(slot), text, count=1)
        if not found:
            return None
    return text


def relexicalise(text: str, acts: Acts) -> tuple[str, list[str], list[str]]:
    """Fill the placeholders of a generated reply from the acts.

    The k-th placeholder of a slot gets the slot's k-th value.

    Returns:
        `(reply, missing, extra)`: the reply; the slots with a value no placeholder
        stated (once per value); the placeholders with no value to fill (a slot
        repeated past its values, or one no act holds), left in the reply as written.
    """
    values = _slot_values(acts)
    used: dict[str, int] = {}
    extra: list[str] = []

    def fill(match: re.Match) -> str:
        slot = match.group(1).replace(" ", "")
        k = used.get(slot, 0)
        if k < len(values.get(slot, ())):
            used[slot] = k + 1
            return values[slot][k]
        extra.append(slot)
        return match.group(0)

    reply = PLACEHOLDER.sub(fill, text)
    missing = [s for s, vals in values.items() for _ in range(len(vals) - used.get(s, 0))]
    return reply, missing, extra
