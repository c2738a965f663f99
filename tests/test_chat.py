"""Chat model, packing, loss and in-graph decoding (in process, tiny model)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from chat_fixtures import CONTEXTS, SIZES, encode, reference_greedy, tiny_model, tokenizer
from lepton_tf.models.chat import ChatModel, format_context, pack_context, pack_reply
from lepton_tf.models.chat_generation import ChatDecoder, clean_tokens
from lepton_tf.tasks.chat import MaskedSmoothedCrossEntropy


def test_format_and_pack_context_keeps_last_turns_and_tokens():
    assert format_context(["Hi", "Yes?"], ["USER", "SYSTEM"]) == "[USER] Hi [SYSTEM] Yes?"
    ids = tf.ragged.constant([[5, 10, 6, 11, 12, 5, 13], [10, 11]])
    assert pack_context(ids, 2, 4).numpy().tolist() == [[11, 12, 5, 13], [5, 10, 11, 0]]
    # Unmarked text is one user turn; max_turns counts markers.
    assert pack_context(ids, 1, 6).numpy().tolist() == [[5, 13, 0, 0, 0, 0],
                                                        [5, 10, 11, 0, 0, 0]]


def test_pack_reply_adds_bos_eos_and_cuts_without_eos():
    inputs, labels = pack_reply(tf.ragged.constant([[10, 11], [12, 13, 14, 15]]), 4)
    assert inputs.numpy().tolist() == [[2, 10, 11, 0], [2, 12, 13, 14]]
    assert labels.numpy().tolist() == [[10, 11, 3, 0], [12, 13, 14, 0]]


def test_loss_ignores_padding_and_smooths():
    y_true = np.array([[1, 0]])
    y_pred = np.array([[[0.0, 0.0], [50.0, -50.0]]], np.float32)
    assert float(MaskedSmoothedCrossEntropy(0.0)(y_true, y_pred)) == pytest.approx(np.log(2))
    smoothed = float(MaskedSmoothedCrossEntropy(0.2)(y_true, y_pred))
    assert smoothed == pytest.approx(np.log(2))  # uniform logits: smoothing changes nothing


def test_get_config_round_trip():
    model = tiny_model()
    clone = ChatModel.from_config(model.get_config())
    clone.set_weights(model.get_weights())
    assert clone.get_config() == model.get_config()
    again = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(model))
    assert isinstance(again, ChatModel) and again.max_length == SIZES["max_length"]
    ids, mask = encode(model)
    dec = np.full((2, SIZES["reply_length"]), 7, np.int32)
    inputs = {"encoder_token_ids": ids, "encoder_padding_mask": mask,
              "decoder_token_ids": dec, "decoder_padding_mask": dec != 0}
    np.testing.assert_allclose(model(inputs, training=False), clone(inputs, training=False),
                               atol=1e-6)


def test_clean_tokens_cuts_after_first_eos():
    tokens, lengths = clean_tokens(tf.constant([[9, 3, 9, 3], [9, 9, 9, 9]]))
    assert tokens.numpy().tolist() == [[9, 3, 0, 0], [9, 9, 9, 9]]
    assert lengths.numpy().tolist() == [2, 4]


@pytest.mark.parametrize("num_beams,copy", [(1, False), (3, False), (1, True), (3, True)])
def test_cached_decode_equals_no_cache_and_reference(num_beams, copy):
    model = tiny_model(seed=3, copy_attention=copy)
    ids, mask = encode(model)
    hidden = model.call_encoder(ids, mask)
    decoder = ChatDecoder(model)
    decode = tf.function(lambda cache: decoder.decode(hidden, mask, 10, num_beams=num_beams,
                                                      use_cache=cache, encoder_token_ids=ids))
    cached, cached_len = decode(True)
    plain, plain_len = decode(False)
    np.testing.assert_array_equal(cached.numpy(), plain.numpy())
    np.testing.assert_array_equal(cached_len.numpy(), plain_len.numpy())
    if num_beams == 1:
        np.testing.assert_array_equal(cached.numpy(), reference_greedy(model, CONTEXTS, 10))


def test_chat_task_trains_a_few_steps(tmp_path):
    from lepton_tf.tasks.registry import load
    from lepton_tf.training import Trainer, TrainConfig

    config = TrainConfig(name="chat", output_dir=str(tmp_path), epochs=1, steps_per_epoch=3,
                         batch_size=8, model=dict(SIZES),
                         data={"limit": 64, "validation_limit": 0})
    task = load("chat").make_task(config)
    task.tokenizer = tokenizer()
    model = Trainer(config, verbose=0).fit(task)
    assert model.optimizer.iterations.numpy() == 3
    assert np.isfinite(model.get_weights()[0]).all()
