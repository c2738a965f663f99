"""Atomic, validated SavedModel exports in TF Serving layout."""

from __future__ import annotations

import logging
import os

import numpy as np
import tensorflow as tf

from lepton_tf.export.layout import list_versions, servable_dir, sweep_abandoned_exports
from lepton_tf.export.validate import compare_outputs, run_in_fresh_process
from lepton_tf.export.warmup import write_warmup_requests
from lepton_tf.files.versions import publish_atomically

log = logging.getLogger(__name__)


class VersionExistsError(FileExistsError):
    """The version folder exists; TF Serving versions are immutable."""


def _as_numpy(outputs) -> dict[str, np.ndarray]:
    return {k: np.asarray(v.numpy() if hasattr(v, "numpy") else v)
            for k, v in outputs.items()}


def export_servable(module: tf.Module, *, name: str,
                    signatures: dict[str, tf.types.experimental.ConcreteFunction],
                    examples: dict[str, dict[str, np.ndarray]],
                    base_dir: str | os.PathLike = "saved_models",
                    version: int | None = None, expected=None, validate: bool = True,
                    warmup: bool = True, atol: float = 1e-5) -> str:
    """Exports `module` as `<base_dir>/<name>/<version>/`, or nothing at all.

    The SavedModel is written to a hidden temp folder beside the versions,
    given warmup requests, reloaded in a fresh process (plain TensorFlow +
    tensorflow_text) and compared with the in-process outputs; only then is
    it renamed into place. A crash or kill at any point leaves no version
    folder, and the next export deletes the abandoned temp folder.

    Example:

    >>> import tempfile
    >>> class Upper(tf.Module):
    ...     @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    ...     def serve(self, text):
    ...         return {"upper": tf.strings.upper(text)}
    >>> m = Upper()
    >>> base = tempfile.mkdtemp()
    >>> path = export_servable(m, name="upper", signatures={"serving_default": m.serve},
    ...                        examples={"serving_default": {"text": np.array([b"hi"])}},
    ...                        base_dir=base, validate=False)
    >>> os.path.relpath(path, base)
    'upper/1'

    (`validate=True`, the default, also reloads it in a fresh process.)

    Args:
        module: the `tf.Module` (or Keras model) to save; it must track every
            variable and asset the signatures use.
        name: servable name (the `model_spec.name` clients send).
        signatures: signature name -> concrete function (or `tf.function`
            with an input signature); include `serving_default`.
        examples: signature name -> input name -> a batch of sample inputs;
            used for validation and for the warmup file.
        base_dir: the model base path (`--model_base_path` is
            `<base_dir>/<name>`).
        version: version number; default one past the highest existing.
        expected: signature -> output -> array the reloaded model must give;
            default: the module's own outputs in this process.
        validate: reload in a fresh process and compare.
        warmup: write `assets.extra/tf_serving_warmup_requests`.
        atol: tolerance for float outputs.

    Returns:
        The path of the new version folder.

    Raises:
        VersionExistsError: if that version exists already.
        ExportValidationError: if the reload fails or answers differently.
        ValueError: for examples naming an unknown signature, or a bad name.
    """
    root = servable_dir(base_dir, name)
    unknown = sorted(set(examples) - set(signatures))
    if unknown:
        raise ValueError(f"examples name signatures {unknown} that are not exported "
                         f"(exported: {sorted(signatures)}).")
    os.makedirs(root, exist_ok=True)
    sweep_abandoned_exports(base_dir, name)
    existing = list_versions(base_dir, name)
    version = int(version) if version is not None else (existing[-1] + 1 if existing else 1)
    if version <= 0:
        raise ValueError(f"version must be a positive integer, got {version}.")
    final = os.path.join(root, str(version))
    if os.path.exists(final):
        raise VersionExistsError(
            f"{final} exists already. TF Serving versions are immutable: export a "
            f"new version (next free: {max(existing + [version]) + 1}) or delete "
            "that folder first.")
    concrete = {k: (f.get_concrete_function() if hasattr(f, "get_concrete_function") else f)
                for k, f in signatures.items()}
    if expected is None:
        expected = {s: _as_numpy(concrete[s](**{k: tf.constant(v) for k, v in ins.items()}))
                    for s, ins in examples.items()}
    with publish_atomically(root, version, kind="export", exists_error=VersionExistsError) as tmp:
        tf.saved_model.save(module, tmp, signatures=concrete)
        if warmup and examples:
            write_warmup_requests(tmp, name, examples)
        if validate:
            compare_outputs(expected, run_in_fresh_process(tmp, examples), atol=atol)
    log.info("Exported %s version %d to %s", name, version, final)
    return final
