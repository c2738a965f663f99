"""`lepton-tf eval grounded`: do retrieved passages make the chat model's replies better?

On held-out questions of the grounded training collection (StackFAQ by
default; their answers never were training replies, see
`lepton_tf.data.grounded.split_by_answer`), side by side:

- `grounded`: the grounded chat model reading the top passages of a BM25
  retriever over the whole corpus (what the assistant does, retrieval
  misses included), as `[DOC] [n] title: text ... [USER] question`;
- `no passages`: the same model given the question alone;
- `ungrounded model`: the SGD chat model (`--baseline-model`), question alone;
- `extractive`: what the assistant answers now (`assistant.answers`): whole
  sentences of the same passages chosen by their similarity to the question
  (`--encoder`; lexical overlap without one), each cited with its `[n]`.

Reply metrics against the opening sentence of the relevant answer, with
citations stripped: corpus BLEU and chrF (`sacrebleu`). Citation metrics of
the grounded replies: how many cite, how many cite the relevant passage,
and citation precision: of the `[n]` citations, the share whose passage
holds every content word of the reply (and the mean share of the reply's
content words found in the cited passage). A reply citing several passages
is also scored sentence by sentence (`sentence_citation_precision`: each
`[n]` against the words since the previous marker), and every system's
share of replies ending mid-sentence is reported.

Example:

```bash
lepton-tf export chat --run runs/chat --base-dir /tmp/ungrounded   # the SGD-only model
lepton-tf eval grounded --model saved_models/chat/4 --baseline-model /tmp/ungrounded/chat/1
```
"""

from __future__ import annotations

import os
import re

from lepton_tf.evaluation import write_json

_CITATION = re.compile(r"\s*\[\d{1,2}\]")


def strip_citations(reply: str) -> str:
    """The reply without its `[n]` markers.

    >>> strip_citations("Use ~~tildes~~. [1]")
    'Use ~~tildes~~.'
    """
    return _CITATION.sub("", reply).strip()


_SEGMENT = re.compile(r"(.*?)\[(\d{1,2})\]", re.S)


def cited_segments(reply: str) -> list[tuple[str, int]]:
    """`(text, n)`: each `[n]` with the text since the previous marker.

    >>> cited_segments("Open Settings. [1] Then Filters. [2]")
    [('Open Settings.', 1), ('Then Filters.', 2)]
    """
    return [(m.group(1).strip(), int(m.group(2))) for m in _SEGMENT.finditer(reply)]


def sentence_citation_precision(replies, examples) -> float:
    """Share of `[n]` markers whose passage holds every content word before it."""
    from lepton_tf.assistant.grounding import RetrievedPassage, citation_support

    supported = total = 0
    for reply, example in zip(replies, examples):
        for text, n in cited_segments(reply):
            if 1 <= n <= len(example.passages) and text:
                total += 1
                passage = RetrievedPassage(*example.passages[n - 1], 0.0)
                supported += citation_support(text, passage) == 1.0
    return supported / total if total else 0.0


def extractive_replies(examples, encoder_path: str | None = None) -> list[str]:
    """The assistant's extractive answers (`assistant.answers`) to the examples."""
    from lepton_tf.assistant.answers import extractive_answer
    from lepton_tf.assistant.grounding import RetrievedPassage

    similarity, encoder = None, None
    if encoder_path:
        from lepton_tf.index.encoding import SavedModelEncoder

        encoder = SavedModelEncoder(encoder_path)

        def similarity(question, sentences):
            return encoder.encode_documents(list(sentences), progress=False) @ \
                encoder.encode_queries([question])[0]
    replies = []
    for e in examples:
        scores = [0.0] * len(e.passages)
        if encoder is not None:  # the passage's own search score, as the assistant has it
            scores = (encoder.encode_documents([f"{t}\n{x}" for _, t, x in e.passages],
                                               progress=False)
                      @ encoder.encode_queries([e.question])[0]).tolist()
        passages = [RetrievedPassage(i, t, x, s) for (i, t, x), s in zip(e.passages, scores)]
        replies.append(extractive_answer(e.question, passages, similarity)[0])
    return replies


def citation_metrics(replies, examples) -> dict:
    """Citation rate, relevant-citation rate and precision of grounded replies."""
    from lepton_tf.assistant.grounding import RetrievedPassage, citation_support, model_citations

    cited = relevant = citations = supported = 0
    coverage = []
    for reply, example in zip(replies, examples):
        numbers = model_citations(reply, len(example.passages))
        cited += bool(numbers)
        relevant += bool(example.cited) and example.cited in numbers
        for n in numbers:
            share = citation_support(reply, RetrievedPassage(*example.passages[n - 1], 0.0))
            citations += 1
            supported += share == 1.0
            coverage.append(share)
    n = max(len(examples), 1)
    return {"replies_citing": cited / n, "cite_relevant_passage": relevant / n,
            "citations": citations,
            "citation_precision": supported / citations if citations else 0.0,
            "mean_words_supported": sum(coverage) / len(coverage) if coverage else 0.0,
            "relevant_passage_shown": sum(bool(e.cited) for e in examples) / n,
            "sentence_citation_precision": sentence_citation_precision(replies, examples)}


