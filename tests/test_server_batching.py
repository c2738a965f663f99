"""Server-side batching: requests merge along dim 0, split back, and stay isolated."""

import threading

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import prediction_service_pb2_grpc

from conftest import free_port
from fake_servables import FakeEncoder
from lepton_tf.server.batching import BatchingServable, batch_key
from lepton_tf.server.config import BatchingOptions, load_batching_parameters
from serving_models import export_half_plus_two, predict_request


class Recorder(FakeEncoder):
    """FakeEncoder remembering each batch size; refuses the text "boom"."""

    def __init__(self):
        super().__init__()
        self.batches = []

    def run(self, signature_name, inputs):
        self.batches.append(len(inputs["text"]))
        if b"boom" in list(inputs["text"]):
            raise ValueError("boom refused")
        return super().run(signature_name, inputs)


def _run_concurrently(fn, args):
    results = [None] * len(args)

    def call(i):
        try:
            results[i] = fn(*args[i])
        except Exception as e:  # noqa: BLE001
            results[i] = e
    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(args))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_batches_merge_split_and_isolate_errors():
    inner = Recorder()
    servable = BatchingServable(inner, BatchingOptions(max_batch_size=8, batch_timeout_micros=50_000,
                                                       num_batch_threads=1, max_enqueued_batches=4))
    try:
        texts = [[f"card {i}".encode()] * (1 + i % 2) for i in range(8)] + [[b"boom"]]
        results = _run_concurrently(
            lambda t: servable.run("encode_query", {"text": np.array(t, dtype=object)}),
            [(t,) for t in texts])
        for t, result in zip(texts[:-1], results[:-1]):
            np.testing.assert_allclose(result["embedding"], inner.run(
                "encode_query", {"text": np.array(t, dtype=object)})["embedding"])
        assert isinstance(results[-1], ValueError)
        assert max(inner.batches) > 1 and max(inner.batches) <= 8
    finally:
        servable.close()


def test_batch_key_groups_by_shape_and_scalars():
    a = {"query": np.array([b"x"], object), "k": np.int32(3)}
    b = {"query": np.array([b"y", b"z"], object), "k": np.int32(3)}
    c = {"query": np.array([b"y"], object), "k": np.int32(4)}
    assert batch_key("search", a)[0] == batch_key("search", b)[0]
    assert batch_key("search", a)[0] != batch_key("search", c)[0]
    assert batch_key("search", b)[1] == 2
    assert batch_key("s", {"x": np.zeros([2]), "y": np.zeros([3])}) == (None, 0)


def test_batching_parameters_file(tmp_path):
    path = tmp_path / "batching.txt"
    path.write_text("max_batch_size { value: 32 }\nbatch_timeout_micros { value: 2000 }\n"
                    "num_batch_threads { value: 2 }\nmax_enqueued_batches { value: 100 }\n")
    assert load_batching_parameters(str(path)) == BatchingOptions(32, 2000, 2, 100)
    path.write_text("max_batch_size { value: 32 }\nnot_a_field: 1\n")
    with pytest.raises(ValueError, match="batching.txt"):
        load_batching_parameters(str(path))


def test_enable_batching_over_grpc(tmp_path):
    from lepton_tf.server.app import ModelServer, ServerOptions

    base = str(tmp_path / "half")
    export_half_plus_two(base, 1)
    params = tmp_path / "batching.txt"
    params.write_text("max_batch_size { value: 16 }\nbatch_timeout_micros { value: 20000 }\n"
                      "num_batch_threads { value: 1 }\n")
    monitoring = tmp_path / "monitoring.config"
    monitoring.write_text("prometheus_config { enable: true }\n")
    server = ModelServer(ServerOptions(
        port=0, rest_api_port=free_port(), model_name="half", model_base_path=base,
        enable_batching=True, batching_parameters_file=str(params),
        monitoring_config_file=str(monitoring))).start()
    channel = grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}")
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    try:
        xs = [np.array([i, i + 0.5], np.float32) for i in range(16)]
        results = _run_concurrently(
            lambda x: tf.make_ndarray(stub.Predict(predict_request("half", {"x": x}),
                                                   timeout=10).outputs["y"]), [(x,) for x in xs])
        for x, y in zip(xs, results):
            np.testing.assert_allclose(y, 0.5 * x + 2)
        import requests
        text = requests.get(f"http://127.0.0.1:{server.rest_port}/monitoring/prometheus/metrics",
                            timeout=10).text
        line = next(l for l in text.splitlines() if l.startswith(
            ':tensorflow:serving:batching_session:processed_batch_size_sum{model_name="half"'))
        total = float(line.split()[-1])
        count_line = line.replace("_sum{", "_count{").split()[0]
        batches = float(next(l for l in text.splitlines() if l.startswith(count_line)).split()[-1])
        assert total >= 32 and batches < 16 + 1  # warmup is one batch of 2; rows were merged
    finally:
        channel.close()
        server.stop()


