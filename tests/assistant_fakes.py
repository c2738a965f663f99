"""A fake `intent` servable and a server hosting the assistant over fake models."""

import numpy as np

from fake_servables import FakeChat, FakeEncoder, FakeSearch
from lepton_tf.server.servable import Servable, Signature, TensorSpec


class FakeIntent(Servable):
    """`text` -> a banking intent when the text says "card", else out of scope."""

    def __init__(self, name="intent", version=1):
        self.name, self.version = name, version
        self.labels = [b"card_arrival", b"greeting"]
        outs = {"intent": TensorSpec("intent", "string", (None,)),
                "probabilities": TensorSpec("probabilities", "float32", (None, 2)),
                "out_of_scope": TensorSpec("out_of_scope", "bool", (None,)),
                "labels": TensorSpec("labels", "string", (None, 2))}
        sig = Signature({"text": TensorSpec("text", "string", (None,))}, outs)
        self._signatures = {"serving_default": sig}

    @property
    def signatures(self):
        return self._signatures

    def run(self, signature_name, inputs):
        texts = [t.decode().lower() for t in inputs["text"]]
        card = np.array([("card" in t) for t in texts])
        probs = np.where(card[:, None], [[0.9, 0.1]], [[0.5, 0.5]]).astype(np.float32)
        return {"intent": np.array([self.labels[0] if c else self.labels[1] for c in card],
                                   object),
                "probabilities": probs, "out_of_scope": ~card,
                "labels": np.array([self.labels] * len(texts), object)}


class CitingChat(FakeChat):
    """FakeChat that, given passages, says d2's words and cites `[2]` when asked to
    ("cite"), cites `[1]` for d2's words when asked to "miscite" (a citation the
    passage does not support), and uses d2's words uncited when asked to "explain"."""

    def run(self, signature_name, inputs):
        out = super().run(signature_name, inputs)
        replies = []
        for r, c in zip(out["reply"], inputs["context"]):
            if b"[DOC] [2]" in c and b"miscite" in c:
                r = b"close it for good [1]"
            elif b"[DOC] [2]" in c and b"cite" in c:
                r = b"close it for good [2]"
            replies.append(r + (b" close it for good" if b"[DOC]" in c and b"explain" in c
                                else b""))
        return {"reply": np.array(replies, object)}


def fake_models():
    encoder = FakeEncoder()
    embed = lambda texts: encoder.run("encode_query", {"text": np.array(texts, object)})[
        "embedding"]  # noqa: E731
    return {"encoder": encoder, "search": FakeSearch(embed), "chat": CitingChat(),
            "intent": FakeIntent()}
