"""The `intent` servable: `text` string `[B]` -> the predicted intent.

Signatures `serving_default` and `classify_text` (the same function).
Outputs: `intent` (string `[B]`), `probabilities` (float32 `[B, C]`),
`labels` (string `[B, C]`: the class of each probability), `in_scope_score`
(float32 `[B]`) and `out_of_scope` (bool `[B]`: the score is below the
exported threshold). Models exported without out-of-scope calibration may
lack the last two, so a caller asks only for the outputs the signature has.
"""

MODEL = "intent"
SIGNATURE = "serving_default"
CLASSIFY_SIGNATURE = "classify_text"
TEXT = "text"
INTENT = "intent"
PROBABILITIES = "probabilities"
LABELS = "labels"
IN_SCOPE_SCORE = "in_scope_score"
OUT_OF_SCOPE = "out_of_scope"
OUTPUTS = (INTENT, PROBABILITIES, OUT_OF_SCOPE)
