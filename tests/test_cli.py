"""The command line: every flag documented, user errors in one line, quiet logs."""

import argparse
import contextlib
import io
import os
import re
import subprocess
import sys

import pytest

from conftest import REPO, python_env
from lepton_tf.cli import build_parser, main


def _walk(parser, path=()):
    """(command path, parser) of the parser and every sub-command below it."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _walk(sub, path + (name,))


COMMANDS = list(_walk(build_parser()))


def test_walk_finds_the_nested_commands():
    names = {" ".join(path) for path, _ in COMMANDS}
    assert {"main", "train", "serve", "eval intent", "eval search", "vocab"} <= names


@pytest.mark.parametrize("path,parser", COMMANDS, ids=[" ".join(p) or "lepton-tf"
                                                        for p, _ in COMMANDS])
def test_every_flag_has_help_text(path, parser):
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as done:
        build_parser().parse_args(list(path) + ["--help"])
    assert done.value.code == 0 and "usage:" in out.getvalue()
    undocumented = [a.option_strings[0] if a.option_strings else a.dest
                    for a in parser._actions
                    if not isinstance(a, (argparse._HelpAction, argparse._SubParsersAction))
                    and not (a.help and a.help.strip())]
    assert not undocumented, f"lepton-tf {' '.join(path)}: no help text for {undocumented}"


def _one_line_error(argv, capsys) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    return err


def test_eval_intent_without_a_model_says_what_to_do(tmp_path, capsys):
    err = _one_line_error(["eval", "intent", "--model", str(tmp_path / "nothing")], capsys)
    assert "does not exist" in err and "lepton-tf main" in err


def test_eval_intent_on_a_folder_without_versions(tmp_path, capsys):
    (tmp_path / "intent").mkdir()
    err = _one_line_error(["eval", "intent", "--model", str(tmp_path / "intent")], capsys)
    assert "no SavedModel" in err and "version" in err


def test_index_with_a_missing_encoder(tmp_path, capsys):
    err = _one_line_error(["index", "--encoder", str(tmp_path / "enc"),
                           "--out", str(tmp_path / "idx")], capsys)
    assert str(tmp_path / "enc") in err


# A C++ log line of TensorFlow: "2026-12-01 22:59:19.439968: E external/...".
TF_LOG_LINE = re.compile(r"^(\S+ [\d:.]+: [IWEF] |[IWEF]\d{4} )", re.M)
TF_PROBE = ("import sys; from lepton_tf.quiet_logs import quiet_tensorflow;"
            "quiet_tensorflow(verbose={verbose}); import tensorflow as tf;"
            "print(int(tf.reduce_sum(tf.constant([1, 2], tf.int64))));"
            "sys.stderr.write('python stderr ok\\n')")


def test_tensorflow_start_up_lines_hidden_unless_verbose(run_python):
    quiet = run_python(TF_PROBE.format(verbose=False), TF_CPP_MIN_LOG_LEVEL=None)
    assert quiet.returncode == 0 and quiet.stdout.strip() == "3"
    assert not TF_LOG_LINE.search(quiet.stderr), quiet.stderr
    assert "python stderr ok" in quiet.stderr
    loud = run_python(TF_PROBE.format(verbose=True), TF_CPP_MIN_LOG_LEVEL=None)
    assert TF_LOG_LINE.search(loud.stderr), loud.stderr


def test_filter_keeps_other_stderr_lines(run_python):
    code = ("import os, re; from lepton_tf.quiet_logs import filter_stderr;"
            "filter_stderr(re.compile('noise'));"
            "os.write(2, b'keep 1\\nsome noise\\n'); os.write(2, b'keep 2\\n');"
            "raise SystemExit('bye')")
    done = run_python(code)
    assert done.stderr.splitlines() == ["keep 1", "keep 2", "bye"]


def test_a_crash_still_shows_its_last_stderr_lines(run_python):
    """An abort in C++ kills the process, not the lines that explain it."""
    code = ("import os, re, time; from lepton_tf.quiet_logs import filter_stderr;"
            "filter_stderr(re.compile('noise'));"
            "os.write(2, b'some noise\\n'); os.write(2, b'you> '); time.sleep(0.3);"
            "os.write(2, b\"\\nterminate called after throwing an instance of 'std::out_of_range'\\n\""
            "b'  what():  Span::at failed bounds check\\n'); os.abort()")
    done = run_python(code)
    assert done.returncode != 0
    assert done.stderr.splitlines() == [
        "you> ", "terminate called after throwing an instance of 'std::out_of_range'",
        "  what():  Span::at failed bounds check"]


def test_eval_chat_on_a_missing_model(tmp_path, capsys):
    err = _one_line_error(["eval", "chat", "--model", str(tmp_path / "chat"), "--limit", "1"],
                          capsys)
    assert "does not exist" in err


@pytest.mark.parametrize("line,hidden", [
    ("2026-12-01 22:59:19.439968: E external/local_xla/xla/stream_executor/cuda/"
     "cuda_platform.cc:51] failed call to cuInit: INTERNAL: CUDA error", True),
    ("2026-12-01 22:59:27.761752: E tensorflow/core/util/util.cc:131] oneDNN supports "
     "DT_INT64 only on platforms with AVX-512.", True),
    ("2026-12-01 23:23:43.104080: E tensorflow/core/framework/node_def_util.cc:680] NodeDef "
     "mentions attribute use_unbounded_threadpool which is not in the op definition", True),
    ("W0000 00:00:1796170613.128460   32616 loop_optimizer.cc:934] Skipping loop "
     "optimization for Merge node", True),
    ("2026-12-01 23:23:43.104080: E tensorflow/core/kernels/x.cc:1] Out of memory", False),
    ("E0000 00:00:1796170613.128460   32616 saver.cc:9] checkpoint is corrupt", False),
    ("Traceback (most recent call last):", False),
])
def test_only_known_noise_is_filtered(line, hidden):
    from lepton_tf.quiet_logs import HARMLESS

    assert bool(HARMLESS.search(line)) == hidden
