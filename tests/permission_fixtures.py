"""Two users and documents at three permission levels, for the permission tests.

alice belongs to `support`, bob to no group. Documents are public (`*`),
support-only, or board-only (neither user). Every hidden document holds words
no readable one holds (SECRET_WORDS), so any trace of it in an answer is
caught by a substring check; several hidden documents are the best match of
the queries asked, so a leak would show.
"""

import re
import zlib

import numpy as np

from lepton_tf.index import Document, SearchIndex
from lepton_tf.index.search_index import EncoderInfo
from lepton_tf.index.storage import save_index
from lepton_tf.server.authenticators import token_sha256
from lepton_tf.server.servable import Servable, Signature, TensorSpec

D = 64
ALICE, BOB, CAROL = "alice-7c1f9e", "bob-2d8a41", "carol-admin-5e0b"

PUBLIC = [
    Document("pub-hours", "The office opens at nine and closes at five on weekdays.",
             "Opening hours", {"source": "public/hours.md"}, ("when does the office open",),
             ("*",)),
    Document("pub-parking", "Visitors park in the north garage; the parking fee is two euros.",
             "Parking", {"source": "public/parking.md"}, ("where can visitors park",), ("*",)),
    Document("pub-merger-faq", "Questions about company news go to the press office.",
             "Company news", {"source": "public/news.md"}, (), ("*",)),
]
SUPPORT = [
    Document("sup-refund", "Support agents issue a refund override with the code zebra42 "
             "after checking the receipt.", "Refund override",
             {"source": "support/refunds.md"}, ("how do I override a refund",),
             ("support",)),
]
BOARD = [
    Document("board-merger", "The board approved the merger with falconcorp; the merger "
             "closes in march and stays confidential.", "Merger plan falconcorp",
             {"source": "board/merger.md"}, ("when does the falconcorp merger close",),
             ("board",)),
    Document("board-salary", "Executive salary bands rise by eleven percent; codename "
             "ospreyband.", "Salary bands ospreyband", {"source": "board/salary.md"},
             ("what are the executive salary bands",), ("board",)),
]
ALL = PUBLIC + SUPPORT + BOARD
SECRET_WORDS = {"alice": ("falconcorp", "ospreyband", "board-merger", "board-salary",
                          "confidential", "Merger plan", "Salary bands"),
                "bob": ("falconcorp", "ospreyband", "board-merger", "board-salary",
                        "confidential", "zebra42", "sup-refund", "Refund override",
                        "Merger plan", "Salary bands")}
READABLE = {"alice": {d.doc_id for d in PUBLIC + SUPPORT}, "bob": {d.doc_id for d in PUBLIC}}
# Queries whose best match is a hidden document.
PROBES = ["when does the falconcorp merger close", "executive salary bands ospreyband",
          "refund override code zebra42", "merger plan confidential board"]


def embed(texts) -> np.ndarray:
    """Bag of hashed words -> unit vector (deterministic, no model)."""
    out = np.zeros((len(texts), D), np.float32)
    for row, text in enumerate(texts):
        text = text.decode() if isinstance(text, bytes) else text
        for word in re.findall(r"\w+", text.lower()):
            out[row] += np.random.default_rng(zlib.crc32(word.encode())).standard_normal(D)
    out += 1e-3
    return out / np.linalg.norm(out, axis=1, keepdims=True)


class HashEncoder(Servable):
    """The `encoder` servable over `embed` (query and document towers)."""

    def __init__(self):
        self.name, self.version = "encoder", 1
        sig = Signature({"text": TensorSpec("text", "string", (None,))},
                        {"embedding": TensorSpec("embedding", "float32", (None, D))})
        self._signatures = {"serving_default": sig, "encode_query": sig,
                            "encode_document": sig}

    @property
    def signatures(self):
        return self._signatures

    def run(self, signature_name, inputs):
        return {"embedding": embed(list(inputs["text"]))}


def build(base: str, documents, with_readers: bool = True, version: int | None = None) -> str:
    """An index version of `documents` (their readers dropped unless `with_readers`)."""
    import dataclasses

    docs = [d if with_readers else dataclasses.replace(d, readers=None) for d in documents]
    index = SearchIndex.build(embed([d.embedding_text() for d in docs]), docs,
                              encoder=EncoderInfo("hash", 1, "hash-1"))
    index.refresh_questions(embed)
    return save_index(index, base, version)


def tokens_yaml(alice_groups=("support",), bob_groups=()) -> str:
    """alice and bob, and carol, who administers `support` (reads its audit trail)."""
    return (f"alice:\n  token_sha256: {token_sha256(ALICE)}\n  groups: {list(alice_groups)}\n"
            f"bob:\n  token_sha256: {token_sha256(BOB)}\n  groups: {list(bob_groups)}\n"
            f"carol:\n  token_sha256: {token_sha256(CAROL)}\n  groups: []\n"
            "  admin_of: [support]\n")


def leaked(user: str, text: str) -> list[str]:
    """The secret words of `user` found in `text`."""
    return [w for w in SECRET_WORDS[user] if w.lower() in text.lower()]
