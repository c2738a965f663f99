"""Grounded chat: passages in the packed context, grounded examples, growing a
trained model's tables, the servable's clamp and the citation metrics."""

import dataclasses
import functools

import keras
import numpy as np
import pytest
import tensorflow as tf

from chat_fixtures import SIZES
from lepton_tf.assistant.grounding import RetrievedPassage, build_context
from lepton_tf.data.beir import BeirCollection
from lepton_tf.data.grounded import (evaluation_examples, opening_sentence, split_by_answer,
                                     training_examples, PassageRetriever)
from lepton_tf.evaluation.grounded import citation_metrics, strip_citations
from lepton_tf.models.chat import DOC_ID, ChatModel, pack_context

GROUNDED = dict(SIZES, context_length=40, max_passages=2, passage_length=12)


@functools.lru_cache(maxsize=None)
def tokenizer(version: int = 2):
    """chat-v2 writes `]`, so citations `[n]` survive a round trip."""
    from lepton_tf.text import ChatTokenizer
    from lepton_tf.text.vocab_io import load_vocab

    return ChatTokenizer(load_vocab(f"vocab/chat-v{version}.txt"))


def _ids(texts):
    return tokenizer().tokenize(tf.constant(texts))


def test_packing_keeps_passages_then_the_newest_dialogue():
    context = build_context(
        [RetrievedPassage("a", "Bus tickets", "Buses leave from the central station every hour.",
                          1.0),
         RetrievedPassage("b", "Hotels", "Rooms can be booked online.", 0.5),
         RetrievedPassage("c", "Third", "Never shown.", 0.1)],
        [("USER", "old turn " * 30), ("SYSTEM", "Anything else?"), ("USER", "When do buses go?")])
    packed = pack_context(_ids([context]), 3, 40, max_passages=2, passage_length=12)[0].numpy()
    text = tokenizer().detokenize(packed[None]).numpy()[0].decode()
    assert list(packed).count(DOC_ID) == 2 and "Never" not in text
    assert text.startswith("[DOC] [1] Bus tickets: Buses leave")
    assert text.endswith("[USER] When do buses go?")
    # Without passage room (the SGD-only model) the passages are dropped.
    plain = pack_context(_ids([context]), 3, 40)[0].numpy()
    assert DOC_ID not in plain and plain[-1] != 0


def _collection():
    corpus, queries, qrels = {}, {}, {}
    topics = ["bus tickets station", "hotel rooms booking", "weather rain forecast",
              "music songs playlist", "flight airport gate", "movie cinema showtime",
              "bank card payment", "restaurant table dinner"]
    for t, words in enumerate(topics):
        corpus[f"t{t}-a0"] = {"title": f"About {words}",
                              "text": f"The {words} answer number {t}. More detail follows."}
        for j in range(3):
            queries[f"t{t}-q{j}"] = f"question {j} on {words}"
            qrels[f"t{t}-q{j}"] = {f"t{t}-a0": 1}
    return BeirCollection(corpus, queries, qrels)


def test_split_by_answer_never_shares_an_answer():
    collection = _collection()
    train, held = split_by_answer(collection, held_out_fraction=0.4)
    assert train and held
    answers = lambda qs: {d for q in qs for d in collection.qrels[q]}  # noqa: E731
    assert not answers(train) & answers(held)


def test_training_examples_show_one_relevant_passage_and_cite_it():
    collection = _collection()
    train, held = split_by_answer(collection, held_out_fraction=0.4)
    held_docs = {d for q in held for d in collection.qrels[q]}
    examples = training_examples(collection, train, passages=2, variants=3,
                                 exclude=held_docs, seed=1)
    assert len(examples) == 3 * len(train)
    for e in examples:
        shown = [d for d, _, _ in e.passages]
        assert len(shown) == 2 and not set(shown) & held_docs
        assert shown[e.cited - 1] in collection.qrels[e.query_id]
        assert e.reply == f"{e.reference} [{e.cited}]"
        assert e.reference == opening_sentence(e.passages[e.cited - 1][2])
    assert {e.cited for e in examples} == {1, 2}  # the relevant one is not always first


def test_evaluation_examples_mark_a_retrieval_miss():
    collection = _collection()
    retriever = PassageRetriever(collection)
    hit, = evaluation_examples(collection, ["t0-q0"], retriever, passages=2)
    assert hit.passages[hit.cited - 1][0] == "t0-a0"
    collection.queries["t0-q0"] = "zzz unrelated words"
    miss, = evaluation_examples(collection, ["t0-q0"], retriever, passages=2)
    assert miss.cited == 0 and miss.reference.startswith("The bus tickets")


