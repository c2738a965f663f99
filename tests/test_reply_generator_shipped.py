"""The reply generator as the package ships it: its trained weights in a small
float16 file, exported by `lepton-tf main` as a TF Serving SavedModel (tokenization
in the graph, no XLA ops), hosted beside the other models and used by the assistant
(`task_generator="auto"`), with the acts' check still deciding what is sent."""

import os

import numpy as np
import pytest
from conftest import free_port
from conversation_fakes import DIALOGUE_TURNS, DOMAIN_TURNS, conversation_models

from lepton_tf.commands import main_job
from lepton_tf.tasks.generator_weights import load_generator, save_generator_weights
from lepton_tf.tasks.generator_weights import shipped_weights_path

SHIPPED = shipped_weights_path()
TINY = {"context_length": 64, "reply_length": 12, "hidden_dim": 16, "intermediate_dim": 32,
        "num_encoder_layers": 1, "num_decoder_layers": 1, "num_heads": 2, "dropout": 0.0,
        "max_context_turns": 1, "max_length": 17, "max_passages": 2, "passage_length": 24,
        "copy_attention": True, "copy_key_dim": 8}


def _tiny_weights(path) -> str:
    from lepton_tf.tasks.reply_generator import ReplyGeneratorTask
    from lepton_tf.training.config import TrainConfig

    config = TrainConfig.from_dict({"name": "reply_generator", "model": TINY, "data": {
        "vocab": "vocab/chat-v2.txt", "export": {"max_new_tokens": 8,
                                                 "no_repeat_ngram_size": 0}}})
    task = ReplyGeneratorTask()
    model = task.build_model(config)
    rng = np.random.default_rng(0)
    for v in model.weights:  # as if trained
        v.assign(v.numpy() + rng.normal(0, 0.05, v.shape).astype(np.float32))
    save_generator_weights(model, task.get_tokenizer(config), config, str(path),
                           made_by="lepton-tf test")
    return model


def test_the_weights_file_rebuilds_the_same_generator(tmp_path):
    from lepton_tf.tasks.chat_restore import build

    model = _tiny_weights(tmp_path / "w.npz")
    rebuilt, tokenizer, export = load_generator(str(tmp_path / "w.npz"))
    assert export == {"max_new_tokens": 8, "no_repeat_ngram_size": 0}
    assert tokenizer.vocabulary_size == model.get_config()["vocabulary_size"]
    build(rebuilt)
    for want, got in zip(model.weights, rebuilt.weights):  # float16 in the file
        np.testing.assert_allclose(got.numpy(), want.numpy(), atol=2e-3, rtol=2e-3)
    with np.load(tmp_path / "w.npz") as data:
        arrays = dict(data)
    arrays["v0000"] = arrays["v0000"][:1]
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ValueError, match="shape"):
        load_generator(str(tmp_path / "bad.npz"))


def test_the_main_job_exports_and_the_assistant_uses_the_hosted_generator(tmp_path):
    """Exported from a weights file into a SavedModel without XLA ops; served, the
    assistant's `auto` generator writes task replies, checked against the acts."""
    import tensorflow as tf

    from lepton_tf.assistant.mount import mount_assistant
    from lepton_tf.assistant.routing import Router
    from lepton_tf.client.assistant import AssistantClient
    from lepton_tf.dialogue import example_db
    from lepton_tf.server.app import ModelServer, ServerOptions

    _tiny_weights(tmp_path / "w.npz")
    base = tmp_path / "models"
    path = main_job.ensure_reply_generator(str(base), weights=str(tmp_path / "w.npz"))
    assert path == str(base / "reply_generator" / "1")
    assert main_job.ensure_reply_generator(str(base)) == path  # there: not exported again
    graph = tf.saved_model.load(path).signatures["serving_default"].graph.as_graph_def()
    ops = {n.op for n in graph.node} | {n.op for f in graph.library.function for n in f.node_def}
    assert not [op for op in ops if op.startswith("Xla")], ops
    assert any("Wordpiece" in op or "WordPiece" in op or "FastBert" in op for op in ops), ops
    db = tmp_path / "example.sqlite"
    example_db.build_example_db(db)
    server = ModelServer(ServerOptions(model_name="reply_generator",
                                       model_base_path=str(base / "reply_generator"), port=0,
                                       rest_api_port=free_port(),
                                       file_system_poll_wait_seconds=0),
                         python_servables=conversation_models())
    mount_assistant(server, router=Router(search_threshold=0.3, dialogue_threshold=0.6),
                    dialogue_turns=DIALOGUE_TURNS, search_k=3, domain_turns=DOMAIN_TURNS,
                    task_db=str(db), task_generator="auto")
    server.start()
    try:
        client = AssistantClient(f"127.0.0.1:{server.grpc_port}", session_id="shipped",
                                 timeout_s=60)
        confirm = client.ask("Book a table at Arcadia in San Jose at 7 pm")
        # The random tiny model writes no placeholder right: the template is sent.
        assert confirm["task"]["reply_replaced"] is True
        assert confirm["reply"].startswith("Please confirm:") and "Arcadia" in confirm["reply"]
    finally:
        server.stop()


@pytest.mark.skipif(not os.path.isfile(SHIPPED), reason="the package ships no generator weights")
def test_the_shipped_weights_are_small_and_say_how_they_were_made():
    from lepton_tf.training.weights_archive import read_meta

    from lepton_tf.tasks.generator_weights import FORMAT

    assert os.path.getsize(SHIPPED) < 15e6
    assert read_meta(SHIPPED, FORMAT)["made_by"].startswith("lepton-tf export reply_generator")
