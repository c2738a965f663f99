"""`lepton-tf main`'s encoder recipe: zero-shot by default, fine-tuning on request."""

import pytest

from lepton_tf.cli import build_parser
from lepton_tf.commands import main_job


def test_the_main_job_exports_zero_shot_minilm_by_default():
    assert build_parser().parse_args(["main"]).encoder == "zero-shot"
    assert build_parser().parse_args(["main", "--encoder", "fine-tuned"]).encoder == "fine-tuned"


@pytest.fixture
def recorded(monkeypatch):
    """What `ensure_encoder` asked for: an export of MiniLM, or a training run."""
    from lepton_tf.export import encoder_servable
    from lepton_tf.models import sentence_encoder
    from lepton_tf.tasks import registry

    calls = []
    monkeypatch.setattr(sentence_encoder.SentenceEncoder, "from_minilm",
                        classmethod(lambda cls: calls.append("minilm") or None))
    import lepton_tf.models.retrieval as retrieval
    monkeypatch.setattr(retrieval, "DualEncoder", lambda encoder: ("dual", encoder))
    monkeypatch.setattr(encoder_servable, "export_encoder",
                        lambda model, base_dir, version=None:
                        calls.append("export") or f"{base_dir}/encoder/1")
    monkeypatch.setattr(registry, "train",
                        lambda name, base_dir, export: calls.append(f"train {name}")
                        or f"{base_dir}/{name}/1")
    return calls


def test_a_missing_encoder_is_exported_without_training(tmp_path, recorded):
    assert main_job.ensure_encoder(str(tmp_path)) == f"{tmp_path}/encoder/1"
    assert recorded == ["minilm", "export"]


def test_fine_tuned_trains_the_encoder_task(tmp_path, recorded):
    assert main_job.ensure_encoder(str(tmp_path), recipe="fine-tuned") == f"{tmp_path}/encoder/1"
    assert recorded == ["train encoder"]
