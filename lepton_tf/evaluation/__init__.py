"""Evaluations behind `lepton-tf eval`: each module has a `register(subparsers)`."""

import json
import os


def write_json(result, path: str | None) -> None:
    """Writes an evaluation's results to `path` (its folder made if needed;
    None or "": nothing written, the command was not asked for a file)."""
    if not path:
        return
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w") as f:
        json.dump(result, f, indent=1)


def add_model_args(parser, servable: str) -> None:
    """`--model` and `--base-dir`: which exported `servable` an eval command reads."""
    parser.add_argument("--model", help=f"{servable} SavedModel: a version folder or a base "
                        "folder (its latest version); default: the latest in --base-dir")
    parser.add_argument("--base-dir", default="saved_models",
                        help=f"model base folder searched for {servable} (default saved_models)")

