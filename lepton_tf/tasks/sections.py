"""Typed `model:` and `data:` sections of each task's config.

`TrainConfig` keeps the sections as mappings (a YAML file holds them); each
task reads them through these dataclasses, so an unknown key fails at once
with the list of known ones (`parse_section`) and every default lives here
or in the model's constructor, nowhere else.

Example:

>>> data = chat_data({"data": {"label_smoothing": 0.2}})
>>> data.label_smoothing, data.vocab
(0.2, 'vocab/chat-v1.txt')
>>> try:
...     chat_data({"data": {"label_smothing": 0.2}})
... except ValueError as e:
...     print(e)
Unknown keys ['label_smothing'] in the `data:` section; known keys are ['export', ...].
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any

from lepton_tf.models.chat import ChatModel
from lepton_tf.training.config import parse_section


def _section(config, name: str) -> dict:
    return (config.get(name) if isinstance(config, dict) else getattr(config, name)) or {}


def _from_signature(name: str, fn, skip: tuple[str, ...]):
    """A dataclass whose fields are `fn`'s keyword arguments and their defaults,
    so a model's constructor stays the one definition of its options."""
    fields = [(p.name, Any, dataclasses.field(default=p.default))
              for p in inspect.signature(fn).parameters.values()
              if p.name not in ("self", *skip) and p.default is not p.empty]
    return dataclasses.make_dataclass(name, fields)


# -- chat ---------------------------------------------------------------------

ChatModelSection = _from_signature("ChatModelSection", ChatModel.__init__,
                                   skip=("vocabulary_size",))


@dataclasses.dataclass
class GroundedSection:
    """`data.grounded`: StackFAQ questions answered from shown passages.

    Attributes:
        collection: BEIR folder (default: the vendored StackFAQ).
        splits: BEIR splits whose queries are used.
        held_out_fraction: share of answers held out for validation.
        passages: passages shown per example.
        variants: examples per training question (passage orders).
        max_reply_words: words kept of a reference answer.
        dialogue_examples: SGD turns shown with distractor passages.
    """

    collection: str | None = None
    splits: list = dataclasses.field(default_factory=lambda: ["train", "test"])
    held_out_fraction: float = 0.2
    passages: int = 2
    variants: int = 4
    max_reply_words: int = 20
    dialogue_examples: int = 0


@dataclasses.dataclass
class ChatDataSection:
    """`data:` of the chat task.

    Attributes:
        vocab: the chat vocabulary file.
        label_smoothing: of the training loss.
        limit: SGD training pairs kept (first N; tests).
        sgd_sample: SGD training pairs sampled (seeded).
        validation_limit: dev pairs evaluated (0: no validation).
        init_weights: `final.weights.h5` of a run to start from.
        export: `export_chat` options (`num_beams`, `max_new_tokens`, ...).
        grounded: a `GroundedSection` mapping, or None for dialogue only.
    """

    vocab: str = "vocab/chat-v1.txt"
    label_smoothing: float = 0.1
    limit: int | None = None
    sgd_sample: int | None = None
    validation_limit: int = 2000
    init_weights: str | None = None
    export: dict = dataclasses.field(default_factory=dict)
    grounded: Any = None

    def __post_init__(self):
        if self.grounded is not None and not isinstance(self.grounded, GroundedSection):
            self.grounded = parse_section(GroundedSection, self.grounded, "data.grounded")


def chat_model(config) -> Any:
    """The `ChatModelSection` of a config (or of a mapping with `model`)."""
    return parse_section(ChatModelSection, _section(config, "model"), "model")


def chat_data(config) -> ChatDataSection:
    """The `ChatDataSection` of a config (or of a mapping with `data`)."""
    return parse_section(ChatDataSection, _section(config, "data"), "data")


# -- encoder ------------------------------------------------------------------

@dataclasses.dataclass
class EncoderModelSection:
    """`model:` of the encoder task.

    Attributes:
        init: `minilm` (start from all-MiniLM-L6-v2) or `scratch`.
        shared: one tower for queries and documents.
        temperature: softmax temperature of the in-batch loss.
        learn_temperature: learn it instead.
        query_length, document_length: training token lengths.
        query_export_length, document_export_length: the servable's lengths.
        frozen_layers: keep the token embeddings and the lowest N transformer
            layers as they are (0: train everything); no gradient flows
            through them, so a step costs less.
        num_layers, hidden_dim, num_heads: sizes for `init: scratch`.
    """

    init: str = "minilm"
    shared: bool = True
    temperature: float = 0.05
    learn_temperature: bool = False
    query_length: int = 32
    document_length: int = 128
    query_export_length: int = 128
    document_export_length: int = 256
    frozen_layers: int = 0
    num_layers: int = 2
    hidden_dim: int = 128
    num_heads: int = 2

    def __post_init__(self):
        if self.init not in ("minilm", "scratch"):
            raise ValueError(f"model.init must be minilm or scratch, got {self.init!r}.")
        if self.frozen_layers < 0:
            raise ValueError(f"model.frozen_layers must be >= 0, got {self.frozen_layers}.")


@dataclasses.dataclass
class EncoderDataSection:
    """`data:` of the encoder task.

    Attributes:
        pairs: JSONL pair files or built-in names (`stackfaq`, `sgd`).
        hard_negatives: use the pairs' `negative` as an extra column.
    """

    pairs: list = dataclasses.field(default_factory=lambda: ["stackfaq"])
    hard_negatives: bool = False


def encoder_model(config) -> EncoderModelSection:
    return parse_section(EncoderModelSection, _section(config, "model"), "model")


def encoder_data(config) -> EncoderDataSection:
    return parse_section(EncoderDataSection, _section(config, "data"), "data")


# -- intent -------------------------------------------------------------------

@dataclasses.dataclass
class IntentDataSection:
    """`data:` of the intent task.

    Attributes:
        train: a CSV/JSONL of labelled texts (default: Banking77 train).
        labels: a JSON list of label names in logit order.
        holdout_labels: labels held out as out-of-scope (a list, or a count).
        calibration_fraction: in-scope share held out for the OOS threshold.
        accept_fraction: in-scope share the threshold accepts.
        oos_score: the out-of-scope score (see `OOS_SCORES`).
        limit: training examples kept (first N; tests).
    """

    train: str | None = None
    labels: str | None = None
    holdout_labels: Any = None
    calibration_fraction: float = 0.1
    accept_fraction: float = 0.95
    oos_score: str = "energy"
    limit: int | None = None


def intent_data(config) -> IntentDataSection:
    return parse_section(IntentDataSection, _section(config, "data"), "data")


# -- reply generator ------------------------------------------------------------

@dataclasses.dataclass
class GeneratorDataSection:
    """`data:` of the reply generator task (`tasks.reply_generator`).

    Attributes:
        vocab: the chat vocabulary file (the one the starting weights used).
        label_smoothing: of the training loss.
        train, validation: SGD folders in the original format (system acts with
            values); validation None: no validation.
        sample: system turns sampled (seeded) from `train` (None: all).
        validation_limit: validation turns evaluated at epoch ends.
        context_turns: dialogue turns shown after the acts.
        init_saved_model: an exported `chat` version whose weights start the run
            (its sizes must be the `model:` section's).
        init_weights: or a run's `final.weights.h5` to start from.
        export: `export_chat` options.
    """

    vocab: str = "vocab/chat-v2.txt"
    label_smoothing: float = 0.1
    train: str = "../shared/data/sgd/full/train"
    validation: str | None = "../shared/data/sgd/full/dev"
    sample: int | None = None
    validation_limit: int = 500
    context_turns: int = 2
    init_saved_model: str | None = None
    init_weights: str | None = None
    export: dict = dataclasses.field(default_factory=dict)


def generator_data(config) -> GeneratorDataSection:
    """The `GeneratorDataSection` of a config."""
    return parse_section(GeneratorDataSection, _section(config, "data"), "data")
