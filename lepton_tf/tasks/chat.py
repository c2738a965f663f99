"""Chat: teacher-forced training of `ChatModel` on SGD (context -> next system turn)."""

from __future__ import annotations

import dataclasses
import inspect
import os

import keras
import numpy as np
import tensorflow as tf

from lepton_tf.data import iter_response_pairs, read_sgd_dialogues
from lepton_tf.data.paths import data_dir
from lepton_tf.data.stream import epoch_shuffled_stream
from lepton_tf.models.chat import ChatModel
from lepton_tf.models.chat_preprocessor import ChatPreprocessor
from lepton_tf.text.chat_format import PAD_ID, format_context
from lepton_tf.text import ChatTokenizer
from lepton_tf.text.vocab_io import load_vocab
from lepton_tf.tasks.sections import GroundedSection, chat_data, chat_model
from lepton_tf.training.config import TrainConfig



@keras.saving.register_keras_serializable(package="lepton_tf")
class MaskedSmoothedCrossEntropy(keras.losses.Loss):
    """Token cross-entropy with label smoothing, ignoring `[PAD]` labels.

    Keras' sparse cross-entropy has no label smoothing and averages over pad
    positions too. Per-token losses are rescaled by `tokens / real tokens`,
    so Keras' own `sum_over_batch_size` reduction (which also does the
    per-replica scaling under `tf.distribute`) yields the mean over real
    tokens.

    Example:

    >>> loss = MaskedSmoothedCrossEntropy(label_smoothing=0.0)
    >>> float(loss(np.array([[1, 0]]), np.array([[[0., 0.], [5., 0.]]])))  # ln 2
    0.693...

    Args:
        label_smoothing: mass spread uniformly over the vocabulary.
    """

    def __init__(self, label_smoothing: float = 0.1, name="masked_smoothed_ce", **kwargs):
        super().__init__(name=name, **kwargs)
        self.label_smoothing = label_smoothing

    def call(self, y_true, y_pred):
        y_true = tf.cast(y_true, tf.int32)
        log_probs = tf.nn.log_softmax(tf.cast(y_pred, tf.float32), axis=-1)
        nll = -tf.gather(log_probs, y_true, batch_dims=2)
        smooth = -tf.reduce_mean(log_probs, axis=-1)
        loss = (1.0 - self.label_smoothing) * nll + self.label_smoothing * smooth
        mask = tf.cast(tf.not_equal(y_true, PAD_ID), tf.float32)
        scale = tf.cast(tf.size(mask), tf.float32) / tf.maximum(tf.reduce_sum(mask), 1.0)
        return loss * mask * scale

    def get_config(self):
        return {**super().get_config(), "label_smoothing": self.label_smoothing}


def masked_accuracy(y_true, y_pred):
    """Next-token accuracy over non-pad labels (a batch scalar)."""
    y_true = tf.cast(y_true, tf.int32)
    mask = tf.cast(tf.not_equal(y_true, PAD_ID), tf.float32)
    hit = tf.cast(tf.equal(tf.argmax(y_pred, axis=-1, output_type=tf.int32), y_true), tf.float32)
    return tf.reduce_sum(hit * mask) / tf.maximum(tf.reduce_sum(mask), 1.0)


def token_nll(y_true, y_pred):
    """Unsmoothed mean negative log-likelihood per real token (exp = perplexity)."""
    return MaskedSmoothedCrossEntropy(label_smoothing=0.0)(y_true, y_pred)


def encode_texts(tokenizer: ChatTokenizer, contexts, replies, model_config: dict,
                 batch: int = 4096):
    """Turns context and reply strings into model features and labels (NumPy).

    Args:
        tokenizer: the chat tokenizer.
        contexts: context strings (the servable's `context` format).
        replies: reply strings.
        model_config: the `ChatModel` arguments (lengths, turns, passages).
        batch: strings tokenized per call (bounds memory).

    Returns:
        `(features, labels)`: the four `ChatModel` inputs and int32 labels
        `[N, reply_length]` (reply + `[EOS]`, `[PAD]` after; a reply longer
        than `reply_length - 1` tokens is cut and gets no `[EOS]`).
    """
    # The model's own defaults fill what the config leaves out, so the data
    # is packed exactly as the model built from the same config expects.
    defaults = inspect.signature(ChatModel.__init__).parameters
    m = {k: p.default for k, p in defaults.items() if p.default is not p.empty}
    m.update(model_config)
    preprocessor = ChatPreprocessor(
        tokenizer, context_length=m["context_length"], reply_length=m["reply_length"],
        max_context_turns=m["max_context_turns"], max_passages=m["max_passages"],
        passage_length=m["passage_length"])
    enc, dec, lab = [], [], []
    for i in range(0, len(contexts), batch):
        ids, _ = preprocessor.pack_contexts(tf.constant(contexts[i:i + batch]))
        enc.append(ids.numpy())
        inputs, labels = preprocessor.pack_replies(tf.constant(replies[i:i + batch]))
        dec.append(inputs.numpy())
        lab.append(labels.numpy())
    enc, dec, lab = (np.concatenate(a).astype(np.int32) for a in (enc, dec, lab))
    features = {"encoder_token_ids": enc, "encoder_padding_mask": enc != PAD_ID,
                "decoder_token_ids": dec, "decoder_padding_mask": dec != PAD_ID}
    return features, lab


