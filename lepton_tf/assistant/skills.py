"""Intent skills: what each intent of the intent classifier does, from a YAML file.

Without skills, a turn the intent model claims with confidence is refused (the
assistant has no documents or services for that domain). With them, each intent is
bound to

- ``answer``: a text the business wrote (its own words: the assistant adds nothing);
- ``handoff``: a message, and the final event's ``handoff`` flag set, for a person to
  take the conversation over.

(Schema tasks are reached by the tracked intent over the schemas' intents, see
``assistant.tasks``, not through this file.)

```yaml
version: 1
default: {handoff: "I'll pass you to a colleague who handles {label}."}
intents:
  card_arrival: {handoff: "A colleague from the cards team will pick this up here."}
  lost_or_stolen_card: {answer: "Call +1 555 0100 now to block your card, day or night."}
```

``{label}`` is the intent's name in words (``card_arrival`` -> "card arrival").

    >>> skills = parse_skills({"version": 1, "default": {"handoff": "A colleague will help with {label}."}})
    >>> skills.get("card_arrival")
    Skill(kind='handoff', text='A colleague will help with card arrival.')
"""

from __future__ import annotations

import dataclasses
import os

from lepton_tf.files.yaml_file import read_yaml

KINDS = ("answer", "handoff")


@dataclasses.dataclass(frozen=True)
class Skill:
    """What one intent does.

    Attributes:
        kind: ``answer`` or ``handoff``.
        text: the reply (the answer, the hand-off message).
    """

    kind: str
    text: str = ""


class Skills:
    """Intent -> skill, with an optional default for intents not listed."""

    def __init__(self, bound: dict[str, dict], default: dict | None = None):
        self._bound, self._default = bound, default

    def get(self, intent: str) -> Skill | None:
        """The skill of ``intent`` (None: none bound and no default: the turn is refused)."""
        spec = self._bound.get(intent, self._default)
        if spec is None:
            return None
        kind = next(iter(spec))
        return Skill(kind, spec[kind].replace("{label}", intent.replace("_", " ")))


def _check(spec, where: str) -> dict:
    if not isinstance(spec, dict) or len(spec) != 1 or next(iter(spec)) not in KINDS \
            or not isinstance(next(iter(spec.values())), str) or not next(iter(spec.values())):
        raise ValueError(f"{where}: needs exactly one of {', '.join(KINDS)} with a text")
    return spec


def parse_skills(raw, path: str = "<memory>") -> Skills:
    """Skills of a parsed YAML document.

    Raises:
        ValueError: naming ``path``, the intent and what is wrong.
    """
    if not isinstance(raw, dict) or raw.get("version") != 1:
        raise ValueError(f"{path}: expected a mapping with version: 1")
    intents = raw.get("intents") or {}
    if not isinstance(intents, dict):
        raise ValueError(f"{path}: intents must be a mapping")
    default = raw.get("default")
    return Skills({str(k): _check(v, f"{path}: intents.{k}") for k, v in intents.items()},
                  _check(default, f"{path}: default") if default is not None else None)


def load_skills(path: str | os.PathLike) -> Skills:
    """Read a skills YAML file.

    Raises:
        ValueError: a missing or malformed file.
    """
    return parse_skills(read_yaml(path), os.fspath(path))
