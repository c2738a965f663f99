"""Content hashes of files: what manifests record, and what tells a changed file."""

from __future__ import annotations

import hashlib


def file_sha256(path: str) -> str:
    """The sha256 hex digest of a file's bytes (read in 1 MiB blocks).

    Raises:
        OSError: the file cannot be read.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
