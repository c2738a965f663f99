"""The reply generator: the chat model trained to write a system turn from its acts.

Each SGD system turn is one example, delexicalised: its acts with each value a
``[slot]`` placeholder as passages (`text.act_format`), the system utterance with
each of those values replaced by its placeholder as the target
(`text.delexicalised_acts`). A turn that says a value otherwise ("two people" is
read, "the 8th" for March 8th is not), or that still holds a digit once its values
are placeholders (a value the acts do not hold), is left out: the model must
learn that values come only from placeholders. The model is the chat model's
encoder-decoder with its copy head, started from an exported `chat` version, so
it already writes SGD's style and quotes passages. After decoding, the
placeholders are filled from the acts, and the assistant keeps the reply only if
it states exactly the acts' values (`dialogue.replies.faithful_reply`).

    lepton-tf train reply_generator            # configs/reply_generator.yaml
    lepton-tf export reply_generator --run runs/reply_generator
"""

from __future__ import annotations

import dataclasses
import os
import re

import numpy as np
import tensorflow as tf

from lepton_tf.data.sgd_full import dialogue_paths, read_dialogue_file
from lepton_tf.data.stream import epoch_shuffled_stream
from lepton_tf.models.chat import ChatModel
from lepton_tf.tasks.chat import (ChatTask, MaskedSmoothedCrossEntropy, encode_texts,
                                  load_grown_weights, masked_accuracy, token_nll)
from lepton_tf.tasks.sections import chat_model, generator_data
from lepton_tf.text import ChatTokenizer
from lepton_tf.text.act_format import generator_context
from lepton_tf.text.delexicalised_acts import PLACEHOLDER, delexicalise
from lepton_tf.text.vocab_io import load_vocab
from lepton_tf.training.config import TrainConfig

SYSTEM_ACTS = frozenset({"INFORM", "REQUEST", "CONFIRM", "OFFER", "NOTIFY_SUCCESS",
                         "NOTIFY_FAILURE", "INFORM_COUNT", "OFFER_INTENT", "REQ_MORE",
                         "GOODBYE"})
_DIGIT = re.compile(r"\d")


def turn_acts(turn: dict) -> list[tuple[str, str, list]]:
    """A system turn's acts over all its frames: `(act, slot, values)`."""
    return [(a["act"], a.get("slot", ""), list(a.get("values", [])))
            for frame in turn.get("frames", []) for a in frame.get("actions", [])
            if a["act"] in SYSTEM_ACTS]


def act_examples(dialogues, context_turns: int = 0):
    """`(context, delexicalised reply)` strings: one per system turn with at least
    one act whose values its utterance states as they are (see the module).

    Args:
        dialogues: SGD dialogues in the original format.
        context_turns: turns before the system turn shown after the acts.
    """
    for dialogue in dialogues:
        turns = dialogue["turns"]
        for i, turn in enumerate(turns):
            acts = turn_acts(turn) if turn["speaker"] == "SYSTEM" else []
            target = delexicalise(turn["utterance"], acts) if acts else None
            if target is None or _DIGIT.search(PLACEHOLDER.sub("", target)):
                continue
            history = [(t["speaker"], t["utterance"])
                       for t in turns[max(0, i - context_turns):i]] if context_turns else []
            yield generator_context(acts, history), target


def read_examples(folder: str, context_turns: int) -> tuple[list[str], list[str]]:
    """The `(contexts, replies)` of every dialogue file of `folder`.

    Raises:
        FileNotFoundError: no such folder or no dialogue files in it.
    """
    contexts, replies = [], []
    for path in dialogue_paths(folder):
        for context, reply in act_examples(read_dialogue_file(path), context_turns):
            contexts.append(context)
            replies.append(reply)
    return contexts, replies


class ReplyGeneratorTask(ChatTask):
    """Teacher-forced training of `ChatModel` on (acts + context -> system turn).

    Args:
        train, validation: optional `(contexts, replies)` lists (tests); default:
            the config's SGD folders.
    """

    def __init__(self, train=None, validation=None):
        super().__init__()
        self._examples = {"train": train, "validation": validation}

    def get_tokenizer(self, config: TrainConfig) -> ChatTokenizer:
        if self.tokenizer is None:
            self.tokenizer = ChatTokenizer(load_vocab(generator_data(config).vocab))
        return self.tokenizer

    def build_model(self, config: TrainConfig) -> ChatModel:
        model = ChatModel(vocabulary_size=self.get_tokenizer(config).vocabulary_size,
                          name="chat_model", **dataclasses.asdict(chat_model(config)))
        data = generator_data(config)
        if data.init_saved_model:
            from lepton_tf.tasks.chat_restore import restore_with_fewer_positions

            restore_with_fewer_positions(model, data.init_saved_model)
        elif data.init_weights:
            load_grown_weights(model, data.init_weights)
        return model

    def compile_args(self, config: TrainConfig) -> dict:
        return {"loss": MaskedSmoothedCrossEntropy(generator_data(config).label_smoothing),
                "metrics": [masked_accuracy, token_nll]}

    def _texts(self, config: TrainConfig, which: str):
        given = self._examples[which]
        if given is not None:
            return given
        data = generator_data(config)
        folder = data.train if which == "train" else data.validation
        return read_examples(folder, data.context_turns) if folder else ([], [])

    def _features(self, config, contexts, replies):
        return encode_texts(self.get_tokenizer(config), contexts, replies,
                            dataclasses.asdict(chat_model(config)))

    def train_dataset(self, config: TrainConfig) -> tf.data.Dataset:
        contexts, replies = self._texts(config, "train")
        sample = generator_data(config).sample
        if sample and sample < len(contexts):
            pick = sorted(np.random.default_rng(config.seed).choice(len(contexts), sample,
                                                                    replace=False))
            contexts, replies = [contexts[i] for i in pick], [replies[i] for i in pick]
        features, labels = self._features(config, contexts, replies)
        return epoch_shuffled_stream((features, labels), batch_size=config.batch_size,
                                     seed=config.seed)

    def validation_dataset(self, config: TrainConfig) -> tf.data.Dataset | None:
        contexts, replies = self._texts(config, "validation")
        limit = generator_data(config).validation_limit
        if not contexts or not limit:
            return None
        step = max(1, len(contexts) // limit)  # spread over services
        features, labels = self._features(config, contexts[::step][:limit],
                                          replies[::step][:limit])
        return tf.data.Dataset.from_tensor_slices((features, labels)).batch(128)


def _make_task(config: TrainConfig) -> ReplyGeneratorTask:
    chat_model(config), generator_data(config)  # a typo in either fails here
    return ReplyGeneratorTask()


def _export(model, task: ReplyGeneratorTask, config: TrainConfig, base_dir: str,
            version) -> str:
    from lepton_tf.export.chat_servable import export_chat

    return export_chat(model, task.get_tokenizer(config), base_dir=base_dir,
                       name=config.name, version=version, **generator_data(config).export)


def _trainable():
    from lepton_tf.tasks.registry import Trainable

    return Trainable(config=os.path.join("configs", "reply_generator.yaml"),
                     make_task=_make_task, export=_export)


TRAINABLE = _trainable()
