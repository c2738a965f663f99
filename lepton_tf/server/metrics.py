"""Prometheus metrics, served on the REST port like TF Serving's.

Names follow TF Serving's `:tensorflow:serving:*` family; every series is
labelled by model name and version so a new version's traffic shows apart.
Each server has its own registry, so several servers in one process (tests)
do not collide.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

_LATENCY_BUCKETS_US = (100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000,
                       100_000, 250_000, 500_000, 1_000_000, 2_500_000, 10_000_000)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


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
            children = self._children[key] = (
                self.requests.labels(model, label, api, status),
                self.latency.labels(model, label, api, entrypoint))
        children[0].inc()
        children[1].observe(seconds * 1e6)

    def batch_observer(self, model: str, version: int):
        """A callback recording batch sizes for one servable version."""
        child = self.batch_size.labels(model, str(version))
        return child.observe

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
