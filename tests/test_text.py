"""Tests for lepton_tf.text (in-graph tokenizers and the chat vocabulary)."""

import gzip
import json
import os
import subprocess
import sys
import textwrap
import time

import pytest
import tensorflow as tf

from lepton_tf.text import (
    CHAT_RESERVED_TOKENS,
    ChatTokenizer,
    MiniLMTokenizer,
    build_chat_vocab,
    load_vocab,
    save_vocab,
)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = "/work/shared/data"


def _first_existing(*paths):
    for path in paths:
        if os.path.exists(path):
            return path
    pytest.skip(f"none of {paths} exists")


def _read_jsonl(path, every=1):
    """Parses every `every`-th line (files are sorted by service: spread out)."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for i, line in enumerate(f) if i % every == 0]


def _sgd_utterances(split, speaker=None, every=1):
    path = _first_existing(
        os.path.join(REPO, "data", "sgd", f"sgd_{split}.jsonl.gz"),
        os.path.join(SHARED, "sgd", f"sgd_{split}.jsonl.gz"),
    )
    return [
        turn["utterance"]
        for dialogue in _read_jsonl(path, every)
        for turn in dialogue["turns"]
        if speaker is None or turn["speaker"] == speaker
    ]


@pytest.fixture(scope="module")
def minilm_reference():
    path = _first_existing(
        os.path.join(REPO, "data", "minilm_reference.jsonl.gz"),
        os.path.join(SHARED, "minilm_reference.jsonl"),
    )
    return _read_jsonl(path)


@pytest.fixture(scope="module")
def minilm():
    return MiniLMTokenizer()


@pytest.fixture(scope="module")
def chat_vocab():
    texts = _sgd_utterances("train", every=40)  # ~300 dialogues, ~6k utterances
    start = time.perf_counter()
    vocab = build_chat_vocab(texts, vocab_size=2000)
    print(f"chat vocab: {len(vocab)} tokens in {time.perf_counter() - start:.1f}s")
    return vocab


@pytest.fixture(scope="module")
def chat_tokenizer(chat_vocab):
    return ChatTokenizer(chat_vocab)


# --- MiniLM -----------------------------------------------------------------


def test_minilm_parity_with_reference(minilm, minilm_reference):
    assert len(minilm_reference) == 77
    assert {r["max_length"] for r in minilm_reference} == {256}
    out = minilm(tf.constant([r["text"] for r in minilm_reference]))
    ids, mask = out["token_ids"], out["padding_mask"]
    assert ids.dtype == tf.int32 and mask.dtype == tf.bool
    assert ids.shape[1] == max(len(r["token_ids"]) for r in minilm_reference)
    mismatches = [
        r["text"]
        for row_ids, row_mask, r in zip(ids.numpy(), mask.numpy(), minilm_reference)
        if row_ids[row_mask].tolist() != r["token_ids"]
        or row_ids[~row_mask].tolist() != [0] * int((~row_mask).sum())
    ]
    assert mismatches == []


def test_minilm_truncation_keeps_cls_and_sep(minilm):
    short = MiniLMTokenizer(vocabulary=minilm.get_vocabulary(), sequence_length=6)
    out = short(tf.constant(["The quick brown fox jumps over the lazy dog.", "hi", ""]))
    assert out["token_ids"].numpy().tolist() == [
        [101, 1996, 4248, 2829, 4419, 102],
        [101, 7632, 102, 0, 0, 0],
        [101, 102, 0, 0, 0, 0],
    ]
    assert out["padding_mask"].numpy().sum(axis=1).tolist() == [6, 3, 2]


def test_minilm_get_config_round_trip(minilm):
    small = MiniLMTokenizer(vocabulary=minilm.get_vocabulary(), sequence_length=12)
    rebuilt = MiniLMTokenizer.from_config(small.get_config())
    text = tf.constant(["Book a table for 2 at 7:30pm at Nobu, please!!"])
    assert rebuilt.sequence_length == 12
    assert rebuilt.vocabulary_size == 30522
    assert rebuilt(text)["token_ids"].numpy().tolist() == (
        small(text)["token_ids"].numpy().tolist()
    )


def test_saved_model_in_fresh_process(
    minilm, minilm_reference, chat_tokenizer, tmp_path
):
    """Both tokenizers, saved in one SavedModel, reloaded with only TF + TF Text."""
    texts = [r["text"] for r in minilm_reference]
    chat_texts = ["[USER] Hi! I'd like a table for 2 at 7:30 pm.", "Okay."]
    module = tf.Module()
    module.minilm = minilm
    module.chat = chat_tokenizer

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def minilm_fn(strings):
        return minilm(strings)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def chat_fn(strings):
        ids = chat_tokenizer.tokenize(strings)
        return {"ids": ids.to_tensor(), "text": chat_tokenizer.detokenize(ids)}

    export_dir = str(tmp_path / "tokenizers")
    tf.saved_model.save(
        module, export_dir, signatures={"serving_default": minilm_fn, "chat": chat_fn}
    )
    assert os.listdir(os.path.join(export_dir, "assets")) == []  # vocab in graph

    script = textwrap.dedent(
        """
        import json, sys
        import tensorflow as tf
        import tensorflow_text  # registers the ops
        inputs = json.loads(sys.stdin.read())
        loaded = tf.saved_model.load(sys.argv[1])
        out = loaded.signatures["serving_default"](tf.constant(inputs["minilm"]))
        chat = loaded.signatures["chat"](tf.constant(inputs["chat"]))
        assert "lepton_tf" not in sys.modules
        print(json.dumps({
            "token_ids": out["token_ids"].numpy().tolist(),
            "padding_mask": out["padding_mask"].numpy().astype(int).tolist(),
            "chat_ids": chat["ids"].numpy().tolist(),
            "chat_text": [t.decode() for t in chat["text"].numpy()],
        }))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script, export_dir],
        input=json.dumps({"minilm": texts, "chat": chat_texts}),
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    reloaded = json.loads(result.stdout.strip().splitlines()[-1])
    expected = minilm(tf.constant(texts))
    assert reloaded["token_ids"] == expected["token_ids"].numpy().tolist()
    assert reloaded["padding_mask"] == (
        expected["padding_mask"].numpy().astype(int).tolist()
    )
    chat_ids = chat_tokenizer.tokenize(tf.constant(chat_texts))
    assert reloaded["chat_ids"] == chat_ids.to_tensor().numpy().tolist()
    assert reloaded["chat_text"] == chat_texts


