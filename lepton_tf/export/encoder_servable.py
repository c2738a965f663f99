"""The `encoder` servable: raw text in, L2-normalised embeddings out."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from lepton_tf.contracts import encoder as contract
from lepton_tf.export.input_checks import check_string_batch
from lepton_tf.models.retrieval import DualEncoder
from lepton_tf.text import MiniLMTokenizer

SAMPLE_TEXTS = np.array([b"How do I delete my Facebook account?",
                         "Où est le café? S\u00e3o Paulo".encode()])


class EncoderServable(tf.Module):
    """Both towers of a `DualEncoder` behind string-in signatures.

    Signatures: `encode_query` and `encode_document` take `text` (string
    `[B]`, B >= 1, checked in the graph: `input_checks`)
    and return `embedding` (float32 `[B, D]`, unit length);
    `serving_default` is `encode_query`. Tokenization (MiniLM WordPiece,
    truncation) runs in the graph, so TF Serving needs no Python.

    Args:
        model: the trained `DualEncoder`.
        query_length: token budget of a query, `[CLS]`/`[SEP]` included.
        document_length: token budget of a document (256 as MiniLM).
    """

    def __init__(self, model: DualEncoder, query_length: int = 128,
                 document_length: int = 256):
        super().__init__()
        self.model = model
        self.query_tokenizer = MiniLMTokenizer(sequence_length=query_length)
        self.document_tokenizer = MiniLMTokenizer(sequence_length=document_length)

    # The argument is named as the contract's input tensor (`contract.TEXT`).
    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=contract.TEXT)])
    def encode_query(self, text):
        tokens = self.query_tokenizer(check_string_batch(text, contract.TEXT))
        return {contract.EMBEDDING: self.model.encode_queries(tokens["token_ids"],
                                                              tokens["padding_mask"])}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=contract.TEXT)])
    def encode_document(self, text):
        tokens = self.document_tokenizer(check_string_batch(text, contract.TEXT))
        return {contract.EMBEDDING: self.model.encode_documents(tokens["token_ids"],
                                                                tokens["padding_mask"])}

    def signatures(self) -> dict:
        """`{signature name: concrete function}` to export."""
        return {contract.DEFAULT_SIGNATURE: self.encode_query,
                contract.QUERY_SIGNATURE: self.encode_query,
                contract.DOCUMENT_SIGNATURE: self.encode_document}


def export_encoder(model: DualEncoder, *, base_dir: str = "saved_models",
                   name: str = contract.MODEL, version: int | None = None,
                   query_length: int = 128, document_length: int = 256) -> str:
    """Exports a dual encoder as a validated TF Serving version.

    Returns:
        The version folder written.
    """
    from lepton_tf.export import export_servable

    servable = EncoderServable(model, query_length, document_length)
    examples = {signature: {contract.TEXT: SAMPLE_TEXTS}
                for signature in (contract.QUERY_SIGNATURE, contract.DOCUMENT_SIGNATURE)}
    return export_servable(servable, name=name, signatures=servable.signatures(),
                           examples=examples, base_dir=base_dir, version=version, atol=1e-4)
