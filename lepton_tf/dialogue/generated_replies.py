"""Replies written by the learned generator, kept only when they state exactly the acts.

The generator is a `chat`-signature servable trained by `lepton-tf train
reply_generator`: its context is the acts (values rendered as a reply states them)
followed by the last turns (`lepton_tf.text.act_format`). Its reply goes through
`replies.faithful_reply`: one that drops or adds a value is replaced by the
template, so what the assistant sends has no slot error whatever the model wrote.
Acts the generator never saw in training (a backend error, a cancelled task, no
results) get the template directly.

    >>> from lepton_tf.dialogue.acts import Act
    >>> generator_input([Act("CONFIRM", "time", ("19:00",))], [("USER", "at 7 pm")])
    '[DOC] [1] acts: CONFIRM ( time = 7 pm ) [USER] at 7 pm'
"""

from __future__ import annotations

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


def generates(acts: Iterable[Act]) -> bool:
    """Whether the generator may write these acts (all of SGD's system acts)."""
    acts = list(acts)
    return bool(acts) and all(a.act in A.SGD_ACTS for a in acts)


class GeneratedReplies:
    """Args:
        generate: `contexts -> replies` (a batch of strings: the servable's call).
    """

    def __init__(self, generate: Callable[[list[str]], list[str]]):
        self.generate = generate

    def reply(self, acts: list[Act], service: Service | None,
              turns: Iterable[tuple[str, str]]) -> tuple[str, bool]:
        """`(reply, replaced)`: the generated reply if it passes the value check, else
        the template (`replaced` True when a generated one was thrown away)."""
        if not generates(acts):
            return template_reply(acts, service), False
        (candidate,) = self.generate([generator_input(acts, turns)])
        return faithful_reply(candidate.strip(), acts, service)
