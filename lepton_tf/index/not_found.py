"""The top search score below which a query's answer is taken not to be in the index.

`lepton-tf eval not-found` calibrates it for an encoder by leaving whole
StackFAQ threads out of the index (questions of a left-out thread are
unanswerable, the others answerable) and reports it on held-out threads.
The `search` servable flags such a query (`not_found`), and the assistant
answers it "not found" with the closest matches.
"""

# `lepton-tf eval not-found --index indexes/stackfaq` on encoder v1: fit on 3 folds of 25
# threads; on the 2 held-out folds 90.0% of 150 unanswerable questions flagged, 13.2% of
# 600 answerable ones (top-1 cosine; top-2 sums, margins over the 10th score and BM25
# mixes measured no better).
DEFAULT_NOT_FOUND_THRESHOLD = 0.633
