"""The trained tracker the package ships: `lepton-tf main` exports it onto all-MiniLM-L6-v2
without training, and the embedded server serves it over gRPC."""

import os

import pytest

from lepton_tf.commands import main_job
from lepton_tf.commands.product import SERVABLES, served_names
from lepton_tf.tasks.dst_weights import read_meta, shipped_weights_path

SHIPPED = shipped_weights_path()


@pytest.mark.skipif(not os.path.isfile(SHIPPED), reason="the package ships no dst weights")
def test_the_main_job_exports_the_shipped_tracker_and_serves_it(tmp_path):
    from lepton_tf.client.base import PredictClient
    from lepton_tf.data.paths import data_file
    from lepton_tf.dialogue import DialogueState, load_schema
    from lepton_tf.dialogue.model_tracker import ModelTracker
    from lepton_tf.server.app import ModelServer, ServerOptions

    assert read_meta(SHIPPED)["made_by"].startswith("lepton-tf export dst")
    base = tmp_path / "models"
    path = main_job.ensure_dst(str(base))
    assert path == str(base / "dst" / "1")
    assert main_job.ensure_dst(str(base)) == path  # there: not exported again
    assert served_names(str(base)) == (*SERVABLES, "dst")
    server = ModelServer(ServerOptions(model_name="dst", model_base_path=str(base / "dst"), port=0,
                                       rest_api_port=0, file_system_poll_wait_seconds=0))
    server.start()
    try:
        client = PredictClient(f"127.0.0.1:{server.grpc_port}", timeout_s=120)
        tracker = ModelTracker(lambda inputs: client.predict("dst", inputs))
        # Restaurants_2 is not a training service: read from its descriptions alone.
        restaurants = load_schema(data_file("sgd", "schema_test.json.gz"))["Restaurants_2"]
        state = tracker.update(DialogueState(), "", "I'd like to find a place to eat in San Jose.",
                               {"Restaurants_2": restaurants}).service("Restaurants_2")
        assert state.active_intent == "FindRestaurants"
        assert state.slot_values.get("location") == ("San Jose",)
    finally:
        server.stop()


def test_without_weights_the_main_job_serves_no_dst(tmp_path):
    assert main_job.ensure_dst(str(tmp_path), weights=str(tmp_path / "none.npz")) is None
    assert served_names(str(tmp_path)) == SERVABLES
