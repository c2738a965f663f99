"""Retrieval training pairs: JSONL `{"query", "positive", "negative"?}`.

Bring your own pairs in that format, or convert the vendored corpora with
`stackfaq_pairs` / `sgd_intent_pairs`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random

from lepton_tf.data._io import iter_json_objects
from lepton_tf.data.errors import DataFormatError


@dataclasses.dataclass(frozen=True)
class RetrievalPair:
    """A query, a relevant passage and optionally a hard negative passage."""

    query: str
    positive: str
    negative: str | None = None


def read_pairs(path: str | os.PathLike) -> list[RetrievalPair]:
    """Reads a JSONL (optionally gzipped) file of pairs.

    Raises:
        FileNotFoundError: if the file does not exist.
        DataFormatError: naming the file and line of a bad record.
    """
    pairs = []
    for line_no, record in iter_json_objects(path):
        for key in ("query", "positive"):
            if not isinstance(record.get(key), str) or not record[key].strip():
                raise DataFormatError(path, line_no, f"expected a non-empty string '{key}'")
        negative = record.get("negative")
        if negative is not None and not isinstance(negative, str):
            raise DataFormatError(path, line_no, "'negative' must be a string")
        pairs.append(RetrievalPair(record["query"], record["positive"], negative or None))
    return pairs


def write_pairs(pairs, path: str | os.PathLike) -> None:
    """Writes pairs as JSONL (atomically)."""
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        for p in pairs:
            record = {"query": p.query, "positive": p.positive}
            if p.negative:
                record["negative"] = p.negative
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
    os.replace(tmp, path)


def sgd_intent_pairs(split: str = "train", seed: int = 0,
                     max_per_intent: int | None = 200) -> list[RetrievalPair]:
    """User turns that open an intent -> that intent's schema description.

    The document text is "<service description>: <intent description>", as
    `sgd_intent_corpus` writes it. A hard negative is another intent of the
    same service when it has one.

    Args:
        split: SGD split (dev and test hold services unseen in train).
        seed: sampling seed.
        max_per_intent: cap on queries per intent (keeps frequent intents
            from dominating); None for no cap.
    """
    from lepton_tf.data.sgd import read_sgd_dialogues, read_sgd_schemas

    schemas = read_sgd_schemas(split)
    docs = sgd_intent_corpus(split)
    by_intent: dict[str, list[str]] = {}
    for dialogue in read_sgd_dialogues(split):
        for turn in dialogue.turns:
            if turn.speaker != "USER" or "INFORM_INTENT" not in turn.acts:
                continue
            for service, intent in zip(turn.services, turn.intents):
                key = f"{service}:{intent}"
                if key in docs:
                    by_intent.setdefault(key, []).append(turn.utterance)
    rng = random.Random(seed)
    pairs = []
    for key in sorted(by_intent):
        queries = sorted(set(by_intent[key]))
        rng.shuffle(queries)
        service = key.split(":")[0]
        siblings = [f"{service}:{i}" for i in schemas[service].intents if f"{service}:{i}" != key]
        for query in queries[:max_per_intent]:
            negative = docs[rng.choice(siblings)] if siblings else None
            pairs.append(RetrievalPair(query, docs[key], negative))
    rng.shuffle(pairs)
    return pairs


def sgd_intent_corpus(split: str = "train") -> dict[str, str]:
    """`service:intent` -> "<service description>: <intent description>"."""
    from lepton_tf.data.sgd import read_sgd_schemas

    return {f"{name}:{intent}": f"{schema.description}: {description}"
            for name, schema in read_sgd_schemas(split).items()
            for intent, description in schema.intents.items()}
