"""SavedModelServable: signatures from the MetaGraphDef, TF2 loading and the TF1 session path."""

import grpc
import numpy as np
import pytest
from tensorflow_serving.apis import classification_pb2

from lepton_tf.server import inference
from lepton_tf.server.errors import ServingError
from lepton_tf.server.saved_model_servable import SavedModelServable, _Tf2Runner
from serving_models import example, export_half_plus_two, export_tf1_classifier


@pytest.fixture(scope="module")
def tf1_path(tmp_path_factory):
    return export_tf1_classifier(str(tmp_path_factory.mktemp("m") / "tf1"), 3)


def _classify(servable):
    request = classification_pb2.ClassificationRequest()
    request.model_spec.name, request.model_spec.signature_name = "tf1", "classify_x_to_y"
    request.input.example_list.examples.extend([example(0.0)])
    return inference.classify(servable, request).result.classifications[0].classes


@pytest.mark.parametrize("loader", ["tf2", "session"])
def test_tf1_model_on_both_loaders(tf1_path, loader):
    servable = SavedModelServable(tf1_path, "tf1", loader=loader)
    assert servable.backend == loader and servable.version == 3
    sigs = servable.signatures
    assert sigs["classify_x_to_y"].method_name == "tensorflow/serving/classify"
    assert sigs["regress_x_to_y"].inputs["inputs"].dtype == "string"
    assert sigs["serving_default"].inputs["x"].shape == (None,)
    _, out = inference.predict_arrays(servable, "", {"x": np.array([2.0], np.float32)})
    np.testing.assert_allclose(out["y"], [3.0])
    assert [(c.label, round(c.score, 5)) for c in _classify(servable)] == [
        ("negative", 0.5), ("positive", 0.5)]
    servable.close()


def test_auto_falls_back_to_a_session_when_tf2_loading_fails(tf1_path, monkeypatch):
    def refuse(self, path):
        raise ValueError("cannot restore this graph")
    monkeypatch.setattr(_Tf2Runner, "__init__", refuse)
    servable = SavedModelServable(tf1_path, "tf1")
    assert servable.backend == "session"
    assert _classify(servable)[1].label == "positive"
    with pytest.raises(ValueError, match="cannot restore"):
        SavedModelServable(tf1_path, "tf1", loader="tf2")


def test_graph_errors_are_the_clients(tmp_path):
    """A tensor the graph refuses is TensorFlow's INVALID_ARGUMENT, with TensorFlow's text."""
    servable = SavedModelServable(export_half_plus_two(str(tmp_path / "h"), 1), "half")
    assert servable.backend == "tf2" and set(servable.signatures) == {"serving_default", "column"}
    with pytest.raises(ServingError) as error:
        servable.run("serving_default", {"x": np.array([b"one"], object)})
    assert error.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "expected to be a float tensor but is a string tensor" in error.value.message
    with pytest.raises(FileNotFoundError):
        SavedModelServable(str(tmp_path), "half", version=1)


def test_signatures_run_on_the_flat_call_like_the_concrete_function(tmp_path, monkeypatch):
    import tensorflow as tf

    from lepton_tf.server.saved_model_servable import _FlatCall

    servable = SavedModelServable(export_half_plus_two(str(tmp_path / "h"), 1), "half")
    runner = servable._runner
    assert set(runner.flat) == {"serving_default", "column"}
    taken = []  # per run: did the flat call answer (else the full ConcreteFunction call)
    original = _FlatCall.__call__
    monkeypatch.setattr(_FlatCall, "__call__",
                        lambda self, inputs: taken.append(original(self, inputs)) or taken[-1])
    x = np.array([1.0, 4.0], np.float32)
    out = servable.run("serving_default", {"x": x})
    expected = runner.functions["serving_default"](x=tf.constant(x))["y"].numpy()
    np.testing.assert_allclose(out["y"], expected)
    with tf.GradientTape():  # a tape may record: the full call
        np.testing.assert_allclose(servable.run("serving_default", {"x": x})["y"], expected)
    np.testing.assert_allclose(  # the column signature's own rank: flat again
        servable.run("column", {"x": x[:, None]})["x_squared"][:, 0], x * x)
    # Another rank than the signature's: passed as sent, as TF Serving's session feeds it.
    np.testing.assert_allclose(servable.run("serving_default", {"x": x[:, None]})["y"][:, 0],
                               expected)
    with pytest.raises(ServingError):  # another dtype: TensorFlow's own refusal
        servable.run("serving_default", {"x": np.array([1, 2], np.int64)})
    assert [t is not None for t in taken] == [True, False, True, True]


def test_model_errors_keep_the_ops_message(tmp_path):
    """An op's failure inside a TF2 signature (here the chat model's kind of check on an
    empty context) is TensorFlow's code with the op's own message, not the bare
    "Graph execution error:" header Python puts first."""
    import tensorflow as tf

    class Checked(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="context")])
        def serve(self, context):
            tf.debugging.assert_greater(tf.size(context), 0,
                                        message="context must not be empty")
            return {"reply": context}

    module = Checked()
    path = str(tmp_path / "checked" / "1")
    tf.saved_model.save(module, path, signatures={"serving_default": module.serve})
    servable = SavedModelServable(path, "checked")
    with pytest.raises(ServingError) as error:
        servable.run("serving_default", {"context": np.array([], object)})
    assert error.value.code == grpc.StatusCode.INVALID_ARGUMENT
    message = error.value.message
    assert message.startswith("assertion failed: [context must not be empty]"), message
    assert "[[{{node " in message
    assert "Graph execution error" not in message and "Detected at node" not in message
    assert "[Op:" not in message
