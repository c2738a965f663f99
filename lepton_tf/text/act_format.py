"""The reply generator's input: system dialogue acts with their values, then the dialogue.

The generator is the chat model (an encoder-decoder with a copy head) trained to
write the system turn from the dialogue manager's acts. Its context is a grounded
chat context whose passages are the acts, so the copy head, which learnt to quote
passages, quotes the values:

    >>> generator_context([("OFFER", "restaurant_name", ["Arcadia"]), ("OFFER", "city", ["San Jose"])],
    ...                   [("USER", "Find me a place to eat in San Jose")])
    '[DOC] [1] acts: OFFER ( restaurant name = Arcadia ) OFFER ( city = San Jose ) [USER] Find me a place to eat in San Jose'

Values go in as the reply should state them (``7 pm``, not ``19:00``): whoever
builds the acts renders them first. One definition, used by the training task
(`lepton_tf.tasks.reply_generator`), the assistant and the benchmark.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from lepton_tf.text.chat_format import build_context

ACTS_TITLE = "acts"
# Acts are split over at most this many passages (the chat model reads 2 of ~60
# tokens each): a turn with many values still shows them all.
MAX_ACT_PASSAGES = 2
PASSAGE_TARGET_CHARS = 170


def act_text(act: str, slot: str, values: Sequence[str]) -> str:
    """One act as the model reads it.

    >>> act_text("REQUEST", "party_size", [])
    'REQUEST ( party size )'
    >>> act_text("INFORM_COUNT", "count", ["3"])
    'INFORM_COUNT ( count = 3 )'
    """
    inside = slot.replace("_", " ")
    if values:
        inside = f"{inside} = {' | '.join(values)}" if inside else " | ".join(values)
    return f"{act} ( {inside} )" if inside else act


def act_passages(acts: Iterable[tuple[str, str, Sequence[str]]]) -> list[str]:
    """The acts' texts, in order, packed into at most `MAX_ACT_PASSAGES` passages."""
    texts = [act_text(*a) for a in acts]
    passages: list[str] = []
    for text in texts:
        if passages and (len(passages[-1]) + len(text) < PASSAGE_TARGET_CHARS
                         or len(passages) == MAX_ACT_PASSAGES):
            passages[-1] = f"{passages[-1]} {text}"
        else:
            passages.append(text)
    return passages


def generator_context(acts: Iterable[tuple[str, str, Sequence[str]]],
                      turns: Iterable[tuple[str, str]]) -> str:
    """The generator's `context`: the acts as passages, then the recent turns.

    Args:
        acts: `(act, slot, values)` triples, values as the reply states them.
        turns: `(speaker, text)` pairs, oldest first (USER or SYSTEM).

    Returns:
        A chat context string (`lepton_tf.text.chat_format`).
    """
    return build_context([(ACTS_TITLE, p) for p in act_passages(acts)], turns,
                         passage_chars=PASSAGE_TARGET_CHARS * 3)
