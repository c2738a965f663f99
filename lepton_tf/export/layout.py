"""SavedModel versions of a servable in TF Serving's layout:
`<base>/<name>/<version>/saved_model.pb` (`files.versions` finds and
publishes version folders)."""

from __future__ import annotations

import os
import re

from lepton_tf.files.versions import SAVED_MODEL_FILES, sweep_abandoned, version_folders

__all__ = ["SAVED_MODEL_FILES", "latest_version_path", "list_versions", "servable_dir",
           "sweep_abandoned_exports"]


def servable_dir(base_dir: str | os.PathLike, name: str) -> str:
    """`<base_dir>/<name>`, refusing names TF Serving could not serve.

    Raises:
        ValueError: for an empty name or one with other characters.
    """
    if not name or not re.fullmatch(r"[A-Za-z0-9_.-]+", name) or name.startswith("."):
        raise ValueError(f"Servable name {name!r} must be letters, digits, '_', '-', '.'.")
    return os.path.join(os.fspath(base_dir), name)


def list_versions(base_dir: str | os.PathLike, name: str) -> list[int]:
    """The complete SavedModel versions of a servable, ascending (empty if none)."""
    return sorted(version_folders(servable_dir(base_dir, name)))


def latest_version_path(base_dir: str | os.PathLike, name: str) -> str | None:
    """The newest SavedModel version folder of a servable, or None."""
    versions = list_versions(base_dir, name)
    return os.path.join(servable_dir(base_dir, name), str(versions[-1])) if versions else None


def sweep_abandoned_exports(base_dir: str | os.PathLike, name: str) -> list[str]:
    """`sweep_abandoned` for the versions folder of servable `name`."""
    return sweep_abandoned(servable_dir(base_dir, name))
