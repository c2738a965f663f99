"""Tiny models for the server tests: TF2 half-plus-two and a TF1 classify/regress model.

Saved straight with `tf.saved_model.save` / the TF1 `Builder` into a temp
folder renamed into place, so a polling server never sees half a version.
"""

import os
import tempfile

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2
from tensorflow_serving.apis import predict_pb2


class HalfPlusTwo(tf.Module):
    """y = a*x + b (a=0.5, b=2 by default); also a `[None, 1]` signature."""

    def __init__(self, a=0.5, b=2.0):
        super().__init__()
        self.a, self.b = tf.Variable(a), tf.Variable(b)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="x")])
    def serve(self, x):
        return {"y": self.a * x + self.b}

    @tf.function(input_signature=[tf.TensorSpec([None, 1], tf.float32, name="x")])
    def serve_column(self, x):
        return {"y": self.a * x + self.b, "x_squared": x * x}


def _place(base_dir, version, save):
    os.makedirs(base_dir, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".tmp-", dir=base_dir)
    path = os.path.join(tmp, "model")
    save(path)
    final = os.path.join(base_dir, str(version))
    os.rename(path, final)
    os.rmdir(tmp)
    return final


def export_half_plus_two(base_dir, version=1, a=0.5, b=2.0, warmup=True):
    """Writes `<base_dir>/<version>` (with warmup requests) and returns it."""
    from lepton_tf.export import write_warmup_requests

    def save(path):
        m = HalfPlusTwo(a, b)
        tf.saved_model.save(m, path, signatures={"serving_default": m.serve,
                                                 "column": m.serve_column})
        if warmup:
            write_warmup_requests(path, "half", {"serving_default": {
                "x": np.array([1.0, 2.0], np.float32)}})
    return _place(base_dir, version, save)


def export_tf1_classifier(base_dir, version=1):
    """A TF1 graph SavedModel with predict, classify and regress signatures.

    tf.Example feature `x` (float); regress: 0.5*x+2; classify: classes
    ["negative", "positive"], scores [1-s, s] with s = sigmoid(x).
    """
    tf1 = tf.compat.v1

    def save(path):
        graph = tf.Graph()
        with graph.as_default():
            a = tf1.Variable(0.5, name="a")
            b = tf1.Variable(2.0, name="b")
            serialized = tf1.placeholder(tf.string, [None], name="tf_example")
            x_example = tf1.parse_example(
                serialized, {"x": tf1.FixedLenFeature([1], tf.float32)})["x"]
            y_example = a * x_example + b
            s = tf.sigmoid(x_example)
            scores = tf.concat([1.0 - s, s], axis=1)
            classes = tf.tile(tf.constant([["negative", "positive"]]),
                              [tf.shape(serialized)[0], 1])
            x = tf1.placeholder(tf.float32, [None], name="x")
            y = a * x + b
            with tf1.Session(graph=graph) as session:
                session.run(tf1.global_variables_initializer())
                builder = tf1.saved_model.Builder(path)
                builder.add_meta_graph_and_variables(session, ["serve"], signature_def_map={
                    "serving_default": tf1.saved_model.predict_signature_def({"x": x}, {"y": y}),
                    "classify_x_to_y": tf1.saved_model.classification_signature_def(
                        serialized, classes, scores),
                    "regress_x_to_y": tf1.saved_model.regression_signature_def(
                        serialized, y_example)})
                builder.save()
    return _place(base_dir, version, save)


def predict_request(name, inputs, signature="", version=None, label=None, output_filter=()):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = name
    request.model_spec.signature_name = signature
    if version is not None:
        request.model_spec.version.value = version
    if label is not None:
        request.model_spec.version_label = label
    for key, value in inputs.items():
        request.inputs[key].CopyFrom(value if isinstance(value, tensor_pb2.TensorProto)
                                     else tf.make_tensor_proto(value))
    request.output_filter.extend(output_filter)
    return request


def example(x: float):
    from tensorflow.core.example import example_pb2
    e = example_pb2.Example()
    e.features.feature["x"].float_list.value.append(x)
    return e


MODELS_CONFIG = """
model_config_list {{
  config {{
    name: "half"
    base_path: "{base}/half"
    model_platform: "tensorflow"
    model_version_policy {{ specific {{ versions: 1 versions: 2 }} }}
    version_labels {{ key: "stable" value: 1 }}
    version_labels {{ key: "canary" value: 2 }}
  }}
  config {{ name: "tf1" base_path: "{base}/tf1" model_platform: "tensorflow" }}
  config {{ name: "words" base_path: "{base}/words" model_platform: "tensorflow" }}
}}
"""


def export_test_models(base: str) -> str:
    """Exports half (v1, v2), tf1 and words under `base`; returns their models.config."""
    import string_model

    export_half_plus_two(os.path.join(base, "half"), 1)
    export_half_plus_two(os.path.join(base, "half"), 2, b=3.0)
    export_tf1_classifier(os.path.join(base, "tf1"), 1)
    string_model.export(base, version=1, validate=False)
    path = os.path.join(base, "models.config")
    with open(path, "w") as f:
        f.write(MODELS_CONFIG.format(base=base))
    return path


def start_test_server(base, **options):
    """A started `ModelServer` on free ports hosting half (v1, v2, labels), tf1,
    words, and the fake encoder/search/chat Python servables.
    """
    from conftest import free_port
    from fake_servables import FakeChat, FakeEncoder, FakeSearch
    from lepton_tf.server.app import ModelServer, ServerOptions
    from lepton_tf.search.wiring import local_embedder

    base = str(base)
    config = export_test_models(base)
    with open(os.path.join(base, "monitoring.config"), "w") as f:
        f.write('prometheus_config { enable: true path: "/monitoring/prometheus/metrics" }\n')
    defaults = dict(port=0, rest_api_port=free_port(),
                    model_config_file=config,
                    monitoring_config_file=os.path.join(base, "monitoring.config"),
                    max_request_bytes=1 << 20, file_system_poll_wait_seconds=0)
    defaults.update(options)
    server = ModelServer(ServerOptions(**defaults))
    server.register_python_servable("encoder", FakeEncoder())
    server.register_python_servable("chat", FakeChat())
    server.register_python_servable(
        "search", lambda srv: FakeSearch(local_embedder(srv.manager)))
    return server.start()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`start_test_server` for one test module (import it into the module)."""
    srv = start_test_server(tmp_path_factory.mktemp("models"))
    yield srv
    srv.stop()
