"""A model path as a user types it -> the SavedModel version folder to load."""

from __future__ import annotations

import os

from lepton_tf.export.layout import list_versions


def resolve_version_path(path: str | os.PathLike, build_hint: str = "`lepton-tf main`") -> str:
    """The SavedModel folder `path` names: itself, or its latest version.

    Accepts what TF Serving calls a base path (`saved_models/intent`, whose
    all-digit sub-folders are versions) as well as one version folder
    (`saved_models/intent/2`).

    Args:
        path: a version folder or a model base folder.
        build_hint: the command that builds the model, for the error message.

    Returns:
        The folder holding `saved_model.pb`.

    Raises:
        FileNotFoundError: `path` does not exist, or holds neither a
            SavedModel nor a version folder with one; the message says what
            to run.
    """
    path = os.fspath(path)
    if os.path.isfile(os.path.join(path, "saved_model.pb")):
        return path
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} does not exist; build the model with {build_hint} "
                                "or give the folder of an exported model.")
    if not os.path.isdir(path):
        raise FileNotFoundError(f"{path} is a file; give a model folder (a base folder of "
                                "numbered versions, or one version folder).")
    parent, name = os.path.split(os.path.normpath(path))
    versions = list_versions(parent or ".", name)
    if not versions:
        raise FileNotFoundError(f"{path} has no SavedModel: neither saved_model.pb nor a "
                                f"numbered version folder holding one; build it with "
                                f"{build_hint}.")
    return os.path.join(path, str(versions[-1]))
