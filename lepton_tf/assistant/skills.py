"""Intent skills: what each intent of the intent classifier does, from a YAML file.

Without skills, a turn the intent model claims with confidence is refused (the
assistant has no documents or services for that domain). With them, each intent is
bound to

- ``answer``: a text the business wrote (its own words: the assistant adds nothing);
- ``handoff``: a message, and the final event's ``handoff`` flag set, for a person to
  take the conversation over;
- ``task``: a schema task, ``Service.Intent`` of SGD's schemas (``Banks_1.TransferMoney``):
  the turn starts it, with the values the tracker read in it, and the dialogue
  manager goes on from there (``assistant.tasks``). Without task dialogues on the
  server, the intent gets the default skill.

Schema tasks are also reached without this file, by the tracked intent over the
schemas' intents; a binding makes the intent classifier's decision start one.

```yaml
version: 1
default: {handoff: "I'll pass you to a colleague who handles {label}."}
intents:
  card_arrival: {handoff: "A colleague from the cards team will pick this up here."}
  lost_or_stolen_card: {answer: "Call +1 555 0100 now to block your card, day or night."}
  transfer_into_account: {task: Banks_1.TransferMoney}
```

``{label}`` is the intent's name in words (``card_arrival`` -> "card arrival").

    >>> skills = parse_skills({"version": 1, "default": {"handoff": "A colleague will help with {label}."}})
    >>> skills.get("card_arrival")
    Skill(kind='handoff', text='A colleague will help with card arrival.')
"""

from __future__ import annotations

import dataclasses
import os
import re

from lepton_tf.files.yaml_file import read_yaml

KINDS = ("answer", "handoff", "task")
_TASK = re.compile(r"^[A-Za-z][A-Za-z0-9]*_\d+\.[A-Za-z][A-Za-z0-9]*$")


@dataclasses.dataclass(frozen=True)
class Skill:
    """What one intent does.

    Attributes:
        kind: ``answer``, ``handoff`` or ``task``.
        text: the reply (the answer, the hand-off message), or the task's
            ``Service.Intent``.
    """

    kind: str
    text: str = ""


class Skills:
    """Intent -> skill, with an optional default for intents not listed."""

    def __init__(self, bound: dict[str, dict], default: dict | None = None):
        self._bound, self._default = bound, default

    def get(self, intent: str, tasks_on: bool = True) -> Skill | None:
        """The skill of ``intent`` (None: none bound and no default: the turn is refused).

        Args:
            intent: the intent classifier's label.
            tasks_on: the server runs task dialogues (else a ``task`` skill is
                replaced by the default).
        """
        spec = self._bound.get(intent, self._default)
        if spec is not None and "task" in spec and not tasks_on:
            spec = self._default
        if spec is None:
            return None
        kind = next(iter(spec))
        if kind == "task":
            return Skill(kind, spec[kind])
        return Skill(kind, spec[kind].replace("{label}", intent.replace("_", " ")))


    def tasks(self) -> tuple[str, ...]:
        """The ``Service.Intent`` of every ``task`` skill, in file order."""
        specs = [*self._bound.values(), *([self._default] if self._default else [])]
        return tuple(dict.fromkeys(s["task"] for s in specs if "task" in s))


def _check(spec, where: str) -> dict:
    if not isinstance(spec, dict) or len(spec) != 1 or next(iter(spec)) not in KINDS \
            or not isinstance(next(iter(spec.values())), str) or not next(iter(spec.values())):
        raise ValueError(f"{where}: needs exactly one of {', '.join(KINDS)} with a text")
    task = spec.get("task")
    if task is not None and not _TASK.match(task):
        raise ValueError(f"{where}: task must read Service.Intent (Banks_1.TransferMoney), "
                         f"got {task[:60]!r}")
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
