"""Pairing a search index version with the encoder version that built it.

An index is only meaningful with the encoder that embedded its passages
(its manifest records the encoder's SavedModel fingerprint). In the embedded
deployment the `search` servable therefore:

- at load, picks the loaded `encoder` version with that fingerprint and
  embeds every query with it; when no loaded encoder version has it, the
  index version is refused (`IndexMismatchError`: the version is END with
  the reason in GetModelStatus, and the previous index version, if any,
  keeps serving);
- keeps that encoder version loaded (a pin in the model manager) while the
  index version serves, so hot-loading a new `encoder` version does not
  silently pair old passages with new query vectors: search keeps serving
  the old pair and its GetModelStatus reports the refused new pairing
  (FAILED_PRECONDITION) until an index built by the new encoder appears.
"""

from __future__ import annotations

import functools
import os

from lepton_tf.index.errors import IndexFormatError, IndexMismatchError
from lepton_tf.index.search_index import EncoderInfo
from lepton_tf.index.storage import read_manifest


@functools.lru_cache(maxsize=64)
def _fingerprint(path: str, mtime: float) -> str:
    from lepton_tf.index.encoding import encoder_fingerprint

    try:
        return encoder_fingerprint(path)
    except Exception:  # noqa: BLE001 - no fingerprint.pb (old SavedModel): cannot check
        return ""


def loaded_encoders(manager, model: str) -> dict[int, EncoderInfo]:
    """The AVAILABLE versions of `model` with their SavedModel fingerprints
    ("" for a code-registered servable: nothing to compare)."""
    infos = {}
    for version, path in manager.version_paths(model).items():
        fingerprint = ""
        if path and os.path.exists(os.path.join(path, "saved_model.pb")):
            fingerprint = _fingerprint(path, os.stat(path).st_mtime)
        infos[version] = EncoderInfo(model, version, fingerprint)
    return infos


def built_by(index_path: str) -> EncoderInfo:
    """The encoder an index version's manifest names (unknown when the
    manifest is not a one-shard index's: loading then says what is wrong)."""
    try:
        return EncoderInfo(**read_manifest(index_path).get("encoder", {}))
    except (IndexFormatError, OSError, TypeError):
        return EncoderInfo()


def fits(index_encoder: EncoderInfo, encoder: EncoderInfo) -> bool:
    """Whether `encoder` may embed queries for an index built by `index_encoder`
    (same fingerprint; unknown fingerprints cannot be told apart)."""
    return not (index_encoder.fingerprint and encoder.fingerprint) or \
        index_encoder.fingerprint == encoder.fingerprint


def choose_encoder(index_path: str, available: dict[int, EncoderInfo]) -> EncoderInfo | None:
    """The newest loaded encoder version that built the index (None: no
    encoder loaded yet, queries then go to the latest one).

    Raises:
        IndexMismatchError: encoders are loaded, but none built this index.
    """
    if not available:
        return None
    wanted = built_by(index_path)
    matching = [v for v, info in available.items() if fits(wanted, info)]
    if not matching:
        names = ", ".join(f"v{v} ({info.fingerprint[:12]})" for v, info in sorted(available.items()))
        raise IndexMismatchError(
            f"index {index_path} was built by encoder {wanted.name} v{wanted.version} "
            f"(fingerprint {wanted.fingerprint[:12]}), but the loaded encoder versions are "
            f"{names}. Rebuild the index with this encoder: `lepton-tf index`.")
    return available[max(matching)]


def pairing_note(index_encoder: EncoderInfo, serving: EncoderInfo,
                 available: dict[int, EncoderInfo]) -> str | None:
    """Why a newer loaded encoder is not used (None when the pair is current)."""
    latest = available.get(max(available)) if available else None
    if latest is None or latest.version == serving.version or fits(index_encoder, latest):
        return None
    return (f"encoder v{latest.version} is loaded, but this index was built by encoder "
            f"v{serving.version}: search keeps serving this index with encoder "
            f"v{serving.version}. Rebuild the index with `lepton-tf index` to use "
            f"v{latest.version}.")
