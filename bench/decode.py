"""Decode speed of the chat servable: KV cache against recomputing the prefix.

Exports two SavedModels of the same `ChatModel` (sizes from
`configs/chat.yaml`; weights from `--run DIR/final.weights.h5` if given,
else random: speed does not depend on the weights): one decoding with the
self-attention KV cache and the precomputed cross-attention cache, one that
reruns the decoder over the whole prefix for every new token. Both stop at
`max_new_tokens` only (`stop_at_eos=False`) so each row makes exactly that
many tokens. Each exported `generate` signature is timed (greedy) at 16, 64
and 128 new tokens, batch 1 and 16; the table gives tokens per second
(batch x new tokens / seconds, best of `--repeats` after a warm-up call:
the least-disturbed run on a shared machine).

The comparison is about the cache only: both SavedModels are built from the
same code (`lepton_tf.models.chat_step`: the same plain-TF decoder ops,
weights read once per request, the same keras-hub sampler loop) and run the
same way (TF graph mode, no XLA in either: the servable must run on a stock
TF Serving without `--xla_cpu_compilation_enabled`). The no-cache baseline
is not handicapped: it projects only the last position to logits; it does
recompute the cross-attention keys/values, which the cached decode computes
once per request.

Usage:

```bash
python bench/decode.py                 # ~2-3 minutes on 2 CPU cores
python bench/decode.py --run runs/chat --json runs/chat/decode_bench.json
```
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time


def _export(model, tokenizer, use_cache: bool, path: str):
    import tensorflow as tf

    from lepton_tf.export.chat_servable import ChatServable

    servable = ChatServable(model, tokenizer, use_cache=use_cache, stop_at_eos=False)
    tf.saved_model.save(servable, path,
                        signatures={"generate": servable.generate.get_concrete_function()})
    return tf.saved_model.load(path).signatures["generate"]


def _time(fn, batch: int, new_tokens: int, repeats: int) -> float:
    import tensorflow as tf

    context = tf.constant(["[USER] I need a bus from Sacramento to Fresno on March 3rd. "
                           "[SYSTEM] At what time? [USER] Around 10 in the morning."] * batch)
    args = dict(context=context, max_new_tokens=tf.constant(new_tokens),
                temperature=tf.constant(0.0), top_p=tf.constant(1.0), top_k=tf.constant(0),
                num_beams=tf.constant(1), seed=tf.constant(0),
                no_repeat_ngram_size=tf.constant(0))
    # Warm-up (first-call graph optimisation). With `stop_at_eos=False` the
    # loop always runs `new_tokens` steps; `tokens_generated` still counts
    # up to the first [EOS], so it is not the work done.
    fn(**args)
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(**args)["tokens_generated"].numpy()
        seconds.append(time.perf_counter() - start)
    return min(seconds)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default=os.path.join("configs", "chat.yaml"))
    parser.add_argument("--run", help="training run folder with final.weights.h5")
    parser.add_argument("--tokens", type=int, nargs="+", default=[16, 64, 128])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", help="also write the table to this JSON file")
    args = parser.parse_args(argv)

    from lepton_tf.tasks.chat import ChatTask
    from lepton_tf.training import load_config

    config = load_config(os.path.join(args.run, "config.yaml") if args.run else args.config)
    task = ChatTask()
    model = task.build_model(config)
    if args.run:
        model.load_weights(os.path.join(args.run, "final.weights.h5"))
    tokenizer = task.get_tokenizer(config)
    rows = []
    with tempfile.TemporaryDirectory(prefix="lepton-bench-") as tmp:
        fns = {c: _export(model, tokenizer, c, os.path.join(tmp, f"cache{int(c)}"))
               for c in (True, False)}
        for batch in args.batches:
            for n in args.tokens:
                t = {c: _time(fns[c], batch, n, args.repeats) for c in (True, False)}
                rows.append({"batch": batch, "new_tokens": n,
                             "cached_tok_s": batch * n / t[True],
                             "no_cache_tok_s": batch * n / t[False],
                             "speedup": t[False] / t[True]})
                r = rows[-1]
                print(f"batch {batch:>2} new {n:>3}: cached {r['cached_tok_s']:8.1f} tok/s  "
                      f"no-cache {r['no_cache_tok_s']:8.1f} tok/s  x{r['speedup']:.2f}",
                      flush=True)
    print("\n| batch | new tokens | KV cache tok/s | no cache tok/s | speed-up |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {r['batch']} | {r['new_tokens']} | {r['cached_tok_s']:.1f} | "
              f"{r['no_cache_tok_s']:.1f} | {r['speedup']:.2f}x |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
