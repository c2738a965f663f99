"""The routing thresholds file: what `lepton-tf eval routing --write FILE` measured.

The assistant routes with the thresholds of a JSON file, by default the one
shipped beside this module (`routing_thresholds.json`), which that command
wrote. `lepton-tf serve --assistant --routing_thresholds FILE` uses another.

The file holds one profile per kind of index: `plain`, and `known_questions`
for an index whose documents carry known questions (its search scores are the
best of a document's cosine and its questions', higher for every turn, so its
search threshold is higher). Each profile has the `thresholds` (every field of
`THRESHOLDS`), the `command` that measured them, and what it `measured`:

    {"format": 1,
     "profiles": {"plain": {"thresholds": {"search_threshold": 0.462, ...},
                            "command": "lepton-tf eval routing ...",
                            "measured": {...}},
                  "known_questions": {...}}}

A profile the file lacks falls back to `plain`, which every file has.
"""

from __future__ import annotations

import json
import math
import os

SHIPPED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "routing_thresholds.json")
FORMAT = 1
PLAIN, KNOWN_QUESTIONS = "plain", "known_questions"
PROFILES = (PLAIN, KNOWN_QUESTIONS)
# The `routing.Router` fields a file sets (the others are not measured on routes).
THRESHOLDS = ("search_threshold", "dialogue_threshold", "chitchat_threshold",
              "service_threshold", "margin_threshold", "dialogue_floor")


def _profile(path: str, name: str, profile) -> dict:
    if not isinstance(profile, dict):
        raise ValueError(f"{path}: profile {name!r} must be an object, got "
                         f"{type(profile).__name__}.")
    thresholds = profile.get("thresholds")
    if not isinstance(thresholds, dict):
        raise ValueError(f"{path}: profile {name!r} has no \"thresholds\" object.")
    missing = [k for k in THRESHOLDS if k not in thresholds]
    unknown = sorted(set(thresholds) - set(THRESHOLDS))
    if missing or unknown:
        raise ValueError(f"{path}: profile {name!r}: " + "; ".join(
            part for part in (f"missing {', '.join(missing)}" if missing else "",
                              f"unknown {', '.join(unknown)}" if unknown else "") if part)
            + f" (the thresholds are {', '.join(THRESHOLDS)}).")
    for key in THRESHOLDS:
        value = thresholds[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not math.isfinite(value):
            raise ValueError(f"{path}: profile {name!r}: {key} must be a finite number, "
                             f"got {value!r}.")
    if not isinstance(profile.get("command"), str) or not profile["command"].strip():
        raise ValueError(f"{path}: profile {name!r} does not say which \"command\" "
                         f"measured it.")
    return profile


def load(path: str = SHIPPED) -> dict[str, dict]:
    """The profiles of a thresholds file, checked.

    Args:
        path: the JSON file.

    Returns:
        `{profile name: {"thresholds": {...}, "command": str, ...}}`, with `plain`.

    Raises:
        ValueError: unreadable, not JSON, another format, no `plain` profile, an
            unknown profile, a missing, unknown or non-numeric threshold, or no
            command; the message names the file and what is wrong.
    """
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except OSError as e:
        raise ValueError(f"{path}: cannot read the routing thresholds: "
                         f"{e.strerror or e}.") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not JSON (line {e.lineno}, column {e.colno}: "
                         f"{e.msg}).") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(f"{path}: not a routing thresholds file (want an object with "
                         f"\"format\": {FORMAT}, as `lepton-tf eval routing --write` "
                         f"writes).")
    profiles = data.get("profiles")
    if not isinstance(profiles, dict) or PLAIN not in profiles:
        raise ValueError(f"{path}: no \"profiles\" object with a {PLAIN!r} profile.")
    unknown = sorted(set(profiles) - set(PROFILES))
    if unknown:
        raise ValueError(f"{path}: unknown profile(s) {', '.join(unknown)} (the profiles "
                         f"are {', '.join(PROFILES)}).")
    return {name: _profile(path, name, p) for name, p in profiles.items()}


def thresholds(known_questions: bool = False, path: str | None = None) -> dict[str, float]:
    """The thresholds for an index with (or without) known questions.

    Args:
        known_questions: the index's documents carry known questions.
        path: the file (None: the shipped one).

    Returns:
        `{field of THRESHOLDS: value}`, from the `known_questions` profile where
        asked and present, else from `plain`.

    Raises:
        ValueError: see `load`.
    """
    profiles = load(path or SHIPPED)
    name = KNOWN_QUESTIONS if known_questions and KNOWN_QUESTIONS in profiles else PLAIN
    return {k: float(profiles[name]["thresholds"][k]) for k in THRESHOLDS}


def write(path: str, profile: str, values: dict, command: str, measured: dict) -> None:
    """Writes one profile into `path`, keeping the file's other profile.

    Args:
        path: the thresholds file (made from the shipped one if missing; the write
            replaces it whole).
        profile: `plain` or `known_questions`.
        values: a value for every field of `THRESHOLDS`.
        command: the command line that measured them.
        measured: what the measurement found (held-out confusion, sizes, models).

    Raises:
        ValueError: an unknown profile or incomplete values; `path` exists and is
            not a valid thresholds file.
    """
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r} (the profiles are "
                         f"{', '.join(PROFILES)}).")
    # A new file starts from the shipped one: the profile not measured now keeps
    # the shipped thresholds and says which command measured those.
    profiles = load(path if os.path.exists(path) else SHIPPED)
    profiles[profile] = _profile(path, profile, {
        "thresholds": {k: values[k] for k in THRESHOLDS if k in values},
        "command": command, "measured": measured})
    data = {"format": FORMAT, "profiles": {n: profiles[n] for n in PROFILES if n in profiles}}
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    staging = f"{path}.tmp{os.getpid()}"
    with open(staging, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1)
        f.write("\n")
    os.replace(staging, path)  # a reader sees the old file or the new one, never half
