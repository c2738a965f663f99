"""The `assistant` servable: a Python `Servable` hosted in the lepton-tf server.

Predict, signature `serving_default` (also `chat`, the same):

| input | type | |
| --- | --- | --- |
| `session_id` | string `[1]` or scalar | the conversation; state is kept per id |
| `message` | string `[1]` or scalar | the user turn, UTF-8 |

| output | type | |
| --- | --- | --- |
| `turn_id` | string `[1]` | names the turn in the log (feedback rates it) |
| `reply` | string `[1]` | the answer (with `[n]` citation markers on the search route) |
| `route` | string `[1]` | `search`, `smalltalk`, `chat` or `out_of_scope` |
| `intent` | string `[1]` | the `intent` servable's label where it decided the turn (a refusal), else `""` |
| `not_found` | bool `[1]` | a search turn the knowledge base holds no answer to (the citations are empty, the related questions are the closest matches) |
| `cited_by` | string `[1]` | `extractive` (whole sentences of the passages, see `answers`), or `""` |
| `citation_ids`, `citation_titles`, `citation_snippets` | string `[1, C]` | cited passages |
| `citation_numbers` | int32 `[1, C]` | their `[n]` in the context |
| `citation_scores` | float32 `[1, C]` | their search scores |
| `related_questions` | string `[1, R]` | R <= 3 retrieved titles, not the first cited |
| `timings_ms` | float32 `[1, 5]` | intent, dialogue score, search, chat, total (ms) |
| `handoff` | bool `[1]` | an intent skill handed the conversation to a person |
| `task` | string `[1]` | JSON: a task turn's tracked state, acts, backend call with its arguments, results and offered row (`{}` on other routes) |

Errors (INVALID_ARGUMENT): an empty or missing session id, an empty
message, more than one row, strings that are not UTF-8.
"""

from __future__ import annotations

import json

import numpy as np

from lepton_tf.client.assistant import TIMING_KEYS
from lepton_tf.assistant.engine import Assistant
from lepton_tf.assistant.turn_result import TurnResult
from lepton_tf.server.servable import Servable, Signature, TensorSpec

_IN = {"session_id": TensorSpec("session_id", "string", None),
       "message": TensorSpec("message", "string", None)}
_STR1 = lambda n: TensorSpec(n, "string", (None,))  # noqa: E731
_STR2 = lambda n: TensorSpec(n, "string", (None, None))  # noqa: E731
_OUT = {"turn_id": _STR1("turn_id"),
        "reply": _STR1("reply"), "route": _STR1("route"), "intent": _STR1("intent"),
        "cited_by": _STR1("cited_by"), "not_found": TensorSpec("not_found", "bool", (None,)),
        "citation_ids": _STR2("citation_ids"),
        "citation_titles": _STR2("citation_titles"),
        "citation_snippets": _STR2("citation_snippets"),
        "citation_numbers": TensorSpec("citation_numbers", "int32", (None, None)),
        "citation_scores": TensorSpec("citation_scores", "float32", (None, None)),
        "related_questions": _STR2("related_questions"), "task": _STR1("task"),
        "handoff": TensorSpec("handoff", "bool", (None,)),
        "timings_ms": TensorSpec("timings_ms", "float32", (None, len(TIMING_KEYS)))}


def decode_single(array, name: str) -> str:
    """The one UTF-8 string of a scalar or `[1]` input.

    Raises:
        ValueError: more than one value, or bytes that are not UTF-8.
    """
    values = np.asarray(array, dtype=object).reshape(-1)
    if values.size != 1:
        raise ValueError(f"{name} must be a scalar or hold one string, got {values.size}.")
    value = values[0]
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError(f"{name} is not valid UTF-8.") from None
    return str(value)


def _row(values, dtype=object) -> np.ndarray:
    array = np.empty((1, len(values)), dtype=dtype)
    if values:
        array[0, :] = values
    return array


def result_arrays(result: TurnResult) -> dict[str, np.ndarray]:
    """A `TurnResult` as the signature's output arrays."""
    enc = lambda s: s.encode("utf-8")  # noqa: E731
    cited = [p for _, p in result.citations]
    return {
        "turn_id": np.array([enc(result.turn_id)], object),
        "reply": np.array([enc(result.reply)], object),
        "route": np.array([enc(result.route)], object),
        "intent": np.array([enc(result.intent)], object),
        "cited_by": np.array([enc(result.cited_by)], object),
        "not_found": np.array([result.not_found]),
        "citation_ids": _row([enc(p.doc_id) for p in cited]),
        "citation_titles": _row([enc(p.title) for p in cited]),
        "citation_snippets": _row([enc(p.snippet()) for p in cited]),
        "citation_numbers": _row([n for n, _ in result.citations], np.int32),
        "citation_scores": _row([p.score for p in cited], np.float32),
        "related_questions": _row([enc(q) for q in result.related_questions]),
        "task": np.array([enc(json.dumps(result.task, ensure_ascii=False))], object),
        "handoff": np.array([result.handoff]),
        "timings_ms": np.array([[result.timings_ms.get(k, 0.0) for k in TIMING_KEYS]],
                               np.float32)}


class AssistantServable(Servable):
    """Hosts an `Assistant` behind the Predict API.

    Args:
        assistant: the dialogue manager (holds the sessions).
        name, version: the model name and version clients see.
    """

    def __init__(self, assistant: Assistant, name: str = "assistant", version: int = 1):
        self.assistant, self.name, self.version = assistant, name, version
        signature = Signature(dict(_IN), dict(_OUT))
        self._signatures = {"serving_default": signature, "chat": signature}

    @property
    def signatures(self) -> dict[str, Signature]:
        return self._signatures

    def run(self, signature_name: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        session_id = decode_single(inputs["session_id"], "session_id")
        message = decode_single(inputs["message"], "message")
        return result_arrays(self.assistant.answer(session_id, message))

    def close(self) -> None:
        self.assistant.close()
