"""The conversation store: sessions, the turn log and feedback (SQLite or PostgreSQL)."""

from lepton_tf.store.conversation_store import ConversationStore, sqlite_url
from lepton_tf.store.errors import StoreError, StoreSchemaError, UnknownTurnError
from lepton_tf.store.records import TurnRecord, new_turn_id
from lepton_tf.store.writer import TurnWriter

__all__ = ["ConversationStore", "StoreError", "StoreSchemaError", "TurnRecord", "TurnWriter",
           "UnknownTurnError", "new_turn_id", "sqlite_url"]
