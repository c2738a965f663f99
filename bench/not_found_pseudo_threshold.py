"""Where StackFAQ's not-found threshold sits among its own pseudo-queries.

    python bench/not_found_pseudo_threshold.py --encoder saved_models/encoder

`index.not_found_pseudo_threshold` carries the StackFAQ operating point (top-1 cosine
0.626, fitted on real held-out questions) to an index without questions by
quantile: it cuts each index at the same quantile of its own self-tuning
pseudo-queries' top-1 cosines. This script measures that quantile on
StackFAQ (the share of its pseudo-queries whose top-1 cosine is below the
threshold), and for comparison the share of StackFAQ's real test questions
below it (the false-flag rate of the default rule on answerable questions).
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main(argv=None) -> int:
    import numpy as np

    from lepton_tf.index.build import read_corpus
    from lepton_tf.index.encoding import SavedModelEncoder
    from lepton_tf.index.not_found_rule import DEFAULT_NOT_FOUND_THRESHOLD
    from lepton_tf.index.search_index import SearchIndex
    from lepton_tf.index.fusion_selftune import self_tune
    from lepton_tf.data.beir import read_beir

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--encoder", default=os.path.join("saved_models", "encoder"))
    parser.add_argument("--corpus", default=os.path.join("data", "beir", "stackfaq"))
    parser.add_argument("--false-flags", type=float, default=0.10,
                        help="the operating point to carry (share of real questions flagged)")
    args = parser.parse_args(argv)
    encoder = SavedModelEncoder(args.encoder)
    documents = read_corpus(args.corpus)
    vectors = np.asarray(encoder.encode_documents([d.embedding_text() for d in documents]))
    index = SearchIndex.build(vectors, documents, encoder=encoder.info)
    top1: list = []
    self_tune(index, encoder, top1=top1)
    pseudo = np.asarray(top1)
    collection = read_beir(args.corpus, "test")
    queries = list(collection.queries.values())
    similarities = np.asarray(encoder.encode_queries(queries)) @ vectors.T
    real = similarities.max(axis=1)
    # A question's thread left out: the best cosine among the other threads' documents.
    threads = np.array([d.doc_id.split("-")[0] for d in documents])
    own = threads[None, :] == np.array([q.split("-")[0] for q in collection.queries])[:, None]
    left_out = np.where(own, -np.inf, similarities).max(axis=1)
    t = DEFAULT_NOT_FOUND_THRESHOLD
    print(f"{len(pseudo)} pseudo-queries: {100 * np.mean(pseudo < t):.1f}% below {t} "
          f"(quantiles 5/10/25/50%: {np.quantile(pseudo, [.05, .1, .25, .5]).round(3)})")
    print(f"{len(real)} real test questions: {100 * np.mean(real < t):.1f}% below {t} "
          f"(quantiles 5/10/25/50%: {np.quantile(real, [.05, .1, .25, .5]).round(3)})")
    print(f"{len(left_out)} questions with their thread left out: "
          f"{100 * np.mean(left_out < t):.1f}% below {t}")
    cut = float(np.quantile(real, args.false_flags))
    print(f"at {100 * args.false_flags:.0f}% of the real questions flagged: top-1 < {cut:.4f}; "
          f"{100 * np.mean(pseudo < cut):.1f}% of the pseudo-queries below it (the quantile "
          f"to carry); {100 * np.mean(left_out < cut):.1f}% of the thread-left-out "
          f"questions flagged")
    return 0


if __name__ == "__main__":
    sys.exit(main())
