"""The ingest manifest of an index version: a content hash per file.

Stored as `ingest.json` in every version built from a folder (and
checksummed with the rest of the version), it maps each file to its sha256
and the passage ids it produced, so the next run knows which files changed
and which passages to delete, keep or re-encode.
"""

from __future__ import annotations

import dataclasses
import json

FORMAT = 1
FILE_NAME = "ingest.json"


@dataclasses.dataclass
class IngestManifest:
    """Files, hashes and passage ids of one index version.

    Attributes:
        chunking: `ChunkConfig.to_dict()` the passages were cut with.
        files: relpath -> {"sha256": str, "passages": [doc ids]}.
        skipped: relpath -> {"sha256": str, "reason": str} for files that
            could not be parsed (retried on every run).
    """

    chunking: dict
    files: dict = dataclasses.field(default_factory=dict)
    skipped: dict = dataclasses.field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps({"format": FORMAT, "chunking": self.chunking, "files": self.files,
                           "skipped": self.skipped}, indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> IngestManifest:
        """Raises: ValueError for another format or a malformed manifest."""
        raw = json.loads(text)
        if raw.get("format") != FORMAT:
            raise ValueError(f"ingest manifest format {raw.get('format')!r}, expected {FORMAT}.")
        return cls(raw["chunking"], raw.get("files", {}), raw.get("skipped", {}))


@dataclasses.dataclass(frozen=True)
class FolderChanges:
    """How a scanned folder differs from a manifest.

    Attributes:
        added / changed: relpaths to parse and encode.
        removed: relpaths gone from the folder.
        unchanged: relpaths whose passages (and vectors) are reused.
    """

    added: list
    changed: list
    removed: list
    unchanged: list


def diff(previous: IngestManifest | None, scanned: list[tuple[str, str]]) -> FolderChanges:
    """Compares a scan (`scan_folder` output) with the previous manifest.

    A file skipped last time is parsed again (counted as added): it is
    reported on every run until it is fixed, and `--strict` sees it.
    """
    old = {} if previous is None else previous.files
    added, changed, unchanged = [], [], []
    for rel, digest in scanned:
        if rel in old:
            (unchanged if old[rel]["sha256"] == digest else changed).append(rel)
        else:
            added.append(rel)
    present = {rel for rel, _ in scanned}
    removed = sorted(set(old) - present)
    return FolderChanges(added, changed, removed, unchanged)
