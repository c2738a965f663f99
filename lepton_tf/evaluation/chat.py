"""`lepton-tf eval chat`: the chat SavedModel against a BM25 retrieval baseline.

On sampled SGD dev and test system turns: perplexity (model only), corpus
BLEU (sacrebleu) and distinct-1/2 for the model's replies and for the
baseline's (the response of the BM25-nearest training context, last 3
turns), side by side; test is also split into services seen in training
and unseen ones.

Example:

```bash
lepton-tf eval chat --limit 500                 # a few minutes on 2 cores
lepton-tf eval chat --splits test --limit 5000 --json runs/chat/eval.json
```
"""

from __future__ import annotations

import os
import random
import time

import numpy as np

from lepton_tf.contracts import chat as chat_contract
from lepton_tf.evaluation import add_model_args, write_json

BASELINE_TURNS = 3  # the baseline's query: the last 3 turns


def distinct_n(texts, n: int) -> float:
    """Distinct-n: unique word n-grams / all word n-grams over `texts`.

    Example:

    >>> distinct_n(["a b a b"], 1), distinct_n(["a b a b"], 2)
    (0.5, 0.6666666666666666)
    """
    grams = [tuple(w[i:i + n]) for w in (t.split() for t in texts)
             for i in range(len(w) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 0.0


def bleu(hypotheses, references) -> float:
    """Corpus BLEU (sacrebleu defaults: 13a tokenization, cased)."""
    import sacrebleu
    return float(sacrebleu.corpus_bleu(list(hypotheses), [list(references)]).score)


class Bm25Baseline:
    """Replies with the response of the most similar training context (BM25).

    Args:
        train_pairs: `ResponsePair`s to retrieve from.
        turns: context turns used for indexing and querying.
    """

    def __init__(self, train_pairs, turns: int = BASELINE_TURNS):
        from lepton_tf.data.bm25 import Bm25Index

        self.turns = turns
        self.responses = [p.response for p in train_pairs]
        self.index = Bm25Index([self._text(p) for p in train_pairs])

    def _text(self, pair) -> str:
        return " ".join(pair.context[-self.turns:]) or "."

    def reply(self, pairs) -> list[str]:
        rows, _ = self.index.search([self._text(p) for p in pairs], k=1)
        return [self.responses[r[0]] for r in rows]


class ModelReplies:
    """Replies and perplexity from a chat SavedModel (plain TF, as served)."""

    def __init__(self, path: str, num_beams: int = 1, max_new_tokens: int = 40,
                 no_repeat_ngram_size: int = 3):
        import tensorflow as tf
        import tensorflow_text  # noqa: F401 - registers the tokenizer ops

        from lepton_tf.export.model_path import resolve_version_path

        self.tf = tf
        self.model = tf.saved_model.load(resolve_version_path(
            path, "`lepton-tf train chat --export` (saved_models/chat ships in git)"))
        self.num_beams, self.max_new_tokens = num_beams, max_new_tokens
        self.no_repeat_ngram_size = no_repeat_ngram_size

    def reply(self, contexts, batch_size: int = 64) -> list[str]:
        from lepton_tf.progress_bars import batch_starts

        tf, out = self.tf, []
        fn = self.model.signatures[chat_contract.GENERATE_SIGNATURE]
        options = dict(chat_contract.GENERATE_DEFAULTS, max_new_tokens=self.max_new_tokens,
                       num_beams=self.num_beams, no_repeat_ngram_size=self.no_repeat_ngram_size)
        # A model exported without the no-repeat constraint has no such input.
        names = [n for n, _ in chat_contract.GENERATE_OPTIONS
                 if n in fn.structured_input_signature[1]]
        for i in batch_starts(len(contexts), batch_size, "replies", unit="context"):
            r = fn(**{chat_contract.CONTEXT: tf.constant(contexts[i:i + batch_size])},
                   **{n: tf.constant(options[n], dtype) for n, dtype in
                      chat_contract.GENERATE_OPTIONS if n in names})
            out += [s.decode() for s in r[chat_contract.REPLY].numpy()]
        return out

    def perplexity(self, contexts, references, batch_size: int = 128) -> float:
        from lepton_tf.progress_bars import batch_starts

        tf, nll, tokens = self.tf, 0.0, 0
        fn = self.model.signatures[chat_contract.SCORE_SIGNATURE]
        for i in batch_starts(len(contexts), batch_size, "perplexity", unit="context"):
            r = fn(**{chat_contract.CONTEXT: tf.constant(contexts[i:i + batch_size]),
                      chat_contract.REPLY: tf.constant(references[i:i + batch_size])})
            nll += float(r[chat_contract.NLL].numpy().sum())
            tokens += int(r[chat_contract.TOKENS].numpy().sum())
        return float(np.exp(nll / max(tokens, 1)))


def _metrics(hyps, refs) -> dict:
    return {"bleu": bleu(hyps, refs), "distinct_1": distinct_n(hyps, 1),
            "distinct_2": distinct_n(hyps, 2)}


def evaluate(model_path: str, splits=("dev", "test"), limit: int | None = 500,
             seed: int = 0, num_beams: int = 1, samples: int = 0,
             max_new_tokens: int = 40) -> dict:
    """Evaluates the model and the baseline on sampled SGD system turns.

    Args:
        model_path: a chat SavedModel version folder.
        splits: SGD splits to evaluate.
        limit: system turns sampled per split (None: all).
        seed: sampling seed.
        num_beams: 1 greedy, more for beam search.
        max_new_tokens: reply budget.
        samples: also return this many (context, model, baseline, reference)
            examples per split, two thirds from unseen services.

    Returns:
        split -> {"n", "model": metrics, "baseline": metrics, and for test
        "seen"/"unseen" subsets}; metrics hold bleu, distinct_1/2 and (model)
        perplexity.
    """
    from lepton_tf.data import iter_response_pairs, read_sgd_dialogues
    from lepton_tf.text.chat_format import format_context

    train = read_sgd_dialogues("train")
    train_services = {s for d in train for s in d.services}
    baseline = Bm25Baseline(list(iter_response_pairs(train)))
    model = ModelReplies(model_path, num_beams=num_beams, max_new_tokens=max_new_tokens)
    results = {}
    for split in splits:
        pairs = [p for p in iter_response_pairs(read_sgd_dialogues(split)) if p.context]
        if limit and limit < len(pairs):
            pairs = random.Random(seed).sample(pairs, limit)
        contexts = [format_context(p.context, p.speakers) for p in pairs]
        refs = [p.response for p in pairs]
        start = time.time()
        hyps = model.reply(contexts)
        decode_s = time.time() - start
        base = baseline.reply(pairs)
        unseen = [any(s not in train_services for s in p.services) for p in pairs]
        res = {"n": len(pairs), "decode_seconds": decode_s,
               "model": {**_metrics(hyps, refs), "perplexity": model.perplexity(contexts, refs)},
               "baseline": _metrics(base, refs)}
        for name, keep in (("seen", [not u for u in unseen]), ("unseen", unseen)):
            idx = [i for i, k in enumerate(keep) if k]
            if idx and any(unseen):
                pick = lambda xs: [xs[i] for i in idx]  # noqa: E731
                res[name] = {"n": len(idx), "model": _metrics(pick(hyps), pick(refs)),
                             "baseline": _metrics(pick(base), pick(refs))}
        if samples:
            # Mostly unseen services (the harder case), some seen ones.
            seen_idx = [i for i, u in enumerate(unseen) if not u][:samples // 3]
            order = [i for i, u in enumerate(unseen) if u][:samples - len(seen_idx)] + seen_idx
            res["samples"] = [{"context": contexts[i], "services": list(pairs[i].services),
                               "unseen": unseen[i], "model": hyps[i], "baseline": base[i],
                               "reference": refs[i]} for i in order]
        results[split] = res
    return results


def format_table(results: dict) -> str:
    """The results as a plain-text table, model and baseline side by side."""
    lines = [f"{'split':<14}{'n':>6}  {'system':<9}{'BLEU':>7}{'dist-1':>8}{'dist-2':>8}"
             f"{'ppl':>8}"]
    for split, res in results.items():
        for subset in ("", "seen", "unseen"):
            part = res if not subset else res.get(subset)
            if part is None:
                continue
            label = split + (f"/{subset}" if subset else "")
            for system in ("model", "baseline"):
                m = part[system]
                ppl = f"{m['perplexity']:8.2f}" if "perplexity" in m else f"{'-':>8}"
                lines.append(f"{label:<14}{part['n']:>6}  {system:<9}{m['bleu']:7.2f}"
                             f"{m['distinct_1']:8.3f}{m['distinct_2']:8.3f}{ppl}")
    return "\n".join(lines)


def run(args) -> int:
    path = args.model or os.path.join(args.base_dir, "chat")
    results = evaluate(path, splits=args.splits, limit=args.limit or None, seed=args.seed,
                       num_beams=args.num_beams, samples=args.samples,
                       max_new_tokens=args.max_new_tokens)
    print(f"chat model {path} (num_beams={args.num_beams}) vs BM25 nearest-context reply")
    print(format_table(results))
    for split, res in results.items():
        for s in res.get("samples", []):
            print(f"\n[{split}{' unseen' if s['unseen'] else ''} {','.join(s['services'])}] "
                  f"{s['context'][-300:]}\n  model:     {s['model']}\n"
                  f"  baseline:  {s['baseline']}\n  reference: {s['reference']}")
    write_json(results, args.json)
    return 0


def register(sub) -> None:
    p = sub.add_parser("chat", help="chat model vs BM25 baseline: perplexity, BLEU, distinct")
    add_model_args(p, "chat")
    p.add_argument("--splits", nargs="+", default=["dev", "test"], choices=["dev", "test"],
                   help="SGD splits to evaluate (default dev test)")
    p.add_argument("--limit", type=int, default=500,
                   help="system turns sampled per split (0: all); 500 takes a few minutes")
    p.add_argument("--seed", type=int, default=0, help="seed of the turn sample")
    p.add_argument("--num-beams", type=int, default=1, help="beam width (1: greedy)")
    p.add_argument("--max-new-tokens", type=int, default=40, help="longest reply in tokens")
    p.add_argument("--samples", type=int, default=0, help="print N sample replies per split")
    p.add_argument("--json", help="also write the results to this JSON file")
    p.set_defaults(fn=run)
