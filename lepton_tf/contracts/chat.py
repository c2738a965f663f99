"""The `chat` servable: dialogue text `context` string `[B]` -> `reply` string `[B]`.

Signatures:

- `serving_default(context)`: decodes with the exported defaults;
- `generate(context, *GENERATE_OPTIONS)`: every decoding option a scalar
  (TF Serving needs every input of a signature, so a caller sends
  `GENERATE_DEFAULTS` for the options it leaves unset);
- `generate_tokens`: `generate` plus the raw token ids `tokens`;
- `score(context, reply)`: `nll` float32 `[B]` and `tokens` int32 `[B]`.

`serving_default` and `generate` answer `reply` and `tokens_generated`
(int32 `[B]`, new tokens per row counting a closing `[EOS]`).
"""

MODEL = "chat"
DEFAULT_SIGNATURE = "serving_default"
GENERATE_SIGNATURE = "generate"
GENERATE_TOKENS_SIGNATURE = "generate_tokens"
SCORE_SIGNATURE = "score"

CONTEXT = "context"
REPLY = "reply"
TOKENS_GENERATED = "tokens_generated"
TOKENS = "tokens"
NLL = "nll"

DEFAULT_MAX_NEW_TOKENS = 40
# Word-piece 3-grams: a loop ("Submit " Submit " Submit ...") is cut, a reply
# that says a 3-word phrase once is not.
DEFAULT_NO_REPEAT_NGRAM = 3
# The scalar inputs of `generate`, in its argument order, with their dtypes.
GENERATE_OPTIONS = (("max_new_tokens", "int32"), ("temperature", "float32"),
                    ("top_p", "float32"), ("top_k", "int32"), ("num_beams", "int32"),
                    ("seed", "int32"), ("no_repeat_ngram_size", "int32"))
# Greedy decoding as `serving_default` does it.
GENERATE_DEFAULTS = {"max_new_tokens": DEFAULT_MAX_NEW_TOKENS, "temperature": 0.0,
                     "top_p": 1.0, "top_k": 0, "num_beams": 1, "seed": 0,
                     "no_repeat_ngram_size": DEFAULT_NO_REPEAT_NGRAM}
