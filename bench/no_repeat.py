"""Same replies apart from loops? An old `chat` version against its re-export with
`no_repeat_ngram_size` (the default of the new `serving_default`).

    python bench/no_repeat.py --old saved_models/chat/3 --new saved_models/chat/4

On `--contexts` SGD dev contexts (the first user turns of dialogues, up to
three turns each): the old `serving_default` replies, the new `generate`
with `no_repeat_ngram_size=0` (must be identical: same weights, same
decoder), and the new `serving_default`. Reported: identical replies, and
of those that differ, how many old replies repeated a word 3-gram (a loop
the constraint cut) and how many did not.
"""

from __future__ import annotations

import argparse
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def dev_contexts(n: int) -> list[str]:
    from lepton_tf.data.sgd import read_sgd_dialogues

    out = []
    for d in read_sgd_dialogues("dev"):
        turns = [f"[{t.speaker}] {t.utterance}" for t in d.turns[:5]]
        for end in (1, 3, 5):
            if len(out) < n and len(turns) >= end:
                out.append(" ".join(turns[:end]))
        if len(out) >= n:
            return out
    return out


def repeats(text: str) -> bool:
    words = re.findall(r"[a-z0-9]+", text.lower())
    grams = [tuple(words[i:i + 3]) for i in range(len(words) - 2)]
    return len(grams) != len(set(grams))


def main() -> None:
    import numpy as np
    import tensorflow as tf
    import tensorflow_text  # noqa: F401

    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--old", default="saved_models/chat/3")
    p.add_argument("--new", default="saved_models/chat/4")
    p.add_argument("--contexts", type=int, default=64)
    p.add_argument("--num-beams", type=int, default=4, help="the old serving_default's")
    args = p.parse_args()
    contexts = dev_contexts(args.contexts)
    old, new = tf.saved_model.load(args.old), tf.saved_model.load(args.new)
    batch = lambda fn, **kw: [r.decode() for i in range(0, len(contexts), 16)  # noqa: E731
                              for r in fn(context=tf.constant(contexts[i:i + 16]),
                                          **kw)["reply"].numpy()]
    before = batch(old.signatures["serving_default"])
    new_default = batch(new.signatures["serving_default"])
    options = {"max_new_tokens": tf.constant(40), "temperature": tf.constant(0.0),
               "top_p": tf.constant(1.0), "top_k": tf.constant(0),
               "num_beams": tf.constant(args.num_beams), "seed": tf.constant(0),
               "no_repeat_ngram_size": tf.constant(0)}
    unconstrained = batch(new.signatures["generate"], **options)
    print(f"new generate with no_repeat_ngram_size=0: "
          f"{sum(a == b for a, b in zip(before, unconstrained))}/{len(contexts)} replies "
          "identical to the old serving_default")
    same = sum(a == b for a, b in zip(before, new_default))
    differ = [(c, a, b) for c, a, b in zip(contexts, before, new_default) if a != b]
    loops = sum(repeats(a) for _, a, _ in differ)
    print(f"{len(contexts)} SGD dev contexts: {same} identical replies; {len(differ)} differ, "
          f"{loops} of which repeated a word 3-gram before; replies repeating a 3-gram: "
          f"before {sum(map(repeats, before))}, after {sum(map(repeats, new_default))}")
    for c, a, b in differ[:8]:
        print(f"  {c[-80:]!r}\n    old: {a!r}\n    new: {b!r}")
    np.testing.assert_equal(len(before), len(new_default))


if __name__ == "__main__":
    main()
