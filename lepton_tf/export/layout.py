"""TF Serving's on-disk layout: `<base>/<name>/<version>/saved_model.pb`.

TF Serving treats every all-digit folder under `<base>/<name>` as a version
and ignores the rest, so an export in progress lives in a dot-folder beside
the versions and becomes visible only through an atomic rename.
"""

from __future__ import annotations

import os
import re
import shutil

TMP_PREFIX = ".tmp-export-"
_TMP_RE = re.compile(re.escape(TMP_PREFIX) + r"v(\d+)-pid(\d+)-")


def servable_dir(base_dir: str | os.PathLike, name: str) -> str:
    if not name or not re.fullmatch(r"[A-Za-z0-9_.-]+", name) or name.startswith("."):
        raise ValueError(f"Servable name {name!r} must be letters, digits, '_', '-', '.'.")
    return os.path.join(os.fspath(base_dir), name)


def list_versions(base_dir: str | os.PathLike, name: str) -> list[int]:
    """The complete versions of a servable, ascending (empty if none)."""
    path = servable_dir(base_dir, name)
    if not os.path.isdir(path):
        return []
    return sorted(int(d) for d in os.listdir(path)
                  if d.isdigit() and os.path.isfile(os.path.join(path, d, "saved_model.pb")))


def latest_version_path(base_dir: str | os.PathLike, name: str) -> str | None:
    versions = list_versions(base_dir, name)
    return os.path.join(servable_dir(base_dir, name), str(versions[-1])) if versions else None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_abandoned_exports(base_dir: str | os.PathLike, name: str) -> list[str]:
    """Deletes temp folders left by exports whose process died (kill -9, crash).

    Returns:
        The deleted paths.
    """
    path = servable_dir(base_dir, name)
    removed = []
    if not os.path.isdir(path):
        return removed
    for entry in os.listdir(path):
        match = _TMP_RE.match(entry)
        if match and not _pid_alive(int(match.group(2))):
            shutil.rmtree(os.path.join(path, entry), ignore_errors=True)
            removed.append(os.path.join(path, entry))
    return removed
