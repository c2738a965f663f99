"""Exporter: TF Serving layout, atomicity, immutability, fresh-process reload."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import string_model
from conftest import python_env
from lepton_tf.export import (ExportValidationError, VersionExistsError,
                              list_versions, read_warmup_requests)


def test_export_writes_a_version_with_warmup_and_reloads_without_lepton(tmp_path, run_python):
    path = string_model.export(tmp_path)
    assert path == str(tmp_path / "words" / "1")
    assert list_versions(tmp_path, "words") == [1]
    assert not [d for d in os.listdir(tmp_path / "words") if d.startswith(".")]
    logs = read_warmup_requests(path)
    assert len(logs) == 1
    request = logs[0].predict_log.request
    assert request.model_spec.name == "words"
    assert request.model_spec.signature_name == "serving_default"
    assert list(request.inputs["text"].string_val) == [b"hello world", b"one two three"]

    proc = run_python(f"""
import sys, tensorflow as tf, tensorflow_text
m = tf.saved_model.load({path!r})
out = m.signatures["serving_default"](text=tf.constant(["a b c d", "solo"]))
assert not any(k.startswith("lepton_tf") for k in sys.modules)
print("COUNT", out["count"].numpy().tolist())
""")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "COUNT [4, 1]" in proc.stdout


def test_second_export_of_a_version_is_refused(tmp_path):
    string_model.export(tmp_path, version=3)
    with pytest.raises(VersionExistsError, match="immutable.*next free: 4"):
        string_model.export(tmp_path, version=3, validate=False)
    assert string_model.export(tmp_path, validate=False).endswith(os.sep + "4")


def test_failed_validation_leaves_nothing(tmp_path):
    wrong = {"serving_default": {"count": np.array([2, 4]), "scores": np.zeros((2, 2))}}
    with pytest.raises(ExportValidationError, match="count"):
        string_model.export(tmp_path, expected=wrong)
    assert os.listdir(tmp_path / "words") == []


def test_killed_export_leaves_no_version_and_is_swept(tmp_path):
    proc = subprocess.Popen([sys.executable, string_model.__file__, str(tmp_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env=python_env())
    root = tmp_path / "words"
    deadline = time.time() + 120
    # The fresh-process validation takes seconds: kill while the temp exists.
    while time.time() < deadline and proc.poll() is None:
        if root.is_dir() and any(d.startswith(".tmp-export-") for d in os.listdir(root)):
            time.sleep(0.5)
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    leftovers = os.listdir(root)
    assert not [d for d in leftovers if d.isdigit()], leftovers
    assert [d for d in leftovers if d.startswith(".tmp-export-")], "kill came too late"
    path = string_model.export(tmp_path, validate=False)
    assert os.listdir(root) == ["1"] and path.endswith("1")
