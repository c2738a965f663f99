"""Errors of the index layer, each saying what to do."""


class IndexFormatError(ValueError):
    """The index on disk is corrupt, incomplete or of another format."""


class IndexMismatchError(ValueError):
    """The index does not fit what it is used with (dimension, encoder)."""
