"""`lepton-tf export encoder --precision bfloat16`: the same servable contract
(string in, float32 unit embeddings out, tokenizer in the graph), bfloat16
matrix products inside, no XLA op; a bad value is one line on the CLI."""

import numpy as np
import pytest
import tensorflow as tf

from lepton_tf.cli import main
from lepton_tf.contracts import encoder as contract

TEXTS = ["How do I reset my PIN?", "Café São Paulo opening hours", "a " * 60 + "long one"]


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """A tiny trained-run folder, exported through the CLI in float32 and in
    bfloat16: `{precision: loaded SavedModel}`."""
    from lepton_tf.tasks.encoder import EncoderTask
    from lepton_tf.training import TrainConfig
    from lepton_tf.training.config import save_config

    run = tmp_path_factory.mktemp("run")
    config = TrainConfig(name="encoder", output_dir=str(run), seed=3,
                         model={"init": "scratch", "num_layers": 2, "hidden_dim": 32,
                                "num_heads": 2, "query_length": 8, "document_length": 16,
                                "query_export_length": 16, "document_export_length": 32})
    save_config(config, run / "config.yaml")
    EncoderTask([]).build_model(config).save_weights(str(run / "final.weights.h5"))
    base = tmp_path_factory.mktemp("models")
    loaded = {}
    for version, precision in ((1, "float32"), (2, "bfloat16")):
        assert main(["export", "encoder", "--run", str(run), "--base-dir", str(base),
                     "--version", str(version), "--precision", precision]) == 0
        loaded[precision] = tf.saved_model.load(str(base / "encoder" / str(version)))
    return loaded


def _specs(signature):
    inputs = {k: (v.dtype, v.shape.as_list()) for k, v in
              signature.structured_input_signature[1].items()}
    outputs = {k: (v.dtype, v.shape.as_list()) for k, v in signature.structured_outputs.items()}
    return inputs, outputs


def _graph_ops(signature) -> set[str]:
    graph = signature.graph.as_graph_def()
    return {n.op for n in graph.node} | {n.op for f in graph.library.function
                                        for n in f.node_def}


def _bfloat16_nodes(signature) -> int:
    graph = signature.graph.as_graph_def()
    nodes = list(graph.node) + [n for f in graph.library.function for n in f.node_def]
    return sum(1 for n in nodes if n.op == "Cast" and n.attr["DstT"].type == tf.bfloat16)


def test_signatures_are_unchanged(exports):
    float32, bfloat16 = exports["float32"], exports["bfloat16"]
    assert set(bfloat16.signatures) == set(float32.signatures) == {
        contract.DEFAULT_SIGNATURE, contract.QUERY_SIGNATURE, contract.DOCUMENT_SIGNATURE}
    for name in float32.signatures:
        assert _specs(bfloat16.signatures[name]) == _specs(float32.signatures[name]) == (
            {contract.TEXT: (tf.string, [None])}, {contract.EMBEDDING: (tf.float32, [None, 32])})


@pytest.mark.parametrize("name", [contract.QUERY_SIGNATURE, contract.DOCUMENT_SIGNATURE])
def test_outputs_agree_within_bfloat16_and_products_are_bfloat16(exports, name):
    text = tf.constant(TEXTS)
    full = exports["float32"].signatures[name](text=text)[contract.EMBEDDING].numpy()
    reduced = exports["bfloat16"].signatures[name](text=text)[contract.EMBEDDING].numpy()
    assert reduced.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(reduced, axis=1), 1.0, atol=1e-5)
    # bfloat16 keeps 8 bits of mantissa: a few 1e-3 per unit-vector entry.
    np.testing.assert_allclose(reduced, full, atol=3e-2)
    assert ((reduced * full).sum(axis=1) > 0.999).all()
    # The flag changed the graph: casts to bfloat16 in one export, none in the other.
    assert _bfloat16_nodes(exports["bfloat16"].signatures[name]) > 0
    assert _bfloat16_nodes(exports["float32"].signatures[name]) == 0


def test_no_xla_ops(exports):
    for signature in exports["bfloat16"].signatures.values():
        assert not [op for op in _graph_ops(signature) if op.startswith("Xla")]


@pytest.mark.parametrize("argv, message", [
    (["export", "encoder", "--run", "runs/x", "--precision", "fp8"],
     "--precision must be one of float32, bfloat16, not 'fp8'"),
    (["export", "intent", "--run", "runs/x", "--precision", "bfloat16"],
     "--precision bfloat16 exports encoder only, not intent"),
    (["export", "encoder", "--zero-shot", "--run", "runs/x"],
     "--zero-shot exports the encoder, without --run"),
])
def test_bad_precision_is_one_line(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    assert err.startswith("lepton-tf export: error: ") and message in err, err