def test_requests_that_expire_in_the_batch_queue_are_not_run(tmp_path):
    from fake_servables import FakeChat
    from lepton_tf.client import ChatClient
    from lepton_tf.server.app import ModelServer, ServerOptions

    params = tmp_path / "batching.txt"
    params.write_text("max_batch_size { value: 4 }\nnum_batch_threads { value: 1 }\n")
    chat = FakeChat(gated=True)
    server = ModelServer(ServerOptions(port=0, rest_api_port=0, enable_batching=True,
                                       batching_parameters_file=str(params)),
                         python_servables={"chat": chat}).start()
    try:
        target = f"127.0.0.1:{server.grpc_port}"
        slow = threading.Thread(target=lambda: ChatClient(target, timeout_s=10).reply(["slow"]))
        slow.start()
        assert chat.started.wait(10)  # the one batch thread now holds "slow"
        with pytest.raises(grpc.RpcError) as info:
            ChatClient(target, timeout_s=0.2, retries=0).reply(["late", "late"])
        assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        chat.release.set()
        slow.join()
        # FIFO: once "ok" is answered, "late" was taken from the queue before it.
        assert ChatClient(target).reply(["ok"]) == ["you said: ok (turn 1)"]
        assert chat.seen == [b"slow", b"ok"]  # "late" expired in the queue and never ran
    finally:
        chat.release.set()
        server.stop()


def _wait_for(condition, timeout_s=10.0):
    """Waits until `condition()` holds (a state, not a guess at timing)."""
    import time

    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition never held"
        time.sleep(0.005)


def test_full_queue_is_unavailable():
    from fake_servables import FakeChat
    from lepton_tf.server.errors import ServingError

    chat = FakeChat(gated=True)
    servable = BatchingServable(chat, BatchingOptions(
        max_batch_size=1, batch_timeout_micros=0, num_batch_threads=1, max_enqueued_batches=1))
    try:
        ask = lambda text: servable.run("serving_default",  # noqa: E731
                                        {"context": np.array([text], object)})
        running = threading.Thread(target=ask, args=(b"slow",))
        running.start()
        assert chat.started.wait(10)          # "slow" runs on the one batch thread
        queued = threading.Thread(target=ask, args=(b"queued",))
        queued.start()
        _wait_for(lambda: len(servable._queue) == 1)  # the queue holds its one batch
        with pytest.raises(ServingError) as info:
            ask(b"one too many")
        assert info.value.code == grpc.StatusCode.UNAVAILABLE
        assert "queue" in info.value.message
        chat.release.set()
        running.join()
        queued.join()
    finally:
        chat.release.set()
        servable.close()


def test_a_batch_runs_under_its_requests_latest_deadline():
    """The batch thread runs with the latest deadline of the requests it holds (so a
    TF call is stopped once nobody waits for it), and none if one request has none."""
    from lepton_tf.server import deadline

    seen = []

    class Watch(Recorder):
        def run(self, signature_name, inputs):
            seen.append(deadline.current())
            return super().run(signature_name, inputs)
    servable = BatchingServable(Watch(), BatchingOptions(
        max_batch_size=2, batch_timeout_micros=5_000_000, num_batch_threads=1,
        max_enqueued_batches=4))  # runs when both requests are in

    def call(seconds):
        with deadline.scope(seconds):
            return deadline.current(), servable.run(
                "encode_query", {"text": np.array([b"card"], dtype=object)})
    try:
        results = _run_concurrently(call, [(30.0,), (60.0,)])
        assert seen == [max(at for at, _ in results)]
        seen.clear()
        _run_concurrently(call, [(30.0,), (None,)])
        assert seen == [None]
    finally:
        servable.close()
