"""TF Serving's config files: `models.config`, batching and monitoring.

All three are text protos parsed with the real message types, so a file
that `tensorflow_model_server` accepts is accepted here and a typo is an
error naming the file, not a silently ignored key.
"""

from __future__ import annotations

import dataclasses
import os

from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from lepton_tf.server.protos import BatchingParameters, MonitoringConfig

DEFAULT_PROMETHEUS_PATH = "/monitoring/prometheus/metrics"


def _parse(path: str, message):
    """Raises ValueError with TF Serving's two texts for a bad file (protobuf's
    "Error parsing text-format <type>: <line>:<col>: ..." and main.cc's
    "Invalid protobuf file: '<path>'")."""
    try:
        with open(path, encoding="utf-8") as f:
            return text_format.Parse(f.read(), message)
    except text_format.ParseError as e:
        raise ValueError(f"Error parsing text-format {message.DESCRIPTOR.full_name}: {e}\n"
                         f"Invalid protobuf file: '{path}'") from None


def load_model_server_config(path: str) -> model_server_config_pb2.ModelServerConfig:
    """Parses and checks a `models.config` (`ModelServerConfig` text proto).

    Raises:
        ValueError: on a parse error, a missing `model_config_list`, a model
            without name or base path, a duplicate name or a platform other
            than `tensorflow`.
        FileNotFoundError: if the file does not exist.
    """
    config = _parse(path, model_server_config_pb2.ModelServerConfig())
    validate_model_server_config(config, path)
    return config


def validate_model_server_config(config, where: str = "model config") -> None:
    """Raises ValueError for what TF Serving refuses at (re)load time."""
    if config.WhichOneof("config") != "model_config_list":
        raise ValueError(f"{where}: only model_config_list is supported.")
    seen = set()
    for model in config.model_config_list.config:
        if not model.name:
            raise ValueError(f"{where}: a model has no name.")
        if model.name in seen:
            raise ValueError(f"{where}: Illegal to list model {model.name} multiple times")
        seen.add(model.name)
        if not model.base_path:
            raise ValueError(f"{where}: model {model.name} has no base_path.")
        if model.model_platform not in ("", "tensorflow"):
            raise ValueError(f"{where}: model {model.name}: unsupported platform "
                             f"{model.model_platform!r} (only 'tensorflow').")


def single_model_config(name: str, base_path: str):
    """The config `--model_name`/`--model_base_path` stand for."""
    config = model_server_config_pb2.ModelServerConfig()
    model = config.model_config_list.config.add()
    model.name = name
    model.base_path = os.path.abspath(base_path)
    model.model_platform = "tensorflow"
    return config


def write_models_config(base_dir: str, names, path: str) -> str:
    """A TF Serving `models.config` for the given servables of `base_dir`.

    Args:
        base_dir: the folder holding `<name>/<version>/` for each name.
        names: the servables.
        path: the file to write (absolute base paths inside).

    Returns:
        `path`.
    """
    config = model_server_config_pb2.ModelServerConfig()
    for name in names:
        config.model_config_list.config.MergeFrom(
            single_model_config(name, os.path.join(base_dir, name)).model_config_list.config)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text_format.MessageToString(config))
    return path


@dataclasses.dataclass(frozen=True)
class BatchingOptions:
    """Server-side batching knobs (TF Serving's defaults where it has them)."""

    max_batch_size: int = 1000
    batch_timeout_micros: int = 0
    num_batch_threads: int = max(1, os.cpu_count() or 1)
    max_enqueued_batches: int = 10


def load_batching_parameters(path: str | None) -> BatchingOptions:
    """`--batching_parameters_file` -> `BatchingOptions` (defaults if None).

    Raises:
        ValueError: on a parse error or a non-positive size/thread count.
    """
    if not path:
        return BatchingOptions()
    params = _parse(path, BatchingParameters())
    defaults = BatchingOptions()
    values = {}
    for field in dataclasses.fields(BatchingOptions):
        wrapped = getattr(params, field.name)
        values[field.name] = (wrapped.value if params.HasField(field.name)
                              else getattr(defaults, field.name))
    options = BatchingOptions(**values)
    if options.max_batch_size < 1 or options.num_batch_threads < 1:
        raise ValueError(f"{path}: max_batch_size and num_batch_threads must be >= 1.")
    if options.max_enqueued_batches < 1 or options.batch_timeout_micros < 0:
        raise ValueError(f"{path}: max_enqueued_batches must be >= 1 and "
                         "batch_timeout_micros >= 0.")
    return options


def load_monitoring_config(path: str | None) -> str | None:
    """`--monitoring_config_file` -> the Prometheus path, or None if disabled.

    Without a file TF Serving exposes no metrics; neither do we.
    """
    if not path:
        return None
    config = _parse(path, MonitoringConfig())
    if not config.prometheus_config.enable:
        return None
    return config.prometheus_config.path or DEFAULT_PROMETHEUS_PATH


def grpc_channel_arguments(text: str) -> list[tuple[str, object]]:
    """`--grpc_channel_arguments` ("key=value,key=value", TF Serving's spelling)
    -> gRPC server options, integer values as integers.

    Raises:
        ValueError: an item without "=".
    """
    options = []
    for item in filter(None, (part.strip() for part in (text or "").split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--grpc_channel_arguments: {item!r} is not key=value.")
        options.append((key, int(value) if value.lstrip("-").isdigit() else value))
    return options
