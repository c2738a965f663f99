"""Task dialogue: service schemas (SGD format), the tracked dialogue state, trackers.

Built on the layers below (models, export, index, server); the assistant uses it.
"""

from lepton_tf.dialogue.schema import (
    DONTCARE,
    Intent,
    Schema,
    SchemaError,
    Service,
    Slot,
    load_schema,
    parse_schema,
    parse_service,
)
from lepton_tf.dialogue.state import NO_INTENT, DialogueState, ServiceState, Tracker

__all__ = [
    "DONTCARE",
    "NO_INTENT",
    "DialogueState",
    "Intent",
    "Schema",
    "SchemaError",
    "Service",
    "ServiceState",
    "Slot",
    "Tracker",
    "load_schema",
    "parse_schema",
    "parse_service",
]
