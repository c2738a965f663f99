"""Finding the files of a corpus folder, each with its content hash."""

from __future__ import annotations

import os

from lepton_tf.files.digest import file_sha256
from lepton_tf.ingest.parsers import SUPPORTED


def scan_folder(directory: str) -> list[tuple[str, str]]:
    """Every supported file under `directory`, recursively, with its hash.

    Hidden files and folders (a leading dot) are skipped, and so are files
    of other suffixes. Paths use `/` on every platform, so ids and
    manifests move between machines.

    Args:
        directory: the corpus folder.

    Returns:
        Sorted `(relpath, sha256)` pairs.

    Raises:
        NotADirectoryError: if `directory` is not a folder.
    """
    if not os.path.isdir(directory):
        raise NotADirectoryError(f"{directory} is not a folder.")
    found = []
    for folder, subfolders, names in os.walk(directory):
        subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
        for name in names:
            if name.startswith(".") or not name.lower().endswith(SUPPORTED):
                continue
            full = os.path.join(folder, name)
            if not os.path.isfile(full):
                continue
            rel = os.path.relpath(full, directory).replace(os.sep, "/")
            found.append((rel, file_sha256(full)))
    return sorted(found)


def unsupported_files(directory: str) -> list[str]:
    """The files under `directory` that `scan_folder` leaves out for their type.

    Hidden files and folders are not listed (they are never indexed, by
    design); everything else is, so a user sees which files were not read.

    Returns:
        Sorted relpaths (`/`-separated).
    """
    found = []
    for folder, subfolders, names in os.walk(directory):
        subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
        for name in names:
            if not name.startswith(".") and not name.lower().endswith(SUPPORTED):
                found.append(os.path.relpath(os.path.join(folder, name), directory)
                             .replace(os.sep, "/"))
    return sorted(found)
