"""The reply generator's input: system dialogue acts, values as placeholders.

The generator is the chat model (an encoder-decoder with a copy head) trained to
write the system turn from the dialogue manager's acts, delexicalised: each value
is a ``[slot]`` placeholder (`text.delexicalised_acts`), so the model writes
"How about [restaurant_name] in [city]?" and the values are filled in from the
acts after decoding. Its context is a grounded chat context whose passages are
the acts, so the copy head, which learnt to quote passages, quotes the placeholders:

    >>> generator_context([("OFFER", "restaurant_name", ["Arcadia"]), ("OFFER", "city", ["San Jose"]),
    ...                    ("REQUEST", "party_size", [])])
    '[DOC] [1] acts: offer [restaurant_name] ; offer [city] ; request party size'

One definition, used by the training task (`lepton_tf.tasks.reply_generator`), the
assistant and the benchmark.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from lepton_tf.text.chat_format import build_context
from lepton_tf.text.delexicalised_acts import delexicalised_acts

ACTS_TITLE = "acts"
# Acts are split over at most this many passages (the chat model reads 2 of ~48
# tokens each): a turn with many values still shows them all.
MAX_ACT_PASSAGES = 2
PASSAGE_TARGET_CHARS = 110


def act_text(act: str, slot: str, values: Sequence[str]) -> str:
    """One delexicalised act as the model reads it: short, since a confirmation
    holds up to seven of them.

    >>> act_text("REQUEST", "party_size", [])
    'request party size'
    >>> act_text("OFFER", "movie_name", ["[movie_name]", "[movie_name]"])
    'offer [movie_name] [movie_name]'
    >>> act_text("INFORM", "has_live_music", ["False"])
    'inform has live music = False'
    """
    head = act.lower()
    if values and all(v.startswith("[") for v in values):
        return f"{head} {' '.join(values)}"
    label = slot.replace("_", " ")
    if values:
        return f"{head} {label} = {' | '.join(values)}".replace("  ", " ")
    return f"{head} {label}" if label else head


def act_passages(acts: Iterable[tuple[str, str, Sequence[str]]]) -> list[str]:
    """The delexicalised acts' texts, in order, packed into at most
    `MAX_ACT_PASSAGES` passages."""
    passages: list[str] = []
    for text in (act_text(*a) for a in delexicalised_acts(acts)):
        if passages and (len(passages[-1]) + len(text) < PASSAGE_TARGET_CHARS
                         or len(passages) == MAX_ACT_PASSAGES):
            passages[-1] = f"{passages[-1]} ; {text}"
        else:
            passages.append(text)
    return passages


def generator_context(acts: Iterable[tuple[str, str, Sequence[str]]],
                      turns: Iterable[tuple[str, str]] = ()) -> str:
    """The generator's `context`: the acts, delexicalised, as passages, then the
    recent turns (none in the shipped generator: a user's words hold values the
    acts may not, and a copy head would quote them).

    Args:
        acts: `(act, slot, values)` triples; the values only decide which slots
            get a placeholder (and yes/no values, which stay).
        turns: `(speaker, text)` pairs, oldest first (USER or SYSTEM).

    Returns:
        A chat context string (`lepton_tf.text.chat_format`).
    """
    return build_context([(ACTS_TITLE, p) for p in act_passages(acts)], turns,
                         passage_chars=PASSAGE_TARGET_CHARS * 3)
