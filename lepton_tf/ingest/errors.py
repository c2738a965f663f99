"""Errors of ingestion, each naming the file."""


class ParseError(ValueError):
    """A file that cannot be read as its format (corrupt, wrong encoding, no text).

    Args:
        path: the file.
        reason: what is wrong, for the user.
    """

    def __init__(self, path: str, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason
