"""A model's variables as a small file the package ships: float16 in a compressed
``.npz``, with a JSON header (format, the model section that builds the
architecture, the command that made it).

    >>> import tempfile, numpy as np
    >>> path = tempfile.mktemp(suffix=".npz")
    >>> write_archive(path, [np.ones((2, 3), np.float32)], {"format": "demo.v1"})
    >>> meta, arrays = read_archive(path, "demo.v1")
    >>> meta["format"], arrays[0].dtype, arrays[0].shape
    ('demo.v1', dtype('float16'), (2, 3))
"""

from __future__ import annotations

import io
import json
import os

import numpy as np

_META = "__meta__"


def write_archive(path: str, arrays, meta: dict) -> None:
    """Write `arrays` (in order, as float16) and `meta` (JSON) to `path`."""
    stored = {f"v{i:04d}": np.asarray(a, np.float16) for i, a in enumerate(arrays)}
    stored[_META] = np.frombuffer(json.dumps(meta).encode("utf-8"), np.uint8)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **stored)
    with open(path, "wb") as f:
        f.write(buffer.getvalue())


def read_meta(path: str, fmt: str) -> dict:
    """The header of an archive of format `fmt`.

    Raises:
        ValueError: not such an archive.
    """
    with np.load(path) as data:
        if _META not in data.files:
            raise ValueError(f"{path}: not a weights file (no {_META})")
        meta = json.loads(data[_META].tobytes().decode("utf-8"))
    if meta.get("format") != fmt:
        raise ValueError(f"{path}: format {meta.get('format')!r}, expected {fmt!r}")
    return meta


def read_archive(path: str, fmt: str) -> tuple[dict, list[np.ndarray]]:
    """`(header, arrays in order)` of an archive of format `fmt`.

    Raises:
        ValueError: not such an archive.
    """
    meta = read_meta(path, fmt)
    with np.load(path) as data:
        return meta, [data[k] for k in sorted(k for k in data.files if k != _META)]
