"""Which versions on disk a model should serve (TF Serving's version policies)."""

from __future__ import annotations


from lepton_tf.files.versions import SAVED_MODEL_FILES, version_folders


def version_dirs(base_path: str) -> dict[int, str]:
    """All-digit folders of `base_path` that hold a SavedModel: version -> path.

    Other folders (an exporter's `.tmp-*`, `assets`) are ignored, as TF
    Serving ignores them.
    """
    return version_folders(base_path, SAVED_MODEL_FILES)


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
