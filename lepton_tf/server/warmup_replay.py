"""Replays `assets.extra/tf_serving_warmup_requests` before a version serves.

Like TF Serving's `--enable_model_warmup`: every record (at most 1,000) is
run once through the same code path as real requests; a failing record
fails the load, so a version that cannot answer its own samples never
becomes AVAILABLE.
"""

from __future__ import annotations

from lepton_tf.export import read_warmup_requests
from lepton_tf.server import inference
from lepton_tf.server.servable import Servable

_RUNNERS = {
    "predict_log": lambda s, log: inference.predict(s, log.request),
    "classify_log": lambda s, log: inference.classify(s, log.request),
    "regress_log": lambda s, log: inference.regress(s, log.request),
    "multi_inference_log": lambda s, log: inference.multi_inference(s, log.request),
}


def replay_warmup(servable: Servable, path: str) -> int:
    """Runs the warmup records of the version folder `path` on `servable`.

    Returns:
        The number of records replayed.

    Raises:
        ValueError: a record of a kind TF Serving does not replay, or one
            that fails (the message names the record).
    """
    count = 0
    for index, log in enumerate(read_warmup_requests(path)):
        kind = log.WhichOneof("log_type")
        if kind not in _RUNNERS:
            raise ValueError(f"Unsupported log_type for warmup: {kind}")
        try:
            _RUNNERS[kind](servable, getattr(log, kind))
        except Exception as e:  # noqa: BLE001 - reported as a failed load
            raise ValueError(f"warmup record {index} ({kind}) failed: {e}") from None
        count += 1
    return count