def test_references_are_cut_to_what_the_model_sees():
    from lepton_tf.tasks.chat import fit_to_passages, grounded_context

    collection = _collection()
    long = " ".join(f"word{i}" for i in range(40))
    collection.corpus["t0-a0"]["text"] = long + "."
    examples = training_examples(collection, ["t0-q0"], passages=2, variants=1,
                                 max_reply_words=30)
    fitted, = fit_to_passages(examples, tokenizer(), passage_length=20)
    assert 3 <= len(fitted.reference.split()) < 30
    packed = pack_context(_ids([grounded_context(fitted)]), 3, 60, 2, 20)[0].numpy().tolist()
    reference = _ids([fitted.reference])[0].numpy().tolist()
    start = [i for i, t in enumerate(packed) if t == DOC_ID][fitted.cited - 1]
    window = packed[start:start + 20]
    assert any(window[i:i + len(reference)] == reference for i in range(len(window)))


def test_load_grown_weights_keeps_trained_rows(tmp_path):
    from lepton_tf.tasks.chat import load_grown_weights
    from lepton_tf.training.config import TrainConfig, save_config

    keras.utils.set_random_seed(3)
    old = ChatModel(vocabulary_size=tokenizer(1).vocabulary_size, **SIZES)
    old.save_weights(str(tmp_path / "final.weights.h5"))
    save_config(TrainConfig(name="chat", output_dir=str(tmp_path), model=dict(SIZES),
                            data={"vocab": "vocab/chat-v1.txt"}),
                str(tmp_path / "config.yaml"))
    grown = ChatModel(vocabulary_size=tokenizer(2).vocabulary_size, copy_attention=True,
                      **GROUNDED)
    load_grown_weights(grown, str(tmp_path / "final.weights.h5"))
    before = {v.path: v for v in old.weights}
    assert len(grown.weights) == len(old.weights) + 6  # the copy head's 3 dense layers
    for new in grown.weights:
        if new.path in before:
            rows = before[new.path].shape[0]
            np.testing.assert_array_equal(new.numpy()[:rows], before[new.path].numpy())
    assert grown.embedding.token_embedding.embeddings.shape[0] == old.embedding.token_embedding.embeddings.shape[0] + 9
    wider = ChatModel(vocabulary_size=tokenizer(1).vocabulary_size,
                      **dict(SIZES, hidden_dim=32))
    with pytest.raises(ValueError, match="cannot initialise"):
        load_grown_weights(wider, str(tmp_path / "final.weights.h5"))


def test_servable_keeps_passages_of_a_huge_grounded_context():
    from lepton_tf.export.chat_servable import ChatServable

    keras.utils.set_random_seed(0)
    model = ChatModel(vocabulary_size=tokenizer().vocabulary_size, **GROUNDED)
    servable = ChatServable(model, tokenizer())
    context = build_context([RetrievedPassage("a", "Buses", "Buses leave hourly.", 1.0)],
                            [("USER", "blah " * 20000 + "When do buses go?")])
    ids, _ = servable._encode_context(servable._check_text(tf.constant([context]), "context"))
    text = tokenizer().detokenize(ids).numpy()[0].decode()
    assert text.startswith("[DOC] [1] Buses: Buses leave hourly")
    assert text.endswith("When do buses go?")


def test_citation_metrics_count_supported_citations():
    from lepton_tf.data.grounded import GroundedExample

    example = GroundedExample("q", "How do I strike text?",
                              (("a", "Strikethrough", "Use tildes around the words."),
                               ("b", "Hotels", "Rooms can be booked online.")), 1,
                              "Use tildes around the words.")
    replies = ["Use tildes around the words. [1]", "Rooms booked with tildes. [2]",
               "No citation here."]
    m = citation_metrics(replies, [example] * 3)
    assert m["citations"] == 2 and m["citation_precision"] == 0.5
    assert m["replies_citing"] == pytest.approx(2 / 3)
    assert m["cite_relevant_passage"] == pytest.approx(1 / 3)
    assert strip_citations(replies[1]) == "Rooms booked with tildes."
    assert dataclasses.replace(example, cited=0).reply == example.reference


def test_dialogue_examples_show_the_real_reply_among_other_dialogues():
    from lepton_tf.data.grounded import dialogue_examples
    from lepton_tf.data.records import ResponsePair

    pairs = [ResponsePair(f"d{i}", 1, ("Hi", f"I need help {i}."), ("SYSTEM", "USER"),
                          f"Reply number {i}.", ("Buses_1",), ()) for i in range(20)]
    pairs.append(ResponsePair("d99", 0, (), (), "Opening without a user turn.", ("Buses_1",), ()))
    examples = dialogue_examples(pairs, 10, passages=2, seed=3)
    assert len(examples) == 10
    for e in examples:
        gold = e.passages[e.cited - 1]
        assert gold[2] == e.reference and gold[1] == "Buses"
        assert e.question.startswith("I need help") and e.history == (("SYSTEM", "Hi"),)
        assert {p[0].split("/")[0] for p in e.passages} != {gold[0].split("/")[0]}
