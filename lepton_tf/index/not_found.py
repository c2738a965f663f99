"""The top search score below which a query's answer is taken not to be in the index.

`lepton-tf eval not-found` calibrates it for an encoder by leaving whole
StackFAQ threads out of the index (questions of a left-out thread are
unanswerable, the others answerable) and reports it on held-out threads.
The `search` servable flags such a query (`not_found`), and the assistant
answers it "not found" with the closest matches.
"""

# `lepton-tf eval not-found` on encoder v1 (see the README's assistant section).
DEFAULT_NOT_FOUND_THRESHOLD = 0.5
