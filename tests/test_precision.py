"""A bfloat16 training run exports a float32 servable."""

import numpy as np
import yaml


def test_bfloat16_encoder_run_exports_a_float32_servable(tmp_path):
    import keras
    import tensorflow as tf

    from lepton_tf.tasks.registry import train

    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("".join(f'{{"query": "question about {t} {i}", "positive": "on {t}"}}\n'
                             for t in ["card", "loan", "visa", "rent"] for i in range(4)))
    config = {"name": "encoder", "output_dir": str(tmp_path / "run"), "seed": 1, "epochs": 1,
              "steps_per_epoch": 2, "batch_size": 8, "learning_rate": 1e-3,
              "precision": "mixed_bfloat16",
              "model": {"init": "scratch", "num_layers": 1, "hidden_dim": 16, "num_heads": 2,
                        "query_length": 12, "document_length": 12, "query_export_length": 12,
                        "document_export_length": 12},
              "data": {"pairs": [str(pairs)]}}
    path = tmp_path / "encoder.yaml"
    path.write_text(yaml.safe_dump(config))
    try:
        version = train("encoder", config_path=str(path), base_dir=str(tmp_path / "models"),
                        export=True)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    loaded = tf.saved_model.load(version)
    fn = loaded.signatures["encode_query"]
    graph = fn.graph.as_graph_def()
    nodes = list(graph.node) + [n for f in graph.library.function for n in f.node_def]
    bf16 = [n.name for n in nodes
            if any(v.type == tf.bfloat16.as_datatype_enum for v in n.attr.values())]
    assert not bf16, bf16[:5]
    out = fn(text=tf.constant(["question about card 1"]))["embedding"].numpy()
    assert out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
