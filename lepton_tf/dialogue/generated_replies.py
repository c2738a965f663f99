"""Replies written by the learned generator, kept only when they state exactly the acts.

The generator is a `chat`-signature servable trained by `lepton-tf train
reply_generator`: its context is the acts with each value a ``[slot]`` placeholder
(`lepton_tf.text.act_format`), and it writes placeholders, never values ("How about
[restaurant_name]?"). The placeholders are filled from the acts, values rendered as
a reply states them (`relexicalised`); a reply with a placeholder left over (a
slot repeated past its values, or one no act holds) or a value left out is
replaced by the template, and so is one that `replies.faithful_reply` rejects (a
value-like span the acts do not hold), so what the assistant sends has no slot
error whatever the model wrote.
Values are not all a reply can get wrong: "Your table is booked" states no value, so
the acts' kind is checked too (`act_errors`): a reply that claims an outcome (booked,
confirmed) the acts do not report, or that asks nothing when the acts ask (a
confirmation, a missing slot), is replaced as well. Outcomes themselves
(NOTIFY_SUCCESS, NOTIFY_FAILURE) and acts the generator never saw in training (a
backend error, a cancelled task, no results) get the template directly.

    >>> from lepton_tf.dialogue.acts import Act
    >>> acts = [Act("CONFIRM", "time", ("19:00",)), Act("CONFIRM", "has_live_music", ("True",))]
    >>> generator_input(acts)
    '[DOC] [1] acts: confirm [time] ; confirm has live music = True'
    >>> relexicalised("Shall I book it for [time]?", acts)
    ('Shall I book it for 7 pm?', [], [])
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from lepton_tf.dialogue import acts as A
from lepton_tf.dialogue.acts import Act
from lepton_tf.dialogue.replies import faithful_reply, render, template_reply
from lepton_tf.dialogue.schema import Service
from lepton_tf.text.act_format import generator_context
from lepton_tf.text.delexicalised_acts import is_placeholder_value, relexicalise


def generator_input(acts: Iterable[Act]) -> str:
    """The generator's context: the acts, each value a placeholder (yes/no values as
    SGD writes them, ``True``/``False``, as in training)."""
    return generator_context([(a.act, a.slot, a.values) for a in acts])


def relexicalised(reply: str, acts: Iterable[Act]) -> tuple[str, list[str], list[str]]:
    """`(reply, missing, extra)`: the generated reply's placeholders filled with the
    acts' values as a reply states them (`text.delexicalised_acts.relexicalise`)."""
    return relexicalise(reply, [(a.act, a.slot, [render(a.slot, v) for v in a.values
                                                  if is_placeholder_value(a.slot, v)])
                                for a in acts])


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
    """`(reply, replaced)`: the delexicalised `candidate` relexicalised, if the
    generator may write these acts and it fills every placeholder with exactly the
    acts' values and passes the act and value checks; else the template
    (`replaced`: a candidate was thrown away)."""
    if not generates(acts):
        return template_reply(acts, service), False
    reply, missing, extra = relexicalised(candidate.strip(), acts)
    if missing or extra or act_errors(reply, acts):
        return template_reply(acts, service), True
    return faithful_reply(reply, acts, service)


class GeneratedReplies:
    """Args:
        generate: `contexts -> replies` (a batch of strings: the servable's greedy
            `serving_default`).
    """

    def __init__(self, generate: Callable[[list[str]], list[str]]):
        self.generate = generate

    def reply(self, acts: list[Act], service: Service | None) -> tuple[str, bool]:
        """`(reply, replaced)`: the generated reply if it passes the checks, else the
        template (`replaced` True when a generated one was thrown away). The acts
        alone make the input: a user's words hold values the acts may not."""
        if not generates(acts):
            return template_reply(acts, service), False
        (candidate,) = self.generate([generator_input(acts)])
        return checked_reply(candidate, acts, service)
