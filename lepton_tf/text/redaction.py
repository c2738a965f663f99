"""Personal data out of logs, metric labels and the conversation store.

`redact(text)` replaces emails, phone numbers, payment card numbers and IBANs
with typed placeholders:

>>> redact("Mail jo@example.com or call +44 20 7946 0958; card 4111 1111 1111 1111.")
'Mail [EMAIL] or call [PHONE]; card [CARD].'

What counts, and why each detector is built the way it is:

- emails: the address grammar most mail actually uses (local part of
  letters, digits and `._%+-`, a dotted domain with a 2+ letter TLD);
- payment cards: 13 to 19 digits, optionally grouped by spaces or dashes,
  whose prefix and length are a card network's (Visa 4, Mastercard 51-55 and
  2221-2720, Amex 34/37 with 15 digits, Discover/UnionPay/Maestro 6, Diners
  30/36/38, JCB 35) and that pass the Luhn checksum (`stdnum.luhn`): a
  16-digit order number passes both about 1 time in 20;
- IBANs: a country code, two check digits and the country's BBAN (printed
  whole or in groups), with the ISO 13616 mod-97 checksum and the country's
  length (`stdnum.iban`); the longest run of groups that validates is taken,
  so a word after the number is not read as part of it;
- phone numbers: Google's libphonenumber metadata (`phonenumbers`), which
  knows each country's valid number ranges, international (`+44 ...`, and
  `0044 ...` with the international call prefix most countries dial, or
  `011 44 ...` from North America) and, for the policy's region, national
  (`(415) 555-0132`) forms. A national number must also be grouped as that
  country writes it: `2026-000418` (an order id) is digit for digit a valid
  Washington number, but no one writes one as 4-6.

Checksummed kinds run first, so a card number is never half-read as a phone.
The live conversation keeps the real values (a booking needs them); only what
is written down goes through `redact`. Which kinds are redacted is set per
knowledge base (`RedactionPolicy`, `load_policy`).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import re
from typing import Callable

KINDS = ("EMAIL", "IBAN", "CARD", "PHONE")
POLICY_FILE = "redaction.json"

_EMAIL = re.compile(r"(?<![\w.%+-])[A-Za-z0-9](?:[A-Za-z0-9._%+-]{0,63})@"
                    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}\b")
_CARD = re.compile(r"(?<![\w-])\d(?:[ -]?\d){12,18}(?![\w-])")
_IBAN = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]{2}\d{2}(?:[ -]?[A-Za-z0-9]){10,30}")
_GROUP = re.compile(r"[A-Za-z0-9]+")
_PLACEHOLDER = re.compile(r"\[(?:EMAIL|IBAN|CARD|PHONE)\]")
# A dialled international call prefix before a country code: "00" (most of the
# world), "011" (North America). Rewritten to "+" (padded to keep offsets).
_CALL_PREFIX = re.compile(r"(?<![\w+])(?:00|011[ -]?)(?=[1-9])")
_NANP = frozenset({"US", "CA", "AG", "AI", "AS", "BB", "BM", "BS", "DM", "DO", "GD", "GU",
                   "JM", "KN", "KY", "LC", "MP", "MS", "PR", "SX", "TC", "TT", "VC", "VG",
                   "VI"})


@dataclasses.dataclass(frozen=True)
class RedactionPolicy:
    """Which personal data a knowledge base redacts.

    Attributes:
        emails, phones, cards, ibans: redact that kind.
        phone_region: ISO 3166 region whose national phone formats are
            recognised (international `+CC` numbers are recognised anywhere).
    """

    emails: bool = True
    phones: bool = True
    cards: bool = True
    ibans: bool = True
    phone_region: str = "US"

    def get_config(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_config(cls, config: dict) -> "RedactionPolicy":
        """A policy from a JSON object of the attributes.

        Raises:
            ValueError: unknown keys or wrongly typed values.
        """
        if not isinstance(config, dict):
            raise ValueError("a redaction policy is a JSON object")
        known = {f.name: f.type for f in dataclasses.fields(cls)}
        unknown = set(config) - set(known)
        if unknown:
            raise ValueError(f"unknown redaction settings {sorted(unknown)}; "
                             f"known: {sorted(known)}")
        for key, value in config.items():
            wanted = str if key == "phone_region" else bool
            if not isinstance(value, wanted):
                raise ValueError(f"redaction setting {key} must be a {wanted.__name__}")
        return cls(**config)


DEFAULT_POLICY = RedactionPolicy()


def load_policy(index_dir: str | None) -> RedactionPolicy:
    """The policy in `redaction.json` beside a knowledge base's index (defaults:
    every kind, US national phone formats).

    Raises:
        ValueError: the file is not a valid policy (named in the message).
    """
    if not index_dir:
        return DEFAULT_POLICY
    path = os.path.join(index_dir, POLICY_FILE)
    if not os.path.exists(path):
        return DEFAULT_POLICY
    try:
        with open(path, encoding="utf-8") as f:
            return RedactionPolicy.from_config(json.load(f))
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None


@dataclasses.dataclass(frozen=True)
class Finding:
    """One piece of personal data: its kind and `text[start:end]`."""

    kind: str
    start: int
    end: int


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def _card_network(digits: str) -> bool:
    """Whether the prefix and length are those of a payment card network."""
    n, two, four = len(digits), int(digits[:2]), int(digits[:4])
    if digits[0] == "4":
        return n in (13, 16, 19)
    if 51 <= two <= 55 or 2221 <= four <= 2720:
        return n == 16
    if two in (34, 37):
        return n == 15
    if two in (30, 36, 38, 39):
        return 14 <= n <= 19
    if two == 35:
        return 16 <= n <= 19
    if digits[0] == "6" or two == 50:
        return 12 <= n <= 19
    return False


def _luhn_card(candidate: str) -> bool:
    from stdnum import luhn

    digits = _digits(candidate)
    return 13 <= len(digits) <= 19 and _card_network(digits) and luhn.is_valid(digits)


def _iban_end(text: str, start: int, end: int) -> int | None:
    """The end of the longest run of groups from `start` that is a valid IBAN."""
    from stdnum import iban

    ends = [m.end() + start for m in _GROUP.finditer(text[start:end])]
    for stop in reversed(ends):
        if iban.is_valid(re.sub(r"[ -]", "", text[start:stop]).upper()):
            return stop
    return None


def _free(taken: list, start: int, end: int) -> bool:
    return all(end <= s or start >= e for s, e in taken)


def find_personal_data(text: str, policy: RedactionPolicy = DEFAULT_POLICY) -> list[Finding]:
    """The personal data in `text`, in order, not overlapping.

    Args:
        text: any string.
        policy: which kinds to look for.

    Returns:
        `Finding`s sorted by position.
    """
    found: list[Finding] = []
    taken: list[tuple[int, int]] = []

    def add(kind, start, end):
        if _free(taken, start, end):
            found.append(Finding(kind, start, end))
            taken.append((start, end))

    if policy.emails:
        for m in _EMAIL.finditer(text):
            add("EMAIL", m.start(), m.end())
    if policy.ibans:
        for m in _IBAN.finditer(text):
            stop = _iban_end(text, m.start(), m.end())
            if stop is not None:
                add("IBAN", m.start(), stop)
    if policy.cards:
        for m in _CARD.finditer(text):
            if _luhn_card(m.group()):
                add("CARD", m.start(), m.end())
    if policy.phones:
        # Numbers already claimed by a checksummed kind are masked so the phone
        # matcher cannot read part of a card number as a phone number.
        masked = list(text)
        for start, end in taken:
            masked[start:end] = "x" * (end - start)
        for start, end in _phone_spans("".join(masked), policy.phone_region):
            add("PHONE", start, end)
    return sorted(found, key=lambda f: f.start)


def _with_plus(text: str, region: str) -> tuple[str, dict[int, int]]:
    """`text` with dialled international prefixes written as `+` (same length),
    and where each such `+` stands -> where its prefix starts."""
    prefixes = {}

    def plus(m: re.Match) -> str:
        if m.group().startswith("011") and region.upper() not in _NANP:
            return m.group()
        prefixes[m.end() - 1] = m.start()
        return " " * (len(m.group()) - 1) + "+"
    return _CALL_PREFIX.sub(plus, text), prefixes


def _phone_spans(text: str, region: str) -> list[tuple[int, int]]:
    """Spans of valid phone numbers: international ones as written, national ones
    only when grouped as their country writes them."""
    import phonenumbers

    text, prefixes = _with_plus(text, region)
    spans, national = [], []
    for match in phonenumbers.PhoneNumberMatcher(text, region,
                                                 leniency=phonenumbers.Leniency.VALID):
        if match.raw_string.startswith("+"):
            spans.append((prefixes.get(match.start, match.start), match.end))
        else:
            national.append((match.start, match.end))
    if national:
        grouped = {(m.start, m.end) for m in phonenumbers.PhoneNumberMatcher(
            text, region, leniency=phonenumbers.Leniency.STRICT_GROUPING)}
        spans += [span for span in national if span in grouped]
    return spans


def redact(text: str, policy: RedactionPolicy = DEFAULT_POLICY) -> str:
    """`text` with each piece of personal data replaced by `[EMAIL]`, `[PHONE]`,
    `[CARD]` or `[IBAN]` (what `policy` redacts).

    Args:
        text: any string (non-strings are returned unchanged).
        policy: the knowledge base's `RedactionPolicy`.

    Returns:
        The redacted text (placeholders already there stay as they are).
    """
    if not isinstance(text, str) or not text:
        return text
    out, at = [], 0
    for f in find_personal_data(text, policy):
        out.append(text[at:f.start])
        out.append(f"[{f.kind}]")
        at = f.end
    out.append(text[at:])
    return "".join(out)


def redact_value(value, policy: RedactionPolicy = DEFAULT_POLICY,
                 redact_text: Callable[[str], str] | None = None):
    """`redact` applied to every string inside a JSON-like value (dicts, lists).

    Args:
        value: a string, or dicts and lists of them (other values are kept).
        policy: the knowledge base's `RedactionPolicy`.
        redact_text: redacts one string instead of `redact(text, policy)` (a
            memoized one, for values whose strings repeat).
    """
    if redact_text is None:
        redact_text = functools.partial(redact, policy=policy)
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: redact_value(v, policy, redact_text) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(redact_value(v, policy, redact_text) for v in value)
    return value


def is_redacted(text: str) -> bool:
    """Whether `text` holds a placeholder (a record that went through `redact`)."""
    return bool(_PLACEHOLDER.search(text or ""))
