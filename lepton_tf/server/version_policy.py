"""Which versions on disk a model should serve (TF Serving's version policies)."""

from __future__ import annotations

import os


def version_dirs(base_path: str) -> dict[int, str]:
    """All-digit folders of `base_path` that hold a SavedModel: version -> path.

    Other folders (an exporter's `.tmp-export-*`, `assets`) are ignored, as
    TF Serving ignores them.
    """
    try:
        entries = os.listdir(base_path)
    except (FileNotFoundError, NotADirectoryError):
        return {}
    found = {}
    for entry in entries:
        path = os.path.join(base_path, entry)
        if entry.isdigit() and (os.path.isfile(os.path.join(path, "saved_model.pb"))
                                or os.path.isfile(os.path.join(path, "saved_model.pbtxt"))):
            found[int(entry)] = path
    return found


def aspired_versions(policy, on_disk) -> set[int]:
    """The versions a `FileSystemStoragePathSourceConfig.ServableVersionPolicy` selects.

    Args:
        policy: the `model_version_policy` of a `ModelConfig` (unset = latest 1).
        on_disk: the version numbers found on disk.
    """
    versions = sorted(on_disk)
    kind = policy.WhichOneof("policy_choice")
    if kind == "all":
        return set(versions)
    if kind == "specific":
        return set(policy.specific.versions) & set(versions)
    count = policy.latest.num_versions if kind == "latest" and policy.latest.num_versions else 1
    return set(versions[-count:])
