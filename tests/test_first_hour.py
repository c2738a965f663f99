"""The first hour with the command line: instant --help, serve's port check,
progress and ready line, and the ask/chat prompt on a real terminal."""

import json
import os
import pty
import re
import resource
import select
import signal
import socket
import subprocess
import sys
import time

import pytest

from conftest import free_port, python_env

COMMANDS = ["", "ask", "chat", "eval", "eval search", "eval not-found", "index", "main",
            "search", "serve", "train", "export", "vocab"]


def _cli(*args, **env):
    return [sys.executable, "-m", "lepton_tf.cli", *args]


def _best_time(argv, runs=2, **env):
    """The least CPU time (user + system) of `runs` runs of `argv`, and the last run.

    CPU time, not wall time: this machine is shared, and under load a
    process waits for a core longer than it computes; on an idle machine the
    two are close.
    """
    best, done = float("inf"), None
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60,
                              env=python_env(**env))
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        best = min(best, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return best, done


@pytest.mark.parametrize("command", COMMANDS)
def test_help_is_instant_and_imports_no_tensorflow(command):
    argv = command.split() + ["--help"]
    probe = ("import sys; from lepton_tf.cli import _command_in, build_parser\n"
             f"try:\n    build_parser(_command_in({argv!r})).parse_args({argv!r})\n"
             "except SystemExit:\n    pass\n"
             "print('tensorflow' in sys.modules, 'keras' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=60, env=python_env())
    assert done.stdout.strip().splitlines()[-1] == "False False", done.stderr
    took, done = _best_time(_cli(*argv))
    assert done.returncode == 0 and "usage: lepton-tf" in done.stdout, done.stderr
    assert took < 1.0, f"lepton-tf {command} --help took {took:.2f} s of CPU"


@pytest.mark.parametrize("argv", [["search"], ["index", "--k", "many"], ["serve", "--port", "x"],
                                  ["frobnicate"]])
def test_argument_errors_are_instant(argv):
    took, done = _best_time(_cli(*argv), runs=2)
    assert done.returncode == 2 and "error:" in done.stderr
    assert "Traceback" not in done.stderr
    assert took < 1.0, f"lepton-tf {' '.join(argv)} took {took:.2f} s of CPU"


def test_serve_reports_a_port_in_use_at_once_in_one_line(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        start = time.monotonic()
        done = subprocess.run(_cli("serve", "--port", str(port), "--rest_api_port", "0",
                                   "--model_base_path", str(tmp_path / "m")),
                              capture_output=True, text=True, timeout=60, env=python_env())
        took = time.monotonic() - start
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and f"gRPC port 127.0.0.1:{port} is already in use" in lines[0]
    assert "--port N" in lines[0]
    assert took < 2.0, f"port clash reported after {took:.1f} s"


def test_rest_port_in_use_is_named_too():
    from lepton_tf.server.ports import PortInUseError, check_ports_free

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(PortInUseError, match=f"REST port 127.0.0.1:{port} .*--rest_api_port"):
            check_ports_free("127.0.0.1", {"gRPC": 0, "REST": port})
    check_ports_free("127.0.0.1", {"gRPC": port, "REST": 0})  # released: free again


def test_ready_line_names_every_address():
    from lepton_tf.commands.serve_progress import ready_line

    assert ready_line("0.0.0.0", 8500, 8501, page=True) == (
        "lepton-tf serve: ready: gRPC 127.0.0.1:8500, REST http://127.0.0.1:8501, "
        "page http://127.0.0.1:8501/")
    assert ready_line("::1", 1, 2, page=False, tls=True) == (
        "lepton-tf serve: ready: gRPC ::1:1, REST https://[::1]:2")
    assert ready_line("127.0.0.1", 5, None, page=True) == "lepton-tf serve: ready: gRPC 127.0.0.1:5"


def test_serve_prints_progress_then_ready(tmp_path):
    from serving_models import export_half_plus_two

    export_half_plus_two(str(tmp_path / "hpt"), version=3)
    grpc_port, rest_port = free_port(), free_port()
    proc = subprocess.Popen(_cli("serve", "--port", str(grpc_port), "--rest_api_port",
                                 str(rest_port), "--model_base_path", str(tmp_path / "hpt"),
                                 "--model_name", "hpt"),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env=python_env())
    try:
        out = _read_until(proc.stdout.fileno(), b"ready:", 120)
        out += _read_until(proc.stdout.fileno(), b"\n", 5) if not out.endswith(b"\n") else b""
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    text = out.decode()
    lines = text.splitlines()
    assert "lepton-tf serve: loading hpt version 3 ..." in lines, text
    assert any(line.startswith("lepton-tf serve: loaded hpt version 3 (") for line in lines), text
    assert lines[-1] == (f"lepton-tf serve: ready: gRPC 127.0.0.1:{grpc_port}, "
                         f"REST http://127.0.0.1:{rest_port}"), text


def _read_until(fd, wanted: bytes, timeout: float) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout
    while wanted not in seen and time.monotonic() < deadline:
        if select.select([fd], [], [], 0.2)[0]:
            try:
                seen += os.read(fd, 4096)
            except OSError:  # the child closed the terminal
                break
    return seen


@pytest.fixture
def chat_server():
    from fake_servables import FakeChat
    from lepton_tf.server.app import ModelServer, ServerOptions

    srv = ModelServer(ServerOptions(port=0, rest_api_port=0),
                      python_servables={"chat": FakeChat()}).start()
    yield f"127.0.0.1:{srv.grpc_port}"
    srv.stop()


def test_chat_prompt_and_line_editing_on_a_terminal(chat_server):
    # As a person runs it: a terminal on stdin/stdout/stderr, and the default
    # stderr filter on (no TF_CPP_MIN_LOG_LEVEL in the environment).
    pid, fd = pty.fork()
    if pid == 0:
        env = python_env(TF_CPP_MIN_LOG_LEVEL=None, TERM="xterm")
        os.execve(sys.executable, _cli("chat", "--target", chat_server), env)
    try:
        seen = _read_until(fd, b"you> ", 60)
        assert b"you> " in seen, seen
        # Type "helo", move left once, insert "l": readline makes it "hello".
        os.write(fd, b"helo\x1b[Dl\r")
        seen = _read_until(fd, b"you said: hello", 30)
        assert b"you said: hello (turn 1)" in seen, seen
        reply_and_after = seen.split(b"you said: hello (turn 1)", 1)[1]
        if b"you> " not in reply_and_after:
            reply_and_after += _read_until(fd, b"you> ", 10)
        assert b"you> " in reply_and_after, seen  # the prompt again, for the next turn
        os.write(fd, b"/quit\r")
    finally:
        if os.waitpid(pid, os.WNOHANG)[0] == 0:  # still running
            os.kill(pid, signal.SIGTERM)
            os.waitpid(pid, 0)
        os.close(fd)


def test_filter_passes_a_prompt_without_its_newline(run_python):
    code = ("import os, re, time; from lepton_tf.quiet_logs import filter_stderr;"
            "filter_stderr(re.compile('noise'));"
            "os.write(2, b'noise 1\\nyou> '); time.sleep(3); os.write(2, b'typed noise\\n');"
            "os.write(2, b'noise 2\\nkept\\n')")
    proc = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE,
                            env=python_env())
    start = time.monotonic()
    first = _read_until(proc.stderr.fileno(), b"you> ", 2.5)
    assert first == b"you> " and time.monotonic() - start < 2.9
    rest = proc.stderr.read()
    proc.wait(timeout=10)
    # the prompt's line is passed whole; the next noise line is dropped
    assert rest == b"typed noise\nkept\n"


def test_search_prints_cosine_and_bm25_not_only_the_fused_score(tmp_path, capsys):
    import numpy as np
    from fake_servables import DOCS, FakeEncoder
    from lepton_tf.cli import build_parser, main
    from lepton_tf.commands.serve import build_server
    from lepton_tf.index import Document, SearchIndex, save_index

    vectors = FakeEncoder().run("encode_query", {"text": np.array([d[2] for d in DOCS], object)})
    docs = [Document(d[0].decode(), d[2].decode(), title=d[1].decode()) for d in DOCS]
    save_index(SearchIndex.build(vectors["embedding"], docs), str(tmp_path / "index"))
    server = build_server(build_parser().parse_args([
        "serve", "--port=0", "--rest_api_port=0", f"--search_index={tmp_path / 'index'}",
        f"--model_base_path={tmp_path / 'none'}", "--file_system_poll_wait_seconds=0"]))
    server.register_python_servable("encoder", FakeEncoder())
    server.start()
    try:
        target = f"127.0.0.1:{server.grpc_port}"
        assert main(["search", "forgot my password", "-k", "2", "--target", target]) == 0
        out = capsys.readouterr().out.splitlines()
        assert out[0].startswith("ranked by the fused score; cosine:")
        scores = re.match(r" 1\. cosine (-?\d\.\d\d)  BM25 +(\d+\.\d\d)  d1 Reset a password - ",
                          out[1])
        assert scores and float(scores[1]) > 0.9 and float(scores[2]) > 0, out  # "password"
        # An off-topic query: its top hit no longer reads as a perfect 1.000.
        assert main(["search", "weather in Paris", "-k", "1", "--target", target]) == 0
        line = capsys.readouterr().out.splitlines()[1]
        scores = re.match(r" 1\. cosine (-?\d\.\d\d)  BM25 +(\d+\.\d\d) ", line)
        assert scores and float(scores[1]) < 0.9 and float(scores[2]) == 0, line
    finally:
        server.stop()


def test_index_writes_assistant_texts_for_a_folder_index(tmp_path, monkeypatch, capsys):
    import lepton_tf.index.encoding
    from corpus_files import CountingEncoder, make_corpus
    from lepton_tf.cli import main

    root = make_corpus(tmp_path / "docs")
    (root / "broken.pdf").unlink()
    # The encoder SavedModel is the one heavy part: a bag-of-words stand-in.
    monkeypatch.setattr(lepton_tf.index.encoding, "SavedModelEncoder",
                        lambda path: CountingEncoder())
    out = tmp_path / "indexes" / "docs"
    assert main(["index", "--corpus", str(root), "--out", str(out), "--dense-weight", "0.5"]) == 0
    config = json.loads((out / "assistant.json").read_text())
    assert config["name"] == "docs"
    assert f"assistant texts: {out / 'assistant.json'}" in capsys.readouterr().out
