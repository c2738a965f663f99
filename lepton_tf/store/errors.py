"""The conversation store's errors: each says what is wrong and what to do."""

from __future__ import annotations


class StoreError(OSError):
    """The database could not be reached or refused a read or a write."""


class StoreSchemaError(StoreError):
    """The database is not a lepton-tf conversation store this code can use:
    corrupt, another application's, or written by a newer lepton-tf."""


class UnknownTurnError(LookupError):
    """No such session, or no such turn in that session."""
