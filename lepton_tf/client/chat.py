"""`ChatClient`: multi-turn chat against the `chat` servable."""

from __future__ import annotations

import numpy as np

from lepton_tf.client.base import PredictClient
from lepton_tf.text.chat_format import SYSTEM, USER, build_context

# The chat servable's own defaults (lepton_tf/export/chat_servable.py), sent for the
# `generate` options a caller leaves unset: TF Serving signatures need every input.
GENERATE_DEFAULTS = {"max_new_tokens": 40, "temperature": 0.0, "top_p": 1.0, "top_k": 0,
                     "num_beams": 1, "seed": 0, "no_repeat_ngram_size": 3}


class ChatClient(PredictClient):
    """Replies from model `chat` (signature `serving_default`, or `generate` with options).

    The dialogue is kept client side: each call sends the turns so far as
    one `context` string, each turn opened by its speaker marker
    (`"[USER] I need a bus. [SYSTEM] Where to? [USER] Fresno."`, the chat
    servable's format), and remembers the reply as a `[SYSTEM]` turn.

    Args:
        model: the model name (default `chat`).
        max_turns: turns kept in the context (older ones are dropped).
        **kwargs: `PredictClient` options (target, timeout_s, tls, token, ...).
    """

    def __init__(self, target: str = "localhost:8500", *, model: str = "chat",
                 max_turns: int = 8, **kwargs):
        super().__init__(target, **kwargs)
        self.model, self.max_turns = model, max_turns
        self.turns: list[tuple[str, str]] = []  # (speaker, text)

    def reply(self, contexts: list[str], *, max_new_tokens: int | None = None,
              temperature: float | None = None, top_p: float | None = None,
              top_k: int | None = None, num_beams: int | None = None,
              seed: int | None = None, no_repeat_ngram_size: int | None = None) -> list[str]:
        """One reply per context (a batch); decoding options select `generate`."""
        inputs = {"context": np.array([c.encode("utf-8") for c in contexts], dtype=object)}
        options = {"max_new_tokens": (max_new_tokens, np.int32),
                   "temperature": (temperature, np.float32), "top_p": (top_p, np.float32),
                   "top_k": (top_k, np.int32), "num_beams": (num_beams, np.int32),
                   "seed": (seed, np.int32),
                   "no_repeat_ngram_size": (no_repeat_ngram_size, np.int32)}
        given = {k: v for k, v in options.items() if v[0] is not None}
        signature = "serving_default"
        if given:
            for key, (value, dtype) in options.items():
                inputs[key] = np.array(GENERATE_DEFAULTS[key] if value is None else value,
                                       dtype=dtype)
            signature = "generate"
        outputs = self.predict(self.model, inputs, signature_name=signature,
                               output_filter=["reply"])
        return [r.decode("utf-8", "replace") for r in np.asarray(outputs["reply"]).reshape(-1)]

    def send(self, message: str, **options) -> str:
        """Adds a user turn, gets the reply, remembers both."""
        self.turns.append((USER, message.strip()))
        # Markers a user types are defused: a message cannot open a fake turn.
        context = build_context([], self.turns[-self.max_turns:])
        answer = self.reply([context], **options)[0]
        self.turns.append((SYSTEM, answer.strip()))
        return answer

    def reset(self) -> None:
        self.turns.clear()
