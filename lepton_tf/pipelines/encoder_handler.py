"""Beam RunInference over the exported `encoder` SavedModel."""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np
from apache_beam.ml.inference.base import ModelHandler, PredictionResult

from lepton_tf.index.documents import Document


class EncoderModelHandler(ModelHandler):
    """Embeds `(position, Document)` elements (position: any sortable key)
    with the `encode_document` signature (`SavedModelEncoder.encode_documents`).

    Beam's `RunInference` calls `load_model` once per worker process (the
    SavedModel is shared by the threads of that process) and hands
    `run_inference` batches of `min_batch_size`..`max_batch_size` elements
    (Beam's `BatchElements` sizes them to the measured throughput).
    `PredictionResult.inference` is the float32 `[D]` unit embedding.

    Args:
        encoder_path: encoder version folder (resolved by the launcher, so
            every worker loads the same version).
        min_batch_size / max_batch_size: batch bounds given to BatchElements.
    """

    def __init__(self, encoder_path: str, min_batch_size: int = 8, max_batch_size: int = 64):
        super().__init__(min_batch_size=min_batch_size, max_batch_size=max_batch_size)
        self.encoder_path = encoder_path

    def load_model(self):
        from lepton_tf.index.encoding import SavedModelEncoder

        return SavedModelEncoder(self.encoder_path)

    def run_inference(self, batch: Sequence[tuple[int, Document]], model,
                      inference_args=None) -> Iterable[PredictionResult]:
        texts = [doc.embedding_text() for _, doc in batch]
        vectors = model.encode_documents(texts, batch_size=max(1, len(texts)), progress=False)
        if not np.all(np.isfinite(vectors)):
            bad = [doc.doc_id for (_, doc), v in zip(batch, vectors) if not np.isfinite(v).all()]
            raise ValueError(f"The encoder gave NaN or infinity for {bad[:5]}.")
        return [PredictionResult(example, vector) for example, vector in zip(batch, vectors)]

    def get_num_bytes(self, batch) -> int:
        return sum(len(doc.text.encode()) + len(doc.title.encode()) for _, doc in batch)

    def get_metrics_namespace(self) -> str:
        return "lepton_tf_encoder"