def evaluate(model_path: str, baseline_path: str | None, config_path: str,
             passages: int = 2, limit: int | None = None, samples: int = 0,
             num_beams: int = 4, max_new_tokens: int = 40,
             encoder_path: str | None = None) -> dict:
    """Evaluates grounded against ungrounded replies on the held-out questions.

    Args:
        model_path: the grounded chat SavedModel version folder (None: only the
            extractive answers).
        baseline_path: the ungrounded chat SavedModel (None: skip it).
        config_path: the grounded training config (which collection, split).
        passages: passages shown per question.
        limit: first N held-out questions (None: all).
        samples: also return this many example replies.
        num_beams, max_new_tokens: decoding (4 and 40: the shipped
            `serving_default`).
        encoder_path: the encoder the `extractive` system scores sentences with.

    Returns:
        `{"n", "systems": name -> {bleu, chrf}, "citations": ..., "samples"}`.
    """
    import sacrebleu

    from lepton_tf.assistant.answers import ends_sentence
    from lepton_tf.data.grounded import PassageRetriever, evaluation_examples
    from lepton_tf.evaluation.chat import ModelReplies, bleu
    from lepton_tf.text.chat_format import format_context
    from lepton_tf.tasks.chat import grounded_context, grounded_splits
    from lepton_tf.training.config import load_config

    config = load_config(config_path)
    collection, _, held_out = grounded_splits(config)
    held_out = held_out[:limit] if limit else held_out
    retriever = PassageRetriever(collection)
    examples = evaluation_examples(collection, held_out, retriever, passages=passages)
    refs = [e.reference for e in examples]
    questions = [format_context([e.question], ["USER"]) for e in examples]
    runs = {}
    if model_path:
        model = ModelReplies(model_path, num_beams=num_beams, max_new_tokens=max_new_tokens)
        runs = {"grounded": model.reply([grounded_context(e) for e in examples]),
                "no passages": model.reply(questions)}
    if baseline_path:
        runs["ungrounded model"] = ModelReplies(
            baseline_path, num_beams=num_beams, max_new_tokens=max_new_tokens).reply(questions)
    runs["extractive"] = extractive_replies(examples, encoder_path)
    systems = {}
    for name, hyps in runs.items():
        clean = [strip_citations(h) for h in hyps]
        systems[name] = {"bleu": bleu(clean, refs),
                         "chrf": float(sacrebleu.corpus_chrf(clean, [refs]).score),
                         "mid_sentence": sum(not ends_sentence(h) for h in hyps)
                         / max(len(hyps), 1)}
    result = {"n": len(examples), "model": model_path, "baseline_model": baseline_path,
              "encoder": encoder_path, "systems": systems,
              "citations": citation_metrics(runs["grounded"], examples) if model_path else {},
              "extractive_citations": citation_metrics(runs["extractive"], examples)}
    result["samples"] = [
        {"question": e.question, "passages": [f"[{i}] {t}" for i, (_, t, _) in
                                              enumerate(e.passages, 1)],
         "reference": e.reference, **{name: hyps[j] for name, hyps in runs.items()}}
        for j, e in enumerate(examples[:samples])]
    return result


def run(args) -> int:
    result = evaluate(args.model, args.baseline_model, args.config, passages=args.passages,
                      limit=args.limit or None, samples=args.samples,
                      num_beams=args.num_beams, max_new_tokens=args.max_new_tokens,
                      encoder_path=args.encoder)
    print(f"held-out grounded questions: {result['n']} (model {args.model})")
    print(f"{'system':<18}{'BLEU':>7}{'chrF':>7}{'mid-sentence':>14}")
    for name, m in result["systems"].items():
        print(f"{name:<18}{m['bleu']:7.2f}{m['chrf']:7.2f}{m['mid_sentence']:14.1%}")
    for key, label in (("citations", "grounded"), ("extractive_citations", "extractive")):
        print(f"citations of the {label} replies:",
              ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}"
                        for k, v in result[key].items()))
    for s in result["samples"]:
        print(f"\nQ: {s['question']}\n  passages: {s['passages']}\n"
              + "".join(f"  {k}: {v}\n" for k, v in s.items()
                        if k not in ("question", "passages")))
    write_json(result, args.json)
    return 0


def register(sub) -> None:
    p = sub.add_parser("grounded", help="grounded vs ungrounded chat replies, citation precision")
    p.add_argument("--model", help="grounded chat SavedModel, version or base folder (none: "
                                   "only the extractive answers)")
    p.add_argument("--baseline-model", help="ungrounded chat SavedModel (version or base folder)")
    p.add_argument("--config", default=os.path.join("configs", "chat_grounded.yaml"),
                   help="config whose data.grounded section defines the held-out questions")
    p.add_argument("--passages", type=int, default=2, help="passages in each context (default 2)")
    p.add_argument("--limit", type=int, default=0, help="first N held-out questions (0: all)")
    p.add_argument("--samples", type=int, default=0, help="print N sample replies")
    p.add_argument("--num-beams", type=int, default=4, help="beam width (default 4)")
    p.add_argument("--max-new-tokens", type=int, default=40, help="longest reply in tokens")
    p.add_argument("--encoder", help="encoder SavedModel the extractive answers score "
                                     "sentences with (default: lexical overlap)")
    p.add_argument("--json", help="also write the results to this JSON file")
    p.set_defaults(fn=run)
