"""Version folders on disk, and publishing a new one atomically.

TF Serving's layout is `<base>/<name>/<version>/saved_model.pb`: every
all-digit folder is a version and everything else is ignored. Index versions
use the same layout (`<base>/<version>/manifest.json`). A version being
written lives in a dot-folder beside the versions and becomes visible only
through an atomic rename, so a reader never sees half of one.

These are the only definitions of "which folders are versions" and "how a
version is published"; exports, indexes and the server all use them.

Example:

>>> import tempfile
>>> root = tempfile.mkdtemp()
>>> with publish_atomically(root, 1) as tmp:
...     _ = open(os.path.join(tmp, "manifest.json"), "w").write("{}")
>>> sorted(version_folders(root, ("manifest.json",)))
[1]
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from typing import Iterable, Iterator

TMP_PREFIX = ".tmp-"
_TMP_RE = re.compile(r"\.tmp-[a-z]+-v(\d+)-pid(\d+)-")
_VERSION_RE = re.compile(r"[0-9]+")  # ASCII digits only: str.isdigit() also accepts '²'
SAVED_MODEL_FILES = ("saved_model.pb", "saved_model.pbtxt")


def is_version_name(entry: str) -> bool:
    """True for a folder name TF Serving reads as a version (ASCII digits)."""
    return bool(_VERSION_RE.fullmatch(entry))


def version_folders(base_path: str | os.PathLike,
                    markers: Iterable[str] = SAVED_MODEL_FILES) -> dict[int, str]:
    """All-digit folders of `base_path` holding one of `markers`: version -> path.

    Args:
        base_path: the folder holding the versions.
        markers: file names, one of which marks a complete version.

    Returns:
        version -> folder, empty when `base_path` does not exist.
    """
    try:
        entries = os.listdir(base_path)
    except (FileNotFoundError, NotADirectoryError):
        return {}
    markers = tuple(markers)
    found = {}
    for entry in entries:
        path = os.path.join(os.fspath(base_path), entry)
        if is_version_name(entry) and any(os.path.isfile(os.path.join(path, m))
                                          for m in markers):
            found[int(entry)] = path
    return found


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_abandoned(root: str | os.PathLike) -> list[str]:
    """Deletes temp folders under `root` left by writers whose process died.

    Returns:
        The deleted paths.
    """
    removed = []
    if not os.path.isdir(root):
        return removed
    for entry in os.listdir(root):
        match = _TMP_RE.match(entry)
        if match and not _pid_alive(int(match.group(2))):
            shutil.rmtree(os.path.join(root, entry), ignore_errors=True)
            removed.append(os.path.join(root, entry))
    return removed


@contextlib.contextmanager
def publish_atomically(root: str | os.PathLike, version: int, *, kind: str = "export",
                       exists_error: type[Exception] = FileExistsError) -> Iterator[str]:
    """Writes version `version` of `root` in a temp folder, then renames it in.

    Abandoned temp folders of dead writers are deleted first. On an exception
    inside the block the temp folder is deleted and nothing is published.

    Args:
        root: the folder holding the versions (created if missing).
        version: the version number to publish.
        kind: a lower-case word naming the writer in the temp folder's name.
        exists_error: raised when the version exists (or appears meanwhile).

    Yields:
        The temp folder to write the version into.

    Raises:
        exists_error: the version exists already.
    """
    root = os.fspath(root)
    os.makedirs(root, exist_ok=True)
    sweep_abandoned(root)
    final = os.path.join(root, str(int(version)))
    if os.path.exists(final):
        raise exists_error(f"{final} exists already; versions are immutable.")
    tmp = tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{kind}-v{int(version)}-pid{os.getpid()}-",
                           dir=root)
    try:
        yield tmp
        if os.path.exists(final):  # another writer won the race meanwhile
            raise exists_error(f"{final} appeared while this version was written.")
        os.chmod(tmp, 0o755)  # mkdtemp makes it private; servers may run as another user
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
