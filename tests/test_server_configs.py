"""serving/: the production configs parse with TF Serving's protos, and the compose
file's `lepton-tf serve` flags are ones the command accepts."""

import os

import yaml

from lepton_tf.server import config

SERVING = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "serving")


def test_production_configs_parse():
    models = config.load_model_server_config(os.path.join(SERVING, "models.config"))
    assert [m.name for m in models.model_config_list.config] == ["chat", "encoder"]
    assert all(m.base_path.startswith("/models/") for m in models.model_config_list.config)
    batching = config.load_batching_parameters(os.path.join(SERVING, "batching_parameters.txt"))
    assert batching.max_batch_size == 32
    assert config.load_monitoring_config(os.path.join(SERVING, "monitoring.config")) == \
        "/monitoring/prometheus/metrics"


def test_compose_commands_are_valid_flags():
    from lepton_tf.cli import build_parser

    with open(os.path.join(SERVING, "docker-compose.yml")) as f:
        compose = yaml.safe_load(f)
    args = build_parser().parse_args(["serve"] + compose["services"]["search"]["command"])
    assert args.search_only and args.tf_serving == "tfserving:8500" and args.host == "0.0.0.0"
    assert args.enable_batching
    tf_flags = compose["services"]["tfserving"]["command"]
    # Every TF Serving flag used for tfserving is also a `lepton-tf serve` flag.
    parsed = build_parser().parse_args(["serve"] + tf_flags)
    assert parsed.model_config_file == "/config/models.config"


def test_thread_pool_flags():
    import pytest
    import tensorflow as tf

    from lepton_tf.cli import build_parser
    from lepton_tf.server.tf_runtime import configure_tensorflow

    args = build_parser().parse_args(["serve", "--model_base_path=/m",
                                      "--tensorflow_intra_op_parallelism=2",
                                      "--tensorflow_inter_op_parallelism=1"])
    assert (args.tensorflow_intra_op_parallelism, args.tensorflow_inter_op_parallelism) == (2, 1)
    with pytest.raises(ValueError, match=">= 0"):
        configure_tensorflow(-1, 0)
    assert configure_tensorflow(0, 0)  # nothing asked: nothing to do
    tf.constant(1)  # the runtime has started in this test process: left as it is
    assert not configure_tensorflow(1, 0)
