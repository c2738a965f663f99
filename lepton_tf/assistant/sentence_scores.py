"""A correction to a sentence's encoder similarity before the best one is picked.

A small sentence encoder (MiniLM) ranks by topic: over documentation it
prefers a sentence that names the question's package, or restates the
question, to the one that answers it ("Does h11 have dependencies?" ->
"$ pip install h11" over "It's pure Python, and has no dependencies outside
of the standard library."). `keyword_overlap` adds the share of the
question's distinctive words (stemmed: "require" meets "required") a sentence
holds, each weighted by how rare it is among the candidate sentences: a word
every sentence holds, the package's name, counts for nothing; "dependencies"
in "has no dependencies" counts for a lot.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np

KEYWORD_WEIGHT = 0.2   # of the share of the question's rare-word weight a sentence holds


def keyword_overlap(question: str, sentences: Sequence[str]) -> np.ndarray:
    """Per sentence, the share of the question's word weight it holds, a word
    weighing its inverse document frequency among `sentences` (0..1).

    >>> keyword_overlap("Does h11 have dependencies?",
    ...                 ["h11 is a library.", "h11 has no dependencies.", "pip install h11"])
    array([0., 1., 0.], dtype=float32)
    """
    bags = [_stems(s) for s in sentences]
    asked = _stems(question)
    n = len(bags)
    weight = {w: math.log((n + 1) / (1 + sum(w in bag for bag in bags))) for w in asked}
    total = sum(weight.values())
    if total <= 0:
        return np.zeros(n, np.float32)
    return np.array([sum(weight[w] for w in asked & bag) / total for bag in bags], np.float32)


@functools.lru_cache(maxsize=1)
def _stem_words():
    import Stemmer

    return Stemmer.Stemmer("english").stemWords


def _stems(text: str) -> set[str]:
    """The text's content words (`grounding`'s stop words out), stemmed."""
    from lepton_tf.assistant.grounding import _words

    return set(_stem_words()(sorted(_words(text))))
