"""Prometheus metrics, served on the REST port like TF Serving's.

Names follow TF Serving's `:tensorflow:serving:*` family; every series is
labelled by model name and version so a new version's traffic shows apart.
Each server has its own registry, so several servers in one process (tests)
do not collide.
"""

from __future__ import annotations

import threading

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from lepton_tf.text.redaction import redact

_LATENCY_BUCKETS_US = (100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000,
                       100_000, 250_000, 500_000, 1_000_000, 2_500_000, 10_000_000)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
_PAST_DEADLINE_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0,
                            1.5, 2.0, 5.0, 10.0, 30.0)

# Compute after a request's deadline (the bound: "no request computes more than
# 1 s past its deadline"). Work runs in the process, whichever server object
# received it, so these series are process-wide and every server exposes them.
_process_registry = CollectorRegistry()
_past_deadline = Histogram(
    ":lepton:serving:compute_past_deadline_seconds",
    "Seconds a model computed after its request's deadline (runs that ended past it).",
    ["model_name"], buckets=_PAST_DEADLINE_BUCKETS_S, registry=_process_registry)
_past_deadline_max = Gauge(
    ":lepton:serving:compute_past_deadline_max_seconds",
    "The most seconds one run computed after its request's deadline.",
    ["model_name"], registry=_process_registry)
_past_deadline_lock = threading.Lock()
_past_deadline_seen: dict[str, float] = {}


def observe_past_deadline(model: str, seconds: float) -> None:
    """Records that a run of `model` ended `seconds` after its request's deadline."""
    _past_deadline.labels(model).observe(seconds)
    with _past_deadline_lock:
        if seconds > _past_deadline_seen.get(model, -1.0):
            _past_deadline_seen[model] = seconds
            _past_deadline_max.labels(model).set(seconds)


def past_deadline_max() -> dict[str, float]:
    """Model name -> the most seconds one run computed past its deadline so far."""
    with _past_deadline_lock:
        return dict(_past_deadline_seen)


class Metrics:
    """Request counts, latency histograms and batch sizes per model and version."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self):
        self.registry = CollectorRegistry()
        self.requests = Counter(
            ":tensorflow:serving:request_count", "Requests by model, version, API and status.",
            ["model_name", "version", "API", "status"], registry=self.registry)
        self.latency = Histogram(
            ":tensorflow:serving:request_latency", "Request latency in microseconds.",
            ["model_name", "version", "API", "entrypoint"], buckets=_LATENCY_BUCKETS_US,
            registry=self.registry)
        self.batch_size = Histogram(
            ":tensorflow:serving:batching_session:processed_batch_size",
            "Rows in each batch run by server-side batching.",
            ["model_name", "version"], buckets=_BATCH_BUCKETS, registry=self.registry)
        self._children: dict = {}

    def observe(self, model: str, version, api: str, entrypoint: str, status: str,
                seconds: float) -> None:
        """Counts one request and records its latency.

        Args:
            model, version: what was asked for (version "" when unresolved).
            api: `Predict`, `Classify`, `Regress`, `MultiInference`, `GetModelMetadata`...
            entrypoint: `GRPC` or `REST`.
            status: the status code name (`OK`, `NOT_FOUND`, ...).
            seconds: wall time of the request.
        """
        key = (model, version, api, entrypoint, status)
        children = self._children.get(key)
        if children is None:  # labels() builds and locks on every call; keep the children
            if len(self._children) > 4096:  # model names come from clients: bound it
                self._children.clear()
            label = "" if version is None else str(version)
            # Model names come from clients: personal data in one never becomes a label.
            name = redact(model)
            children = self._children[key] = (
                self.requests.labels(name, label, api, status),
                self.latency.labels(name, label, api, entrypoint))
        children[0].inc()
        children[1].observe(seconds * 1e6)

    def batch_observer(self, model: str, version: int):
        """A callback recording batch sizes for one servable version."""
        child = self.batch_size.labels(model, str(version))
        return child.observe

    def exposition(self) -> bytes:
        return generate_latest(self.registry) + generate_latest(_process_registry)