# --- chat vocabulary ----------------------------------------------------------


def test_chat_vocab_reserved_tokens_first(chat_vocab):
    assert chat_vocab[:8] == CHAT_RESERVED_TOKENS
    assert len(chat_vocab) <= 2000
    assert len(set(chat_vocab)) == len(chat_vocab)
    assert "Thank" in chat_vocab  # cased


def test_save_and_load_vocab(chat_vocab, tmp_path):
    path = tmp_path / "vocab.txt"
    save_vocab(chat_vocab, path)
    assert load_vocab(path) == chat_vocab
    assert [p.name for p in tmp_path.iterdir()] == ["vocab.txt"]  # no temp left
    with pytest.raises(ValueError):
        save_vocab(["ok", "bad\ntoken"], path)
    assert load_vocab(path) == chat_vocab  # failed write left the file intact


# --- chat tokenizer -----------------------------------------------------------


def test_chat_reserved_tokens_are_single_tokens(chat_tokenizer):
    tok = chat_tokenizer
    assert [tok.pad_id, tok.bos_id, tok.eos_id, tok.sep_id] == [0, 2, 3, 4]
    assert [tok.user_id, tok.system_id, tok.doc_id] == [5, 6, 7]
    ids = tok.tokenize(tf.constant(["[USER]", "[USER]Hi[SYSTEM] Hello [DOC]x", "Hi"]))
    assert ids.dtype == tf.int32
    rows = ids.to_list()
    assert rows[0] == [tok.user_id]
    assert rows[1][0] == tok.user_id and tok.system_id in rows[1]
    assert rows[1][-2] == tok.doc_id
    assert rows[1].count(tok.user_id) == 1 and tok.unk_id not in rows[1]
    # Other bracketed words are ordinary text, split at the brackets.
    assert len(tok.tokenize(tf.constant(["[NOTRESERVED]"])).to_list()[0]) >= 3


def test_chat_detokenize_drops_pad_bos_eos_and_fixes_spacing(chat_tokenizer):
    tok = chat_tokenizer
    text = "I'm sorry, it doesn't leave at 7:30 pm; it costs $1,250.00 (one-way)!"
    ids = tok.tokenize(tf.constant([text]))
    framed = tf.concat(
        [tf.fill([1, 1], tok.bos_id), ids, tf.fill([1, 2], tok.eos_id)], axis=1
    )
    padded = framed.to_tensor(default_value=tok.pad_id, shape=[1, 64])
    assert tok.detokenize(framed).numpy()[0].decode() == text
    assert tok.detokenize(padded).numpy()[0].decode() == text


def test_chat_round_trip_rate_on_sgd(chat_tokenizer):
    texts = _sgd_utterances("dev", speaker="SYSTEM", every=10)[:1000]
    back = chat_tokenizer.detokenize(chat_tokenizer.tokenize(tf.constant(texts)))
    matches = sum(a == b.decode() for a, b in zip(texts, back.numpy()))
    rate = matches / len(texts)
    print(f"chat round-trip exact match: {rate:.3f} on {len(texts)} utterances")
    assert rate >= 0.9


def test_chat_tokenizer_in_tf_function_and_config(chat_tokenizer, chat_vocab):
    rebuilt = ChatTokenizer.from_config(chat_tokenizer.get_config())
    assert rebuilt.get_vocabulary() == chat_vocab
    assert rebuilt.vocabulary_size == len(chat_vocab)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def round_trip(strings):
        return rebuilt.detokenize(rebuilt.tokenize(strings))

    texts = ["[SYSTEM] Your table is booked.", "What's the address?"]
    assert [s.decode() for s in round_trip(tf.constant(texts)).numpy()] == texts
    assert rebuilt.tokenize(tf.constant(texts)).to_list() == (
        chat_tokenizer.tokenize(tf.constant(texts)).to_list()
    )


def test_chat_tokenizer_requires_reserved_tokens():
    with pytest.raises(ValueError, match="USER"):
        ChatTokenizer(["[PAD]", "[UNK]", "[BOS]", "[EOS]", "[SEP]", "a"])


@pytest.mark.parametrize("joined,expected", [
    ("Go here : http : / / www . facebook . com / help / delete _ account now",
     "Go here: http://www.facebook.com/help/delete_account now"),
    ("the syntax < del > ... < / del > works", "the syntax <del>... </del> works"),
    ("Use ~ ~ tildes around the words ~ ~ .", "Use ~~tildes around the words~~."),
    ("It costs $ 35 / night .", "It costs $35 / night."),
])
def test_fix_spacing_of_quoted_passages(joined, expected):
    from lepton_tf.text.detokenize import fix_spacing

    assert fix_spacing(tf.constant(joined)).numpy().decode() == expected