def grounded_context(example) -> str:
    """The context string of a `GroundedExample`: numbered passages, then the question."""
    from lepton_tf.text.chat_format import build_context

    return build_context([(title, text) for _, title, text in example.passages],
                         [*example.history, ("USER", example.question)])


def fit_to_passages(examples, tokenizer: ChatTokenizer, passage_length: int,
                    min_words: int = 3) -> list:
    """Cuts each reference to the words the model can see of its cited passage.

    The packing keeps `passage_length` tokens of a passage (`[DOC] [n]
    title: text`); a reply should not quote past them. Examples left with
    fewer than `min_words` words are dropped.
    """
    from lepton_tf.text.chat_format import passage_header

    examples = [e for e in examples if e.cited]
    heads = [passage_header(e.cited, e.passages[e.cited - 1][1]) for e in examples]
    budgets = passage_length - tokenizer.tokenize(tf.constant(heads)).row_lengths().numpy()
    words = [e.reference.split() for e in examples]
    flat = [w for row in words for w in row]
    counts = tokenizer.tokenize(tf.constant(flat or [""])).row_lengths().numpy()
    ends = np.cumsum([len(row) for row in words])
    fitted = []
    for example, row_words, end, budget in zip(examples, words, ends, budgets):
        row_counts = counts[end - len(row_words):end]
        keep = int(np.searchsorted(np.cumsum(row_counts), budget, side="right"))
        if keep >= min_words:
            fitted.append(dataclasses.replace(example, reference=" ".join(row_words[:keep])))
    return fitted


def grounded_splits(config: TrainConfig):
    """`(collection, train query ids, held-out query ids)` of `data.grounded`."""
    from lepton_tf.data.beir import BeirCollection, read_beir
    from lepton_tf.data.grounded import split_by_answer

    g = chat_data(config).grounded or GroundedSection()
    directory = g.collection or os.path.join(data_dir(), "beir", "stackfaq")
    queries, qrels, corpus = {}, {}, {}
    for split in g.splits:
        part = read_beir(directory, split)
        corpus = part.corpus
        queries.update(part.queries)
        qrels.update(part.qrels)
    collection = BeirCollection(corpus, queries, qrels)
    train, held_out = split_by_answer(collection, g.held_out_fraction)
    return collection, train, held_out


def load_grown_weights(model: ChatModel, path: str) -> None:
    """Loads a trained `ChatModel`'s weights into a model that may be larger.

    The run folder of `path` (its `config.yaml`) says the old sizes. Weights
    are matched by path: tables that grew along their first axis (a
    vocabulary with appended tokens, a longer position table) get the old
    rows and keep their fresh initialisation for the new rows, weights the
    old model lacks (an added copy head) keep theirs, and every other weight
    must match.

    Raises:
        FileNotFoundError: if `path` or its run's `config.yaml` is missing.
        ValueError: if a weight other than a grown table differs in shape.
    """
    from lepton_tf.training.config import load_config

    run_config = os.path.join(os.path.dirname(path), "config.yaml")
    for needed in (path, run_config):
        if not os.path.exists(needed):
            raise FileNotFoundError(
                f"{needed} does not exist: train the model that init_weights names "
                "first (e.g. `lepton-tf train chat`).")
    old_config = load_config(run_config)
    old = ChatTask().build_model(dataclasses.replace(old_config, data={
        **old_config.data, "init_weights": None}))
    old.load_weights(path)
    old_weights = {v.path: v for v in old.weights}
    for new_var in model.weights:
        old_var = old_weights.get(new_var.path)
        if old_var is None:
            continue
        value, shape = old_var.numpy(), tuple(new_var.shape)
        if value.shape == shape:
            new_var.assign(value)
        elif value.shape[1:] == shape[1:] and value.shape[0] <= shape[0]:
            new_var.assign(np.concatenate([value, new_var.numpy()[value.shape[0]:]]))
        else:
            raise ValueError(f"cannot initialise {new_var.path} {shape} from {path}'s "
                             f"{old_var.path} {value.shape}")


