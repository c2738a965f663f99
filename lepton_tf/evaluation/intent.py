"""`lepton-tf eval intent`: accuracy, macro-F1 and out-of-scope detection of an
exported `intent` servable on any CSV/JSONL of (text, label).

Test examples whose label is not one of the model's labels (e.g. intents held
out of training with `data.holdout_labels`) are out of scope; so are the texts
of each `--oos` source (`sgd`: SGD user turns outside banking and payments,
`stackfaq`: StackFAQ queries, or a CSV/JSONL file whose labels are ignored).
"""

from __future__ import annotations

import json

import numpy as np

OOS_LIMIT = 1000


def macro_f1(y_true, y_pred) -> float:
    """Unweighted mean of the per-class F1 over the classes in `y_true` or `y_pred`.

    A class never predicted (or never true) has F1 0, as in scikit-learn's
    `f1_score(average="macro")`.

    Args:
        y_true: true class ids (or names) `[N]`.
        y_pred: predicted class ids (or names) `[N]`.

    Returns:
        The macro-F1 in [0, 1].

    Raises:
        ValueError: for inputs of different lengths or no examples.
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape or y_true.size == 0:
        raise ValueError(f"need equal, non-empty label arrays; got {y_true.shape}, "
                         f"{y_pred.shape}")
    scores = []
    for c in np.union1d(y_true, y_pred):
        tp = np.sum((y_pred == c) & (y_true == c))
        fp = np.sum((y_pred == c) & (y_true != c))
        fn = np.sum((y_pred != c) & (y_true == c))
        scores.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return float(np.mean(scores))


def auroc(positive_scores, negative_scores) -> float:
    """Probability that a random positive scores above a random negative (ties 1/2)."""
    pos, neg = np.asarray(positive_scores, float), np.asarray(negative_scores, float)
    if pos.size == 0 or neg.size == 0:
        return float("nan")
    greater = (pos[:, None] > neg[None, :]).mean()
    ties = (pos[:, None] == neg[None, :]).mean()
    return float(greater + ties / 2)


def intent_metrics(labels, y_true, predicted, scores, out_of_scope,
                   oos_sets: dict | None = None) -> dict:
    """The evaluation's numbers from the servable's outputs.

    Args:
        labels: the model's labels (names).
        y_true: true label names of the in-scope test examples `[N]`.
        predicted: predicted label names `[N]` (argmax, threshold ignored).
        scores: `[N]` in-scope scores of those examples.
        out_of_scope: `[N]` bool flags of those examples.
        oos_sets: name -> `(scores [M], out_of_scope [M])` of out-of-scope texts.

    Returns:
        `{"labels": C, "in_scope": {examples, accuracy, macro_f1, accepted,
        in_scope_accuracy}, "oos": {name: {examples, recall, auroc}}}`;
        `accuracy`/`macro_f1` ignore the threshold, `in_scope_accuracy`
        counts a rejected example as wrong, `auroc` is the threshold-free
        separation of in-scope from out-of-scope texts by their scores.

    Raises:
        ValueError: for no in-scope examples.
    """
    y_true, predicted = np.asarray(y_true), np.asarray(predicted)
    if y_true.size == 0:
        raise ValueError("no in-scope test examples (no test label is a model label)")
    out_of_scope = np.asarray(out_of_scope, bool)
    correct = y_true == predicted
    result = {"labels": len(labels), "in_scope": {
        "examples": int(y_true.size), "accuracy": float(np.mean(correct)),
        "macro_f1": macro_f1(y_true, predicted), "accepted": float(np.mean(~out_of_scope)),
        "in_scope_accuracy": float(np.mean(correct & ~out_of_scope))}, "oos": {}}
    for name, (oos_scores, flags) in (oos_sets or {}).items():
        flags = np.asarray(flags, bool)
        result["oos"][name] = {
            "examples": int(flags.size),
            "recall": float(np.mean(flags)) if flags.size else float("nan"),
            "auroc": auroc(scores, oos_scores)}
    return result


class _SavedIntent:
    """An exported `intent` servable, run in batches."""

    def __init__(self, path: str):
        import tensorflow as tf
        import tensorflow_text  # noqa: F401  (registers the tokenizer ops)

        self.tf = tf
        self.module = tf.saved_model.load(path)
        self.fn = self.module.signatures["serving_default"]
        out = self.fn(text=tf.constant(["hello"]))
        self.labels = [x.decode() for x in out["labels"].numpy()[0]]
        self.threshold = float(self.module.oos_threshold.numpy())
        self.kind = self.module.oos_score_kind.numpy().decode()

    def __call__(self, texts, batch_size: int = 128, desc: str = "intent"):
        """`(intents, in-scope scores, out-of-scope flags)` of the texts."""
        from lepton_tf.progress_bars import batch_starts

        intents, scores, flags = [], [np.zeros(0, np.float32)], [np.zeros(0, bool)]
        for start in batch_starts(len(texts), batch_size, desc):
            out = self.fn(text=self.tf.constant(list(texts[start:start + batch_size])))
            intents += [x.decode() for x in out["intent"].numpy()]
            scores.append(out["in_scope_score"].numpy())
            flags.append(out["out_of_scope"].numpy())
        return np.array(intents, dtype=object), np.concatenate(scores), np.concatenate(flags)


def builtin_oos_texts(source: str, limit: int = OOS_LIMIT, seed: int = 0) -> list[str]:
    """Out-of-domain texts: `sgd`, `stackfaq`, or a CSV/JSONL file's texts.

    `sgd` takes the test-split user turns of services other than banking and
    payments (those could be in scope for a banking model).

    Raises:
        FileNotFoundError, DataFormatError, ValueError: for a bad file.
    """
    if source == "sgd":
        from lepton_tf.data import read_sgd_dialogues
        texts = sorted({t.utterance for d in read_sgd_dialogues("test") for t in d.turns
                        if t.speaker == "USER" and t.utterance.strip()
                        and not any(s.startswith(("Banks", "Payment")) for s in t.services)})
    elif source == "stackfaq":
        from lepton_tf.data import read_stackfaq
        texts = sorted({q for thread in read_stackfaq() for q in thread.queries})
    else:
        from lepton_tf.data.labeled_text import read_labeled_text
        return [e.text for e in read_labeled_text(source)][:limit]
    rng = np.random.RandomState(seed)
    return [texts[i] for i in sorted(rng.permutation(len(texts))[:limit])]


def evaluate_intent(model_path: str, test: str | None = None, oos_sources=("sgd", "stackfaq"),
                    oos_limit: int = OOS_LIMIT, limit: int | None = None) -> dict:
    """Evaluates an exported `intent` servable.

    Args:
        model_path: a version folder (`saved_models/intent/N`) or a base
            folder (its latest version).
        test: a CSV/JSONL of (text, label); default Banking77 test.
        oos_sources: out-of-scope text sources (see `builtin_oos_texts`).
        oos_limit: texts per out-of-scope source.
        limit: use only the first N test examples.

    Returns:
        `intent_metrics`' dict plus `model`, `test`, `oos_score` and `threshold`.

    Raises:
        FileNotFoundError, DataFormatError: for a bad test or OOS file.
        ValueError: if no test example has one of the model's labels.
    """
    from lepton_tf.data import read_banking77
    from lepton_tf.data.labeled_text import read_labeled_text
    from lepton_tf.export.model_path import resolve_version_path

    examples = read_labeled_text(test) if test else read_banking77("test")
    examples = examples[:limit] if limit else examples
    model = _SavedIntent(resolve_version_path(model_path))
    known = set(model.labels)
    in_scope = [e for e in examples if e.label in known]
    held_out = [e.text for e in examples if e.label not in known]
    predicted, scores, flags = model([e.text for e in in_scope], desc="in-scope test")
    oos_sets = {}
    if held_out:
        oos_sets["held-out intents (test)"] = model(held_out, desc="held-out intents")[1:]
    for source in oos_sources or ():
        oos_sets[source] = model(builtin_oos_texts(source, oos_limit), desc=f"OOS {source}")[1:]
    result = intent_metrics(model.labels, [e.label for e in in_scope], predicted, scores,
                            flags, oos_sets)
    return {"model": model_path, "test": test or "banking77 test",
            "oos_score": model.kind, "threshold": model.threshold, **result}


def format_table(result: dict) -> str:
    """The result as a Markdown table, one row for in-scope and one a OOS set."""
    s = result["in_scope"]
    pct = lambda x: "-" if x is None or x != x else f"{100 * x:.2f}"
    rows = [f"model {result['model']} ({result['labels']} labels, out of scope when "
            f"{result['oos_score']} < {result['threshold']:.4f}), test {result['test']}", "",
            "| set | examples | accuracy % | macro-F1 % | in-scope accuracy % | accepted % "
            "| OOS recall % | OOS AUROC |", "| --- | --- | --- | --- | --- | --- | --- | --- |",
            f"| in scope | {s['examples']} | {pct(s['accuracy'])} | {pct(s['macro_f1'])} | "
            f"{pct(s['in_scope_accuracy'])} | {pct(s['accepted'])} | - | - |"]
    for name, o in result["oos"].items():
        rows.append(f"| OOS: {name} | {o['examples']} | - | - | - | {pct(1 - o['recall'])} | "
                    f"{pct(o['recall'])} | {o['auroc']:.4f} |")
    return "\n".join(rows)


def run(args) -> int:
    import os

    from lepton_tf.export.model_path import resolve_version_path

    path = resolve_version_path(args.model or os.path.join(args.base_dir, "intent"),
                                "`lepton-tf main` or `lepton-tf train intent --export`")
    result = evaluate_intent(path, args.test, args.oos, args.oos_limit, args.limit)
    print(json.dumps(result, indent=2) if args.json else format_table(result))
    return 0


def register(sub) -> None:
    from lepton_tf.evaluation import add_model_args

    p = sub.add_parser("intent", help="intent accuracy, macro-F1 and out-of-scope detection")
    add_model_args(p, "intent")
    p.add_argument("--test", help="CSV/JSONL of (text, label); default Banking77 test")
    p.add_argument("--oos", nargs="*", default=["sgd", "stackfaq"],
                   help="out-of-scope sources: sgd, stackfaq or CSV/JSONL files")
    p.add_argument("--oos-limit", type=int, default=OOS_LIMIT, help="texts per OOS source")
    p.add_argument("--limit", type=int, help="first N test examples only")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(fn=run)

