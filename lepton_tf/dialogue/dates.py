"""Relative dates and times resolved against the caller's clock, before a backend sees them.

"tomorrow", "next Friday", "the 8th" become ``YYYY-MM-DD``; "7 pm", "19:30",
"half past 7", "noon" become ``HH:MM``, in the caller's time zone. Dates go
through dateparser (maintained, many phrasings); "the 8th" (which dateparser
reads as a month) is the next 8th of a month. A bare hour ("at 7") is taken as
p.m. unless the words say morning: the confirmation shows the resolved time, so a
wrong guess is seen and corrected before anything is booked.

    >>> import datetime
    >>> now = datetime.datetime(2026, 12, 7, 16, 0)
    >>> resolve_date("tomorrow", now), resolve_date("the 8th", now)
    ('2026-12-08', '2026-12-08')
    >>> resolve_time("7", now), resolve_time("8:15 am", now), resolve_time("noon", now)
    ('19:00', '08:15', '12:00')
    >>> spoken_date("2026-12-08"), spoken_time("19:00")
    ('Tuesday, December 8, 2026', '7 pm')
"""

from __future__ import annotations

import datetime
import re

ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
ISO_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
_ORDINAL_DAY = re.compile(r"^(?:on\s+)?(?:the\s+)?(\d{1,2})(?:st|nd|rd|th)?(?:\s+of\s+(?:this|the)\s+month)?$")
_CLOCK = re.compile(
    r"(?:(?P<half>half past|quarter past|quarter to)\s+)?(?P<hour>\d{1,2})(?:[:.](?P<minute>\d{2}))?"
    r"\s*(?P<ampm>a\.?m\.?|p\.?m\.?|o'?clock)?", re.I)
_WORD_HOURS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
               "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12}
_MORNING = re.compile(r"\b(morning|a\.?m\.?|breakfast)\b", re.I)
_NAMED = {"noon": "12:00", "midday": "12:00", "midnight": "00:00"}


def _settings(now: datetime.datetime) -> dict:
    base = now.replace(tzinfo=None)
    return {"RELATIVE_BASE": base, "PREFER_DATES_FROM": "future",
            "RETURN_AS_TIMEZONE_AWARE": False}


def resolve_date(text: str, now: datetime.datetime) -> str | None:
    """``text`` as ``YYYY-MM-DD`` relative to ``now`` (the caller's local time), or None.

    Args:
        text: what the user said ("tomorrow", "March 8th", "2026-12-08").
        now: the caller's current local time.
    """
    text = " ".join(str(text).lower().split()).strip(" .,!?")
    if not text:
        return None
    if ISO_DATE.match(text):
        return text
    if text in ("tonight", "this evening", "this afternoon", "this morning"):
        return now.date().isoformat()
    ordinal = _ORDINAL_DAY.match(text)
    if ordinal:
        day = int(ordinal.group(1))
        year, month = now.year, now.month
        for _ in range(13):  # the next month that has this day, from this one
            try:
                candidate = datetime.date(year, month, day)
            except ValueError:
                candidate = None
            if candidate is not None and candidate >= now.date():
                return candidate.isoformat()
            month, year = (1, year + 1) if month == 12 else (month + 1, year)
        return None
    import dateparser

    parsed = dateparser.parse(text, languages=["en"], settings=_settings(now))
    return parsed.date().isoformat() if parsed else None


def resolve_time(text: str, now: datetime.datetime | None = None) -> str | None:
    """``text`` as ``HH:MM`` (24 h), or None.

    Args:
        text: what the user said ("7 pm", "19:30", "half past 7", "noon", "7").
        now: unused by the rule today; kept so dates and times resolve alike.
    """
    text = " ".join(str(text).lower().split()).strip(" .,!?")
    if ISO_TIME.match(text):
        return text
    for word, value in _NAMED.items():
        if re.search(rf"\b{word}\b", text):
            return value
    for word, hour in _WORD_HOURS.items():
        text = re.sub(rf"\b{word}\b", str(hour), text)
    if "evening" in text or "night" in text or "afternoon" in text:
        text += " pm"
    match = next((m for m in _CLOCK.finditer(text) if m.group("hour")), None)
    if not match:
        return None
    hour, minute = int(match.group("hour")), int(match.group("minute") or 0)
    if hour > 23 or minute > 59:
        return None
    half = match.group("half")
    if half == "half past":
        minute = 30
    elif half == "quarter past":
        minute = 15
    elif half == "quarter to":
        hour, minute = hour - 1, 45
    marker = (match.group("ampm") or "").replace(".", "")
    if "pm" in text.replace(".", "") and not marker.startswith("a"):
        marker = "pm"
    if marker.startswith("p") and hour < 12:
        hour += 12
    elif marker.startswith("a") and hour == 12:
        hour = 0
    elif not marker.startswith(("a", "p")) and 1 <= hour <= 11 and not _MORNING.search(text):
        hour += 12  # "at 7": an evening table, not a 7 am one (the confirmation shows it)
    return f"{hour % 24:02d}:{minute:02d}"


def spoken_date(iso: str) -> str:
    """``2026-12-08`` -> ``Tuesday, December 8, 2026`` (other text unchanged)."""
    if not ISO_DATE.match(iso or ""):
        return iso
    day = datetime.date.fromisoformat(iso)
    return f"{day:%A}, {day:%B} {day.day}, {day.year}"


def spoken_time(hhmm: str) -> str:
    """``19:00`` -> ``7 pm``, ``08:15`` -> ``8:15 am`` (other text unchanged)."""
    if not ISO_TIME.match(hhmm or ""):
        return hhmm
    hour, minute = (int(x) for x in hhmm.split(":"))
    suffix = "am" if hour < 12 else "pm"
    hour = hour % 12 or 12
    return f"{hour} {suffix}" if minute == 0 else f"{hour}:{minute:02d} {suffix}"


def is_date_slot(slot: str) -> bool:
    """A slot whose values are calendar dates (``date``, ``check_in_date``, ...)."""
    return "date" in slot.split("_")


def is_time_slot(slot: str) -> bool:
    """A slot whose values are times of day (``time``, ``pickup_time``, ...)."""
    parts = slot.split("_")
    return "time" in parts and not ({"wait", "duration", "transfer"} & set(parts))
