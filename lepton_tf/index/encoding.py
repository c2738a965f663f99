"""Text -> embeddings through an exported `encoder` servable."""

from __future__ import annotations

import os

import numpy as np

from lepton_tf.contracts import encoder as contract
from lepton_tf.index.search_index import EncoderInfo


def resolve_encoder_path(path: str) -> str:
    """`path` if it is an encoder version folder, else its latest version.

    Raises:
        FileNotFoundError: if there is no encoder version there.
    """
    from lepton_tf.export.layout import list_versions

    if os.path.exists(os.path.join(path, "saved_model.pb")):
        return path
    versions = list_versions(os.path.dirname(path.rstrip("/")) or ".",
                             os.path.basename(path.rstrip("/")))
    if not versions:
        raise FileNotFoundError(
            f"No encoder SavedModel at {path}: run `lepton-tf main` or "
            "`lepton-tf train encoder --export`.")
    return os.path.join(path, str(versions[-1]))


def encoder_fingerprint(version_path: str) -> str:
    """What identifies an exported encoder: its graph and its weights.

    `saved_model_checksum` hashes only `saved_model.pb`, the graph: two
    exports of one architecture with other weights (another recipe, seed
    or training set) share it. `checkpoint_hash` hashes the variables.

    Raises:
        tf.errors.NotFoundError (an OSError): no `fingerprint.pb` there.
    """
    import tensorflow as tf

    fingerprint = tf.saved_model.experimental.read_fingerprint(version_path)
    return f"{fingerprint.checkpoint_hash}-{fingerprint.saved_model_checksum}"


def read_encoder_info(version_path: str) -> EncoderInfo:
    """Name, version and fingerprint of an encoder version folder (reads only
    its fingerprint file, not the graph)."""
    return EncoderInfo(name=os.path.basename(os.path.dirname(version_path.rstrip("/"))),
                       version=int(os.path.basename(version_path.rstrip("/"))),
                       fingerprint=encoder_fingerprint(version_path))


class SavedModelEncoder:
    """Calls the `encode_query` / `encode_document` signatures of an encoder
    SavedModel in process (the same graph TF Serving runs).

    Args:
        path: a version folder (`saved_models/encoder/3`) or the model base
            folder (its latest version is used).

    Raises:
        FileNotFoundError: if there is no encoder version there.
    """

    def __init__(self, path: str):
        import tensorflow as tf
        import tensorflow_text  # noqa: F401  (registers the tokenizer ops)

        self.path = resolve_encoder_path(path)
        self._tf = tf
        self.model = tf.saved_model.load(self.path)
        self.info = read_encoder_info(self.path)

    def _run(self, signature: str, texts, batch_size: int, progress) -> np.ndarray:
        """Embeds `texts` in length-sorted batches (little padding), in their order;
        `progress`: a bar labelled with the signature (True) or with this text."""
        from lepton_tf.text.length_batches import encode_in_length_batches

        fn = self.model.signatures[signature]
        return encode_in_length_batches(
            lambda batch: fn(**{contract.TEXT: self._tf.constant(batch)})[contract.EMBEDDING]
            .numpy(), texts,
            batch_size, self.dimension,
            progress if isinstance(progress, str) else signature if progress else None)

    @property
    def dimension(self) -> int:
        outputs = self.model.signatures[contract.QUERY_SIGNATURE].structured_outputs
        return int(outputs[contract.EMBEDDING].shape[-1])

    def encode_queries(self, texts, batch_size: int = 64, progress: bool | str = False
                       ) -> np.ndarray:
        return self._run(contract.QUERY_SIGNATURE, texts, batch_size, progress)

    def encode_documents(self, texts, batch_size: int = 32, progress: bool | str = True
                         ) -> np.ndarray:
        return self._run(contract.DOCUMENT_SIGNATURE, texts, batch_size, progress)


def encode_documents_labelled(encoder, texts, label: str | None) -> np.ndarray:
    """`encoder.encode_documents(texts)`, its progress bar labelled with the
    build stage (None: no bar), for an encoder that draws one.

    Args:
        encoder: anything with `encode_documents(texts)`; one that takes
            `progress` (`SavedModelEncoder`) gets `label` there.
        texts: the passages' embedding texts.
        label: what the stage does ("Encoding passages"), or None.

    Returns:
        `[len(texts), D]` embeddings.
    """
    import inspect

    params = inspect.signature(encoder.encode_documents).parameters.values()
    if any(p.name == "progress" or p.kind is p.VAR_KEYWORD for p in params):
        return encoder.encode_documents(texts, progress=label or False)
    return encoder.encode_documents(texts)
