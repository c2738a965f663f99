"""TF Serving config protos that the `tensorflow-serving-api` wheel lacks.

`BatchingParameters` (session_bundle_config.proto) and `MonitoringConfig`
(monitoring_config.proto) are not shipped in the pip package, so they are
built here from descriptors with TF Serving's own package, names and field
numbers: `text_format` then accepts exactly the files real TF Serving reads.
"""

from __future__ import annotations

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf import wrappers_pb2  # noqa: F401  (registers wrappers.proto)

_F = descriptor_pb2.FieldDescriptorProto


def _field(message, name, number, type_, type_name=None, repeated=False):
    field = message.field.add(name=name, number=number, type=type_,
                              label=_F.LABEL_REPEATED if repeated else _F.LABEL_OPTIONAL)
    if type_name:
        field.type_name = type_name


def _build():
    pool = descriptor_pool.Default()
    try:
        pool.FindMessageTypeByName("tensorflow.serving.BatchingParameters")
    except KeyError:
        f = descriptor_pb2.FileDescriptorProto(
            name="lepton_tf/tensorflow_serving_extra_configs.proto",
            package="tensorflow.serving", syntax="proto3",
            dependency=["google/protobuf/wrappers.proto"])
        b = f.message_type.add(name="BatchingParameters")
        for number, name in enumerate(["max_batch_size", "batch_timeout_micros",
                                       "max_enqueued_batches", "num_batch_threads"], 1):
            _field(b, name, number, _F.TYPE_MESSAGE, ".google.protobuf.Int64Value")
        _field(b, "thread_pool_name", 5, _F.TYPE_MESSAGE, ".google.protobuf.StringValue")
        _field(b, "allowed_batch_sizes", 6, _F.TYPE_INT64, repeated=True)
        _field(b, "pad_variable_length_inputs", 7, _F.TYPE_BOOL)
        p = f.message_type.add(name="PrometheusConfig")
        _field(p, "enable", 1, _F.TYPE_BOOL)
        _field(p, "path", 2, _F.TYPE_STRING)
        m = f.message_type.add(name="MonitoringConfig")
        _field(m, "prometheus_config", 1, _F.TYPE_MESSAGE, ".tensorflow.serving.PrometheusConfig")
        pool.Add(f)
    get = lambda n: message_factory.GetMessageClass(  # noqa: E731
        pool.FindMessageTypeByName(f"tensorflow.serving.{n}"))
    return get("BatchingParameters"), get("MonitoringConfig")


BatchingParameters, MonitoringConfig = _build()
