"""Trainer: multi-worker parity, exact resume after SIGKILL, config checks."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import free_port, python_env

TINY = os.path.join(os.path.dirname(__file__), "tiny_task.py")


def _launch(out_dir, *args, env=None):
    return subprocess.Popen([sys.executable, TINY, str(out_dir), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env=env or python_env())


def _weights(out_dir):
    with np.load(os.path.join(out_dir, "weights.npz")) as f:
        return [f[k] for k in sorted(f.files, key=lambda k: int(k.split("_")[1]))]


def _finish(proc, timeout=240):
    out, _ = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, out[-3000:]
    return out


def test_two_workers_finish_with_identical_weights(tmp_path):
    ports = [free_port(), free_port()]
    procs = []
    for index in range(2):
        tf_config = {"cluster": {"worker": [f"localhost:{p}" for p in ports]},
                     "task": {"type": "worker", "index": index}}
        env = python_env(TF_CONFIG=json.dumps(tf_config))
        procs.append(_launch(tmp_path / f"w{index}", "--strategy", "multi_worker",
                             "--epochs", "2", env=env))
    outs = [_finish(p) for p in procs]
    assert all("STEP 20" in o for o in outs), outs
    w0, w1 = _weights(tmp_path / "w0"), _weights(tmp_path / "w1")
    for a, b in zip(w0, w1):
        np.testing.assert_array_equal(a, b)
    # Only the chief writes checkpoints into the run folder.
    assert (tmp_path / "w0" / "checkpoints").is_dir()
    assert not (tmp_path / "w1" / "checkpoints").exists()
    # And training did something: the weights moved from their init.
    assert float(np.abs(w0[0]).sum()) > 0


def test_sigkill_mid_epoch_resumes_to_the_same_weights(tmp_path):
    reference = tmp_path / "reference"
    _finish(_launch(reference))

    run = tmp_path / "killed"
    proc = _launch(run, "--sleep-per-step", "0.25")
    # 10 steps an epoch, a backup every 3 steps: wait for the step-15 backup
    # (mid-epoch 2) and kill the process with no chance to clean up.
    target = run / "backup" / "ckpt-15.index"
    deadline = time.time() + 180
    while not target.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.1)
    assert target.exists(), "no mid-epoch backup appeared"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (run / "weights.npz").exists()

    out = _finish(_launch(run))
    assert "STEP 30" in out
    for a, b in zip(_weights(reference), _weights(run)):
        np.testing.assert_array_equal(a, b)
    # The backup is dropped once training finished, as Keras does.
    assert not (run / "backup").exists()


def test_config_rejects_unknown_keys_and_bad_values(tmp_path):
    from lepton_tf.training import TrainConfig, load_config

    path = tmp_path / "c.yaml"
    path.write_text("epochs: 2\nlearnin_rate: 0.1\n")
    with pytest.raises(ValueError, match="learnin_rate"):
        load_config(path)
    with pytest.raises(ValueError, match="strategy"):
        TrainConfig(strategy="horovod")
    path.write_text("epochs: 2\nseed: 3\nmodel: {width: 8}\n")
    config = load_config(path, batch_size=4)
    assert (config.epochs, config.seed, config.batch_size) == (2, 3, 4)
    assert config.model == {"width": 8}


def test_multi_worker_without_tf_config_says_what_to_set(monkeypatch):
    from lepton_tf.training import make_strategy

    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match="TF_CONFIG"):
        make_strategy("multi_worker")


def test_stream_is_a_function_of_the_seed():
    import tensorflow as tf
    from lepton_tf.data.stream import epoch_shuffled_stream

    x = np.arange(10)
    ds = epoch_shuffled_stream(x, batch_size=5, seed=1)
    first = [b.numpy().tolist() for b in ds.take(6)]
    again = [b.numpy().tolist() for b in ds.take(6)]
    assert first == again  # a second iterator reads the same stream
    epochs = [sorted(sum(first[i:i + 2], [])) for i in (0, 2, 4)]
    assert all(e == list(range(10)) for e in epochs)  # each epoch is a permutation
    assert first[:2] != first[2:4]  # and epochs differ in order
    assert [b.numpy().tolist() for b in ds.skip(3).take(3)] == first[3:]
    other = [b.numpy().tolist() for b in epoch_shuffled_stream(x, batch_size=5, seed=2).take(6)]
    assert other != first
    with pytest.raises(ValueError, match="same number of rows"):
        epoch_shuffled_stream((np.zeros(3), np.zeros(4)), batch_size=1, seed=0)
    del tf
