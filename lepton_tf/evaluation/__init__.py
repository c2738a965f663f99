"""Evaluations behind `lepton-tf eval`: each module has a `register(subparsers)`."""

import json
import os


def write_json(result, path: str) -> None:
    """Writes an evaluation's results to `path` (its folder made if needed)."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w") as f:
        json.dump(result, f, indent=1)
