"""Length-sorted encoding: the vectors of fixed padding, in the texts' order."""

import numpy as np
import pytest
import tensorflow as tf

from lepton_tf.text.length_batches import encode_in_length_batches, length_sorted_batches

TEXTS = ["How do I delete my account?", "hi",
         "A long answer " + "with many more words than the budget allows " * 6,
         "Où est le café? São Paulo", "reset PIN", "",
         "strikethrough text in github markdown, and tables too", "ok thanks"]


def test_batches_hold_every_row_once_shortest_first():
    batches = length_sorted_batches(TEXTS, 3)
    rows = np.concatenate(batches)
    assert sorted(rows.tolist()) == list(range(len(TEXTS)))
    assert [len(b) for b in batches] == [3, 3, 2]
    lengths = [len(TEXTS[i]) for i in rows]
    assert lengths == sorted(lengths)
    with pytest.raises(ValueError):
        length_sorted_batches(TEXTS, 0)


def test_rows_come_back_in_the_order_of_the_texts():
    embed = lambda batch: np.array([[len(t), 1.0] for t in batch])  # noqa: E731
    out = encode_in_length_batches(embed, TEXTS, 3, 2)
    np.testing.assert_array_equal(out[:, 0], [len(t) for t in TEXTS])
    assert encode_in_length_batches(embed, [], 3, 2).shape == (0, 2)


def _fixed_padding(model, tokenizer, texts):
    """Every row padded to the full token budget, all in one batch."""
    tokens = tokenizer.tokenize_fixed(texts)
    return model.encode_documents(tokens["token_ids"], tokens["padding_mask"]).numpy()


def test_saved_model_encoder_matches_fixed_padding(tmp_path):
    from lepton_tf.export.encoder_servable import EncoderServable
    from lepton_tf.index.encoding import SavedModelEncoder
    from lepton_tf.models.retrieval import DualEncoder
    from lepton_tf.text import MiniLMTokenizer
    from test_retrieval_model import tiny_towers

    model = DualEncoder(tiny_towers())
    servable = EncoderServable(model, query_length=16, document_length=32)
    path = str(tmp_path / "encoder" / "1")
    tf.saved_model.save(servable, path, signatures=servable.signatures())
    want = _fixed_padding(model, MiniLMTokenizer(sequence_length=32), TEXTS)
    got = SavedModelEncoder(path).encode_documents(TEXTS, batch_size=3, progress=False)
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_embed_texts_matches_fixed_padding():
    from lepton_tf.models.embed_texts import embed_texts
    from lepton_tf.models.retrieval import DualEncoder
    from lepton_tf.text import MiniLMTokenizer
    from test_retrieval_model import tiny_towers

    towers = tiny_towers(3)
    tokenizer = MiniLMTokenizer(sequence_length=24)
    want = _fixed_padding(DualEncoder(towers), tokenizer, TEXTS)
    np.testing.assert_allclose(embed_texts(towers, tokenizer, TEXTS, batch_size=3), want,
                               atol=1e-5)
