"""The search servable serves an index only with the encoder version that built it
(its SavedModel fingerprint): refused at load, and kept paired when a new encoder is hot-loaded."""

import os
import time

import grpc
import numpy as np
import pytest
import tensorflow as tf

from lepton_tf.index.encoding import encoder_fingerprint

DIM = 8


class TinyEncoder(tf.Module):
    """`encode_query` / `encode_document`: hashed bag of words times a matrix, unit length."""

    def __init__(self, seed):
        super().__init__()
        self.w = tf.Variable(np.random.RandomState(seed).randn(64, DIM).astype("float32"))

    def _embed(self, text):
        words = tf.strings.split(tf.strings.lower(text))
        bags = tf.reduce_sum(tf.one_hot(tf.strings.to_hash_bucket_fast(words, 64), 64), axis=1)
        return {"embedding": tf.math.l2_normalize(tf.matmul(bags, self.w), axis=1)}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def encode_query(self, text):
        return self._embed(text)


def _export(base, version, seed):
    from serving_models import _place

    module = TinyEncoder(seed)
    _place(os.path.join(base, "encoder"), version, lambda p: tf.saved_model.save(
        module, p, signatures={"encode_query": module.encode_query,
                               "serving_default": module.encode_query}))
    path = os.path.join(base, "encoder", str(version))
    fingerprint = encoder_fingerprint(path)
    return module, fingerprint


def test_two_exports_of_one_architecture_with_other_weights_have_other_fingerprints(
        tmp_path, run_python):
    # Each export in its own process, as a retrained encoder is: the same code
    # writes the same graph, only the weights (here: the seed) differ.
    paths = [str(tmp_path / "encoder" / v) for v in ("1", "2")]
    for seed, path in enumerate(paths):
        proc = run_python(f"""
import keras, tensorflow as tf
from lepton_tf.export.encoder_servable import EncoderServable
from lepton_tf.models.retrieval import DualEncoder
from lepton_tf.models.sentence_encoder import SentenceEncoder
keras.utils.set_random_seed({seed})
towers = SentenceEncoder.from_scratch(vocabulary_size=30522, num_layers=1, hidden_dim=16,
                                      num_heads=2, max_sequence_length=64)
servable = EncoderServable(DualEncoder(towers), query_length=16, document_length=16)
tf.saved_model.save(servable, {path!r}, signatures=servable.signatures())
""")
        assert proc.returncode == 0, proc.stderr[-2000:]
    graphs = [tf.saved_model.experimental.read_fingerprint(p).saved_model_checksum
              for p in paths]
    assert graphs[0] == graphs[1]  # the graph checksum alone cannot tell them apart
    assert encoder_fingerprint(paths[0]) != encoder_fingerprint(paths[1])


TEXTS = ["reset a forgotten password", "close my account for good", "report a lost card",
         "change the email address", "download my invoices"]


def _save_index(base, module, encoder_version, fingerprint, version):
    from lepton_tf.index import Document, EncoderInfo, SearchIndex, save_index

    vectors = module.encode_query(tf.constant(TEXTS))["embedding"].numpy()
    docs = [Document(f"d{i}", t) for i, t in enumerate(TEXTS)]
    save_index(SearchIndex.build(vectors, docs, encoder=EncoderInfo(
        "encoder", encoder_version, fingerprint)), os.path.join(base, "index"), version)


def _wait(predicate, what, timeout=30):
    end = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < end, what
        time.sleep(0.05)


def _status(stub, name):
    from tensorflow_serving.apis import get_model_status_pb2

    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = name
    return {s.version: s for s in stub.GetModelStatus(request).model_version_status}


def test_search_keeps_its_encoder_and_refuses_an_index_of_another(tmp_path):
    from tensorflow_serving.apis import get_model_status_pb2, model_service_pb2_grpc

    from lepton_tf.client import SearchClient
    from lepton_tf.server.app import ModelServer, ServerOptions
    from lepton_tf.search.wiring import search_index_source

    State = get_model_status_pb2.ModelVersionStatus.State
    base = str(tmp_path)
    v1, fp1 = _export(base, 1, seed=1)
    _save_index(base, v1, 1, fp1, version=1)
    server = ModelServer(ServerOptions(port=0, rest_api_port=0, model_name="encoder",
                                       model_base_path=os.path.join(base, "encoder"),
                                       file_system_poll_wait_seconds=0.1))
    server.register_polled_python_servable("search", *search_index_source(
        os.path.join(base, "index")))
    server.start()
    try:
        target = f"127.0.0.1:{server.grpc_port}"
        stub = model_service_pb2_grpc.ModelServiceStub(grpc.insecure_channel(target))
        client = SearchClient(target)
        query = "forgotten password"
        expected = float((v1.encode_query(tf.constant([query]))["embedding"].numpy()
                          @ v1.encode_query(tf.constant(TEXTS[:1]))["embedding"].numpy().T)[0, 0])
        hit = client.search(query, k=1, mode="dense")[0]
        assert hit.doc_id == "d0" and hit.score == pytest.approx(expected, abs=1e-5)
        assert _status(stub, "search")[1].status.error_code == 0

        # A new encoder version is hot-loaded: search keeps encoder v1 (still
        # loaded, pinned) and says so in GetModelStatus.
        _export(base, 2, seed=2)
        _wait(lambda: ("encoder", 2) in server.manager.available(), "encoder v2 not loaded")
        _wait(lambda: _status(stub, "search")[1].status.error_code != 0, "no pairing note")
        note = _status(stub, "search")[1]
        assert note.state == State.AVAILABLE
        assert note.status.error_code == grpc.StatusCode.FAILED_PRECONDITION.value[0]
        assert "keeps serving this index with encoder v1" in note.status.error_message
        assert ("encoder", 1) in server.manager.available()
        hit = client.search(query, k=1, mode="dense")[0]
        assert hit.score == pytest.approx(expected, abs=1e-5)  # still embedded by v1

        # An index built by an encoder this server does not have is refused at
        # load; the old pair keeps serving.
        _save_index(base, v1, 7, "not-a-loaded-encoder", version=2)
        _wait(lambda: 2 in _status(stub, "search") and _status(stub, "search")[2].state
              == State.END, "index v2 not refused")
        refused = _status(stub, "search")[2]
        assert "Rebuild the index" in refused.status.error_message
        assert client.search(query, k=1, mode="dense")[0].score == pytest.approx(expected, abs=1e-5)

        # An index built by encoder v2 pairs with v2; encoder v1 is then released.
        v2 = tf.saved_model.load(os.path.join(base, "encoder", "2"))
        fp2 = encoder_fingerprint(os.path.join(base, "encoder", "2"))
        _save_index(base, v2, 2, fp2, version=3)
        _wait(lambda: ("search", 3) in server.manager.available(), "index v3 not loaded")
        _wait(lambda: ("encoder", 1) not in server.manager.available(), "encoder v1 kept")
        assert _status(stub, "search")[3].status.error_code == 0
        scores = (v2.encode_query(tf.constant([query]))["embedding"].numpy()
                  @ v2.encode_query(tf.constant(TEXTS))["embedding"].numpy().T)[0]
        hit = client.search(query, k=1, mode="dense")[0]  # now embedded by v2
        assert hit.doc_id == f"d{np.argmax(scores)}"
        assert hit.score == pytest.approx(scores.max(), abs=1e-5)
    finally:
        server.stop()
