"""Candidate not-found signals beyond the index's rule, measured over every fold rotation.

    python bench/not_found_signals.py --index indexes/stackfaq
    python bench/not_found_signals.py --index indexes/stackfaq --nested   # + nested cut

The same folds as `lepton-tf eval not-found` (whole StackFAQ threads left out
in 5 seeded groups; `index.not_found_thread_fit.fold_features`), plus signals the
index does not store today:

- `title_max`: the best cosine of the query to a kept document's title (the
  FAQ question it answers; titles encoded with the query tower, as a stored
  title vector would be), `title_margin` its top-1 minus top-2;
- `title_top1doc`: the cosine of the query to the title of the dense top-1;
- `question_*`: the index's known questions (`index.known_questions`;
  the main job's StackFAQ index knows the train split's paraphrases), as
  the index rule reads them (sets with them are skipped for an index that
  has none);
- `agree`: whether the dense and BM25 top-1 documents are of one thread;
  `cos_bm25top`: the cosine of the BM25 top-1 document.

Each feature set is fitted and cut on its fit folds only, for every choice of
3 fit folds among 5 (`not_found_thread_fit.rotations`), and the mean and spread of
the held-out rates are printed. `--per-fold` also standardises each fold's
features by that fold's own questions (transductive: it reads the held-out
questions' distribution, so a single query at serving time cannot have it).
`--nested` picks each rotation's target recall by leave-one-fold-out inside
its fit folds (the smallest target whose inner held-out recall is >= 90%).
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

BASE = ("top1", "margin", "spread", "bm25", "cover", "length")
TITLE = ("title_max", "title_top1doc", "title_margin")
QUESTIONS = ("question_top1", "question_margin", "question_top3")
SETS = {"index rule (base + known questions)": BASE + QUESTIONS,
        "base (no known questions)": BASE, "top1 only": ("top1",),
        "known questions only": QUESTIONS, "base + question_top1": BASE + ("question_top1",),
        "base + known questions + titles": BASE + QUESTIONS + TITLE,
        "base + title_max": BASE + ("title_max",),
        "base + title_top1doc": BASE + ("title_top1doc",), "base + titles": BASE + TITLE,
        "base + agree": BASE + ("agree",), "base + agree + cos_bm25top":
        BASE + ("agree", "cos_bm25top"), "base + titles + agree + cos_bm25top":
        BASE + TITLE + ("agree", "cos_bm25top"), "titles only": TITLE}
GRID = (0.88, 0.89, 0.9, 0.91, 0.92, 0.93, 0.94, 0.95)


def folds_with_signals(index_dir: str, encoder_path: str, collection: str):
    """`fold_features` of the index's documents and the collection's test questions,
    with the extra signals added to each fold."""
    from lepton_tf.data.beir import read_beir
    from lepton_tf.index.encoding import SavedModelEncoder
    from lepton_tf.index.lexical import LexicalIndex
    from lepton_tf.index.not_found_thread_fit import fold_features, thread_folds, thread_of
    from lepton_tf.index.storage import load_index

    encoder = SavedModelEncoder(encoder_path)
    index = load_index(index_dir, expected_encoder=encoder.info)
    doc_ids = list(index.row_ids)
    docs = [index.documents[d] for d in doc_ids]
    texts = [d.embedding_text() for d in docs]
    dv = np.asarray(index.embeddings)
    queries = read_beir(collection, "test").queries
    qids = sorted(queries)
    qtexts = [queries[q] for q in qids]
    qv = np.asarray(encoder.encode_queries(qtexts), np.float32)
    titles = sorted({d.title for d in docs})
    tv = np.asarray(encoder.encode_queries(titles), np.float32)
    title_row = np.array([titles.index(d.title) for d in docs])
    groups = thread_folds(doc_ids, 5, 0)
    parts = fold_features(doc_ids, texts, dv, qids, qtexts, qv, groups,
                          questions=index.known_questions)
    doc_threads = np.array([thread_of(d) for d in doc_ids])
    for part, left in zip(parts, groups):
        kept = np.flatnonzero(~np.isin(doc_threads, list(left)))
        top = kept[(qv @ dv[kept].T).argmax(axis=1)]
        tc = -np.sort(-(qv @ tv[sorted(set(title_row[kept]))].T), axis=1)
        bm25 = LexicalIndex([doc_ids[i] for i in kept], [texts[i] for i in kept])
        btop = np.array([kept[int(bm25.scores(q).argmax())] for q in qtexts])
        part["features"].update(
            title_max=tc[:, 0], title_margin=tc[:, 0] - tc[:, 1],
            title_top1doc=np.sum(qv * tv[title_row[top]], axis=1),
            agree=(doc_threads[top] == doc_threads[btop]).astype(float),
            cos_bm25top=np.sum(qv * dv[btop], axis=1))
    return parts, groups


def nested(parts, groups, features) -> tuple[np.ndarray, np.ndarray]:
    """Per rotation: the target recall chosen inside the fit folds, held-out rates.

    Returns:
        means of (target, unanswerable flagged, answerable flagged) and the
        spread of the two rates.
    """
    from lepton_tf.index.not_found_thread_fit import fit_rule, rates

    rows = []
    for chosen in itertools.combinations(range(len(parts)), 3):
        inner = {t: [] for t in GRID}
        for held in chosen:
            fit = [i for i in chosen if i != held]
            threads = set().union(*(groups[i] for i in fit))
            for t in GRID:
                rule = fit_rule([parts[i] for i in fit], features, t, threads)
                inner[t].append(rates(rule, [parts[held]])["unanswerable_flagged"])
        target = next((t for t in GRID if np.mean(inner[t]) >= 0.9), GRID[-1])
        rule = fit_rule([parts[i] for i in chosen], features, target,
                        set().union(*(groups[i] for i in chosen)))
        r = rates(rule, [parts[i] for i in range(len(parts)) if i not in chosen])
        rows.append((target, r["unanswerable_flagged"], r["answerable_flagged"]))
    rows = np.array(rows)
    return rows.mean(axis=0), rows[:, 1:].std(axis=0)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--index", default="indexes/stackfaq")
    p.add_argument("--encoder", default="saved_models/encoder")
    p.add_argument("--collection", default=None, help="BEIR folder (default: StackFAQ)")
    p.add_argument("--per-fold", action="store_true")
    p.add_argument("--nested", action="store_true")
    args = p.parse_args()
    from lepton_tf.data.paths import data_dir
    from lepton_tf.index import not_found_rule
    from lepton_tf.index.not_found_thread_fit import rotations

    collection = args.collection or os.path.join(str(data_dir()), "beir", "stackfaq")
    parts, groups = folds_with_signals(args.index, args.encoder, collection)
    if args.per_fold:
        for part in parts:
            part["features"] = {k: (v - v.mean()) / (v.std() + 1e-6)
                                for k, v in part["features"].items()}
    # NotFoundRule.from_dict checks names against FEATURES; these rules stay in memory.
    not_found_rule.FEATURES = tuple(parts[0]["features"])
    for name, features in SETS.items():
        if set(features) - set(not_found_rule.FEATURES):
            print(f"{name:>36}: skipped (the index has no known questions)")
            continue
        r = rotations(parts, groups, 3, features, 0.9)
        mu, sd = r["held_out_mean"], r["held_out_std"]
        line = (f"{name:>36}: unanswerable {mu['unanswerable_flagged']:.1%} "
                f"(sd {sd['unanswerable_flagged']:.1%}), answerable "
                f"{mu['answerable_flagged']:.1%} (sd {sd['answerable_flagged']:.1%}); "
                + " ".join(f"{c['fit_recall']:.0%}:{c['unanswerable_flagged']:.1%}/"
                           f"{c['answerable_flagged']:.1%}" for c in r["curve_mean"]))
        if args.nested:
            (target, u, a), (su, sa) = nested(parts, groups, features)
            line += f"; nested cut (target {target:.3f}): {u:.1%} (sd {su:.1%}) / {a:.1%} " \
                    f"(sd {sa:.1%})"
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
