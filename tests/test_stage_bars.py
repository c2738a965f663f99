"""Indexing a folder shows one progress bar per stage, each labelled with what it does.

Before, the passages' encoding and self-tuning's re-encoding of the cut
passages drew two bars both labelled with the encoder signature
(`encode_document (N texts)`), and a build asked for no progress still drew them.
"""

import numpy as np

from corpus_files import CountingEncoder, make_corpus
from lepton_tf.index.encoding import encode_documents_labelled
from lepton_tf.index.folder_build import build_folder_index


class LabelRecordingEncoder(CountingEncoder):
    def __init__(self):
        super().__init__()
        self.labels = []

    def encode_documents(self, texts, progress=True, **_):
        self.labels.append(progress)
        return super().encode_documents(texts)


def test_each_encoding_stage_has_its_own_label(tmp_path):
    corpus = make_corpus(tmp_path / "docs")
    encoder = LabelRecordingEncoder()
    build_folder_index(str(corpus), str(tmp_path / "index"), encoder, progress=True,
                       log=lambda *_: None)
    assert encoder.labels[0] == "Encoding passages"
    assert encoder.labels[1:] and set(encoder.labels[1:]) == {
        "Self-tuning: encoding cut passages"}


def test_a_build_without_progress_draws_no_encoder_bar(tmp_path):
    corpus = make_corpus(tmp_path / "docs")
    encoder = LabelRecordingEncoder()
    build_folder_index(str(corpus), str(tmp_path / "index"), encoder, progress=False,
                       log=lambda *_: None)
    assert encoder.labels and not any(encoder.labels)


def test_an_encoder_without_a_progress_argument_still_encodes():
    class Plain:
        def encode_documents(self, texts):
            return np.ones((len(texts), 2), np.float32)

    assert encode_documents_labelled(Plain(), ["a", "b"], "Encoding passages").shape == (2, 2)
