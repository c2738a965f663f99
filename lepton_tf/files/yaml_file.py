"""Reading a YAML configuration file, with errors that name the file."""

from __future__ import annotations

import os

import yaml


def read_yaml(path: str | os.PathLike, error: type[ValueError] = ValueError):
    """The parsed contents of a YAML file (JSON is YAML too).

    Args:
        path: the file.
        error: the `ValueError` type to raise, so each kind of file keeps its own.

    Returns:
        Whatever the document holds (None for an empty file).

    Raises:
        error: the file cannot be read, or is not YAML; the message names the file.
    """
    try:
        with open(path, encoding="utf-8") as fh:
            return yaml.safe_load(fh)
    except OSError as e:
        raise error(f"{path}: cannot be read: {e.strerror}") from None
    except yaml.YAMLError as e:
        raise error(f"{path}: invalid YAML: {e}") from None
