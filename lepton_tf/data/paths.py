"""Where the vendored data lives.

The repository ships its data under ``<repo root>/data`` (see ``data/README.md``).
The package is used from a source checkout or an editable install, so that folder is
found relative to this file; ``LEPTON_TF_DATA`` overrides it.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "LEPTON_TF_DATA"

# lepton_tf/data/paths.py -> parents[2] is the repository root.
_REPO_DATA = Path(__file__).resolve().parents[2] / "data"


def data_dir() -> Path:
    """Return the folder holding the vendored data.

    Returns:
        ``$LEPTON_TF_DATA`` if that variable is set and non-empty, else
        ``<repo root>/data`` located relative to this module.

    Raises:
        FileNotFoundError: if the chosen folder does not exist. The message says
            to set ``LEPTON_TF_DATA`` to the folder that holds ``sgd/``,
            ``banking77/`` and ``stackfaq/``.
    """
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        path = Path(env).expanduser()
        origin = f"{ENV_VAR}={env}"
    else:
        path = _REPO_DATA
        origin = "the repository's data/ folder"
    if not path.is_dir():
        raise FileNotFoundError(
            f"lepton-tf data folder not found: {path} ({origin}). Set {ENV_VAR} to "
            "the folder that holds sgd/, banking77/ and stackfaq/ (the repository's data/)."
        )
    return path


def data_file(*parts: str) -> Path:
    """Return the path of one vendored file, checking that it exists.

    Args:
        *parts: path components below the data folder, e.g. ``"sgd", "sgd_dev.jsonl.gz"``.

    Returns:
        The file's path.

    Raises:
        FileNotFoundError: if the data folder or the file is missing.
    """
    path = data_dir().joinpath(*parts)
    if not path.is_file():
        raise FileNotFoundError(
            f"lepton-tf data file not found: {path}. Set {ENV_VAR} to the folder that "
            "holds sgd/, banking77/ and stackfaq/ (the repository's data/)."
        )
    return path


def split_file(corpus: str, name: str, split: str, splits: tuple[str, ...],
               path: str | os.PathLike | None = None):
    """The file of one split of a vendored corpus, or `path` when the caller gives one.

    Args:
        corpus: the corpus's folder under the data folder (``"sgd"``).
        name: the file name with ``{split}`` in it (``"sgd_{split}.jsonl.gz"``).
        split: the split asked for.
        splits: the corpus's splits.
        path: a file to read instead of the vendored one.

    Raises:
        ValueError: `split` is not one of `splits`.
        FileNotFoundError: the vendored file is missing.
    """
    if split not in splits:
        raise ValueError(f"split must be one of {splits}, got {split!r}")
    return path if path is not None else data_file(corpus, name.format(split=split))

