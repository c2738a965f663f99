"""`tf.distribute` strategy from a config name."""

from __future__ import annotations

import json
import os

import tensorflow as tf

from lepton_tf.training import keras_compat


def make_strategy(name: str = "default", tpu: str = "") -> tf.distribute.Strategy:
    """Returns the strategy a config names.

    Args:
        name: `default` (one device), `mirrored` (all local GPUs, or the CPU),
            `multi_worker` (`MultiWorkerMirroredStrategy`; the cluster comes
            from the `TF_CONFIG` environment variable) or `tpu`.
        tpu: TPU address for `tpu`; empty for a local TPU VM.

    Returns:
        A `tf.distribute.Strategy`. Create it before any other TensorFlow
        op runs: multi-worker and TPU strategies must own the runtime.

    Raises:
        ValueError: for an unknown name, or `multi_worker` without a valid
            `TF_CONFIG`.
    """
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        raw = os.environ.get("TF_CONFIG", "")
        try:
            cluster = json.loads(raw)["cluster"]
        except (ValueError, KeyError) as e:
            raise ValueError(
                "strategy 'multi_worker' needs TF_CONFIG, e.g. "
                '{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
                '"task": {"type": "worker", "index": 0}}; got '
                f"TF_CONFIG={raw!r}.") from e
        if not cluster.get("worker") and not cluster.get("chief"):
            raise ValueError("TF_CONFIG names no workers.")
        keras_compat.patch_keras_for_multi_worker()
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "tpu":
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu)
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    raise ValueError(f"Unknown strategy {name!r}; use default, mirrored, "
                     "multi_worker or tpu.")


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """True on the worker that writes checkpoints, logs and exports."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    if resolver.task_type == "chief":
        return True
    has_chief = "chief" in (resolver.cluster_spec().as_dict() or {})
    return (resolver.task_type == "worker" and resolver.task_id == 0
            and not has_chief)
