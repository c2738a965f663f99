"""Python `Servable`s standing in for encoder, search and chat in server/client tests."""

import re
import threading
import time

import numpy as np

from lepton_tf.server.servable import Servable, Signature, TensorSpec

DOCS = [(b"d1", b"Reset a password", b"How to reset your password"),
        (b"d2", b"Close an account", b"How to close your account for good"),
        (b"d3", b"Card lost", b"What to do when your card is lost")]


class FakeEncoder(Servable):
    """`encode_query`: text -> 3-d bag of letters (password/account/card), L2-normalised."""

    def __init__(self, name="encoder", version=1):
        self.name, self.version = name, version
        sig = Signature({"text": TensorSpec("text", "string", (None,))},
                        {"embedding": TensorSpec("embedding", "float32", (None, 3))})
        self._signatures = {"serving_default": sig, "encode_query": sig}

    @property
    def signatures(self):
        return self._signatures

    def run(self, signature_name, inputs):
        rows = []
        for text in inputs["text"]:
            t = text.decode("utf-8").lower()
            rows.append([("password" in t) + 0.1, ("account" in t) + 0.1, ("card" in t) + 0.1])
        v = np.array(rows, np.float32).reshape(-1, 3)
        return {"embedding": v / np.linalg.norm(v, axis=1, keepdims=True)}


class FakeSearch(Servable):
    """The `search` contract (query, k -> doc_ids, scores, texts, titles) over 3 docs."""

    def __init__(self, embed_queries, name="search", version=1):
        self.embed_queries, self.name, self.version = embed_queries, name, version
        self.doc_vectors = embed_queries([d[2] for d in DOCS])
        outs = {k: TensorSpec(k, "float32" if k == "scores" else "string", (None, None))
                for k in ("doc_ids", "scores", "texts", "titles")}
        q = TensorSpec("query", "string", (None,))
        self._signatures = {"serving_default": Signature({"query": q}, outs),
                            "search": Signature({"query": q, "k": TensorSpec("k", "int32", ())},
                                                outs)}

    @property
    def signatures(self):
        return self._signatures

    def run(self, signature_name, inputs):
        k = int(inputs["k"]) if "k" in inputs else 2
        if not 1 <= k <= len(DOCS):
            raise ValueError(f"k must be in [1, {len(DOCS)}], got {k}.")
        scores = self.embed_queries(list(inputs["query"])) @ self.doc_vectors.T
        order = np.argsort(-scores, axis=1)[:, :k]
        pick = lambda col: np.array([[DOCS[i][col] for i in row] for row in order], object)  # noqa
        return {"doc_ids": pick(0), "titles": pick(1), "texts": pick(2),
                "scores": np.take_along_axis(scores, order, axis=1).astype(np.float32)}


class FakeChat(Servable):
    """`serving_default`: context -> "you said: <last turn> (turn n)"; `generate` echoes
    max_new_tokens. Turns are opened by `[USER]`/`[SYSTEM]`, like the real chat servable."""

    def __init__(self, name="chat", version=1, gated=False):
        self.name, self.version = name, version
        self.seen = []  # contexts run, for tests that check what was (not) executed
        # gated: a "slow" context signals `started` and holds its thread until
        # `release` is set, so tests order threads by events, not by sleeps.
        self.gated = gated
        self.started, self.release = threading.Event(), threading.Event()
        ctx = {"context": TensorSpec("context", "string", (None,))}
        reply = {"reply": TensorSpec("reply", "string", (None,))}
        options = {"max_new_tokens": "int32", "temperature": "float32", "top_p": "float32",
                   "top_k": "int32", "num_beams": "int32", "seed": "int32",
                   "no_repeat_ngram_size": "int32"}
        gen_inputs = dict(ctx, **{k: TensorSpec(k, t, ()) for k, t in options.items()})
        self._signatures = {"serving_default": Signature(ctx, reply),
                            "generate": Signature(gen_inputs, reply)}

    @property
    def signatures(self):
        return self._signatures

    def run(self, signature_name, inputs):
        replies = []
        self.seen.extend(inputs["context"])
        if any(b"crash" in c for c in inputs["context"]):
            raise RuntimeError("servable bug")  # the server must answer INTERNAL and go on
        if any(b"slow" in c for c in inputs["context"]):
            if self.gated:
                self.started.set()
                assert self.release.wait(10), "the test never released the slow request"
            else:
                time.sleep(0.5)  # lets tests hit a deadline
        for context in inputs["context"]:
            turns = [t.strip() for t in re.split(r"\[(?:USER|SYSTEM)\]", context.decode())]
            turns = [t for t in turns if t] or [""]
            text = f"you said: {turns[-1]} (turn {len(turns)})"
            if signature_name == "generate":
                text += f" max_new_tokens={int(inputs['max_new_tokens'])}"
            replies.append(text.encode())
        return {"reply": np.array(replies, dtype=object)}
