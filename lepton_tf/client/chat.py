"""`ChatClient`: multi-turn chat against the `chat` servable."""

from __future__ import annotations

import numpy as np

from lepton_tf.client.base import PredictClient
from lepton_tf.contracts import chat as chat_contract
from lepton_tf.contracts.chat import GENERATE_DEFAULTS, GENERATE_OPTIONS
from lepton_tf.text.chat_format import SYSTEM, USER, build_context


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

    def __init__(self, target: str = "localhost:8500", *, model: str = chat_contract.MODEL,
                 max_turns: int = 8, **kwargs):
        super().__init__(target, **kwargs)
        self.model, self.max_turns = model, max_turns
        self.turns: list[tuple[str, str]] = []  # (speaker, text)

    def reply(self, contexts: list[str], *, max_new_tokens: int | None = None,
              temperature: float | None = None, top_p: float | None = None,
              top_k: int | None = None, num_beams: int | None = None,
              seed: int | None = None, no_repeat_ngram_size: int | None = None) -> list[str]:
        """One reply per context (a batch); decoding options select `generate`, the
        options left unset taking the servable's defaults (TF Serving signatures need
        every input)."""
        inputs = {chat_contract.CONTEXT: np.array([c.encode("utf-8") for c in contexts],
                                                  dtype=object)}
        given = {"max_new_tokens": max_new_tokens, "temperature": temperature, "top_p": top_p,
                 "top_k": top_k, "num_beams": num_beams, "seed": seed,
                 "no_repeat_ngram_size": no_repeat_ngram_size}
        signature = chat_contract.DEFAULT_SIGNATURE
        if any(v is not None for v in given.values()):
            for key, dtype in GENERATE_OPTIONS:
                inputs[key] = np.array(GENERATE_DEFAULTS[key] if given[key] is None
                                       else given[key], dtype=dtype)
            signature = chat_contract.GENERATE_SIGNATURE
        outputs = self.predict(self.model, inputs, signature_name=signature,
                               output_filter=[chat_contract.REPLY])
        return [r.decode("utf-8", "replace")
                for r in np.asarray(outputs[chat_contract.REPLY]).reshape(-1)]

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
