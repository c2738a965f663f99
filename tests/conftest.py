import os
import socket
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, "tests"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def python_env(**extra) -> dict:
    """Environment for a child Python process that can import this repo."""
    env = dict(os.environ)
    env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    env.update(extra)
    return {k: v for k, v in env.items() if v is not None}  # None: unset it


@pytest.fixture
def run_python():
    """Runs a Python snippet in a fresh process; returns CompletedProcess."""
    def run(code: str, timeout: float = 300, **env):
        return subprocess.run([sys.executable, "-c", code], capture_output=True,
                              text=True, timeout=timeout, env=python_env(**env))
    return run
