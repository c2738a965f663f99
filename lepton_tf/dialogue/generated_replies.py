"""Replies written by the learned generator, kept only when they state exactly the acts.

The generator is a `chat`-signature servable trained by `lepton-tf train
reply_generator`: its context is the acts (values rendered as a reply states them)
followed by the last turns (`lepton_tf.text.act_format`). Its reply goes through
`replies.faithful_reply`: one that drops or adds a value is replaced by the
template, so what the assistant sends has no slot error whatever the model wrote.
Values are not all a reply can get wrong: "Your table is booked" states no value, so
the acts' kind is checked too (`act_errors`): a reply that claims an outcome (booked,
confirmed) the acts do not report, or that asks nothing when the acts ask (a
confirmation, a missing slot), is replaced as well. Outcomes themselves
(NOTIFY_SUCCESS, NOTIFY_FAILURE) and acts the generator never saw in training (a
backend error, a cancelled task, no results) get the template directly.

    >>> from lepton_tf.dialogue.acts import Act
    >>> generator_input([Act("CONFIRM", "time", ("19:00",))], [("USER", "at 7 pm")])
    '[DOC] [1] acts: CONFIRM ( time = 7 pm ) [USER] at 7 pm'
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from lepton_tf.dialogue import acts as A
from lepton_tf.dialogue.acts import Act
from lepton_tf.dialogue.replies import faithful_reply, render, template_reply
from lepton_tf.dialogue.schema import Service
from lepton_tf.text.act_format import generator_context


def generator_input(acts: Iterable[Act], turns: Iterable[tuple[str, str]]) -> str:
    """The generator's context: the acts, values rendered, then the recent turns."""
    return generator_context([(a.act, a.slot, [render(a.slot, v) for v in a.values])
                              for a in acts], [(s, t) for s, t in turns if t])


# What the generator may write: SGD's system acts, but not an outcome, which must be
# said exactly as the backend gave it.
GENERATED_ACTS = frozenset(A.SGD_ACTS) - {A.NOTIFY_SUCCESS, A.NOTIFY_FAILURE}
_ASKING = (A.REQUEST, A.CONFIRM, A.OFFER_INTENT, A.REQ_MORE)
_OUTCOME = re.compile(r"\b(booked|reserved|confirmed|purchased|successful(ly)?|has been "
                      r"(made|placed|scheduled|set)|is (set|done|made)|all set)\b", re.I)


def generates(acts: Iterable[Act]) -> bool:
    """Whether the generator may write these acts (`GENERATED_ACTS` only)."""
    acts = list(acts)
    return bool(acts) and all(a.act in GENERATED_ACTS for a in acts)


def act_errors(reply: str, acts: list[Act]) -> list[str]:
    """What the reply says that the acts' kinds do not: an outcome none of them
    reports, or no question where they ask one.

    >>> act_errors("Your table is booked.", [Act("CONFIRM", "time", ("19:00",))])
    ['claims an outcome', 'asks nothing']
    """
    errors = []
    if _OUTCOME.search(reply):
        errors.append("claims an outcome")
    if any(a.act in _ASKING for a in acts) and "?" not in reply:
        errors.append("asks nothing")
    return errors


def checked_reply(candidate: str, acts: list[Act], service: Service | None
                  ) -> tuple[str, bool]:
    """`(reply, replaced)`: `candidate` if the generator may write these acts and it
    passes the act and value checks, else the template (`replaced`: a candidate was
    thrown away)."""
    if not generates(acts):
        return template_reply(acts, service), False
    if act_errors(candidate, acts):
        return template_reply(acts, service), True
    return faithful_reply(candidate.strip(), acts, service)


class GeneratedReplies:
    """Args:
        generate: `contexts -> replies` (a batch of strings: the servable's call).
    """

    def __init__(self, generate: Callable[[list[str]], list[str]]):
        self.generate = generate

    def reply(self, acts: list[Act], service: Service | None,
              turns: Iterable[tuple[str, str]]) -> tuple[str, bool]:
        """`(reply, replaced)`: the generated reply if it passes the checks, else the
        template (`replaced` True when a generated one was thrown away)."""
        if not generates(acts):
            return template_reply(acts, service), False
        (candidate,) = self.generate([generator_input(acts, turns)])
        return checked_reply(candidate, acts, service)