class ChatTask:
    """Trains `ChatModel` with teacher forcing on SGD response pairs.

    Config `model` keys: the `ChatModel` arguments (except
    `vocabulary_size`). Config `data` keys: `vocab` (default
    `vocab/chat-v1.txt`), `label_smoothing` (0.1), `limit` (first N training
    pairs, for smoke runs), `sgd_sample` (a seeded random sample of N SGD
    training pairs instead of all), `validation_limit` (dev pairs evaluated
    at epoch ends, default 2000), `init_weights` (a `.weights.h5` of the
    same architecture to start from, e.g. `runs/chat/final.weights.h5`) and
    `grounded` (mix in grounded examples, see `lepton_tf.data.grounded`:
    `collection` (a BEIR folder, default the vendored StackFAQ),
    `held_out_fraction`, `passages`, `variants`, `max_reply_words`,
    `dialogue_examples`: how many SGD replies to also show as passages).

    Args:
        train: training `ResponsePair`s (default: SGD train).
        validation: validation pairs (default: SGD dev).
    """

    def __init__(self, train=None, validation=None):
        self._train, self._validation = train, validation
        self.tokenizer = None

    def _pairs(self, split, config):
        turns = chat_model(config).max_context_turns
        return list(iter_response_pairs(read_sgd_dialogues(split), max_context_turns=turns))

    def get_tokenizer(self, config: TrainConfig) -> ChatTokenizer:
        if self.tokenizer is None:
            self.tokenizer = ChatTokenizer(load_vocab(chat_data(config).vocab))
        return self.tokenizer

    def _encode(self, config, pairs, grounded=()):
        contexts = [format_context(p.context, p.speakers) for p in pairs]
        replies = [p.response for p in pairs]
        contexts += [grounded_context(e) for e in grounded]
        replies += [e.reply for e in grounded]
        return encode_texts(self.get_tokenizer(config), contexts, replies,
                            dataclasses.asdict(chat_model(config)))

    def _grounded(self, config, which: str, sgd_pairs=()):
        """Grounded examples: training ones (with `sgd_pairs` shown as passages,
        when `dialogue_examples` asks for them) or held-out validation ones."""
        g = chat_data(config).grounded
        if not g:
            return []
        from lepton_tf.data.grounded import dialogue_examples, training_examples

        collection, train, held_out = grounded_splits(config)
        held_docs = {d for q in held_out for d in collection.qrels[q]}
        # Validation: held-out answers, shown the same way as in training.
        queries, exclude = (train, held_docs) if which == "train" else (held_out, ())
        examples = training_examples(
            collection, queries, passages=g.passages,
            variants=g.variants if which == "train" else 1,
            max_reply_words=g.max_reply_words, exclude=exclude,
            seed=config.seed)
        if which == "train" and g.dialogue_examples:
            examples += dialogue_examples(sgd_pairs, g.dialogue_examples,
                                          passages=g.passages, seed=config.seed)
        return fit_to_passages(examples, self.get_tokenizer(config),
                               chat_model(config).passage_length)

    def build_model(self, config: TrainConfig) -> ChatModel:
        model = ChatModel(vocabulary_size=self.get_tokenizer(config).vocabulary_size,
                          name="chat_model", **dataclasses.asdict(chat_model(config)))
        init = chat_data(config).init_weights
        if init:
            load_grown_weights(model, init)
        return model

    def compile_args(self, config: TrainConfig) -> dict:
        return {"loss": MaskedSmoothedCrossEntropy(chat_data(config).label_smoothing),
                "metrics": [masked_accuracy, token_nll]}

    def train_dataset(self, config: TrainConfig) -> tf.data.Dataset:
        all_pairs = self._train if self._train is not None else self._pairs("train", config)
        pairs = all_pairs
        data = chat_data(config)
        limit, sample = data.limit, data.sgd_sample
        if limit:
            pairs = pairs[:limit]
        if sample and sample < len(pairs):
            pick = np.random.default_rng(config.seed).choice(len(pairs), sample, replace=False)
            pairs = [pairs[i] for i in sorted(pick)]
        grounded = self._grounded(config, "train", sgd_pairs=all_pairs)
        features, labels = self._encode(config, pairs, grounded)
        return epoch_shuffled_stream((features, labels), batch_size=config.batch_size,
                                     seed=config.seed)

    def validation_dataset(self, config: TrainConfig) -> tf.data.Dataset | None:
        pairs = self._validation if self._validation is not None else self._pairs("dev", config)
        limit = chat_data(config).validation_limit
        if not pairs or not limit:
            return None
        # A fixed, spread-out sample: dev dialogues come grouped by service.
        step = max(1, len(pairs) // limit)
        features, labels = self._encode(config, pairs[::step][:limit],
                                        self._grounded(config, "validation"))
        return tf.data.Dataset.from_tensor_slices((features, labels)).batch(256)


def _make_task(config: TrainConfig) -> ChatTask:
    chat_model(config), chat_data(config)  # a typo in either fails here, not hours in
    return ChatTask()


def _export(model, task: ChatTask, config: TrainConfig, base_dir: str, version) -> str:
    from lepton_tf.export.chat_servable import export_chat
    return export_chat(model, task.get_tokenizer(config), base_dir=base_dir,
                       name=config.name, version=version,
                       **chat_data(config).export)


def _trainable():
    from lepton_tf.tasks.registry import Trainable
    return Trainable(config=os.path.join("configs", "chat.yaml"), make_task=_make_task,
                     export=_export)


TRAINABLE = _trainable()
