"""Prometheus series of the conversation store (served with the server's own)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_WRITE_BUCKETS_S = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)
# Fine around the 5 ms a turn may spend in the store.
_TURN_BUCKETS_S = (0.0005, 0.001, 0.0015, 0.002, 0.003, 0.004, 0.005, 0.0075, 0.01, 0.025,
                   0.05, 0.1, 0.25, 1.0)


class StoreMetrics:
    """Turn writes by outcome, failures by operation, the retry queue's length, and
    the time the store adds to a turn.

    Args:
        registry: where the series live (the server's, so `/monitoring/...`
            shows them); None: a registry of their own.
    """

    def __init__(self, registry: CollectorRegistry | None = None):
        self.registry = registry if registry is not None else CollectorRegistry()
        self.writes = Counter(
            ":lepton:store:turn_writes", "Turn writes by outcome: written (at once), queued "
            "(the database failed; retried later), retried (written from the queue), "
            "dropped (the queue was full: the turn is not in the log).",
            ["outcome"], registry=self.registry)
        self.failures = Counter(
            ":lepton:store:failures", "Database operations that failed, by operation "
            "(write, retry, read, feedback, delete, purge, audit).", ["operation"], registry=self.registry)
        self.queued = Gauge(":lepton:store:queued_turns",
                            "Turns waiting in the retry queue.", registry=self.registry)
        self.write_seconds = Histogram(
            ":lepton:store:write_seconds", "Seconds one turn's synchronous write took.",
            buckets=_WRITE_BUCKETS_S, registry=self.registry)
        self.turn_seconds = Histogram(
            ":lepton:store:turn_seconds", "Seconds the store added to one turn: the session's "
            "read before it and the turn's write (with redaction) after it.",
            buckets=_TURN_BUCKETS_S, registry=self.registry)
