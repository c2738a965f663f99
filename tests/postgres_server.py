"""A throwaway PostgreSQL server for tests (Debian's `postgresql` package).

`start_postgres()` runs initdb and pg_ctl in a temporary folder on a free port on
127.0.0.1 (as the `postgres` user when the tests run as root, since the server
refuses root), and returns `(url, stop)`. Where PostgreSQL is not installed it
raises `Unavailable` with the reason, which the tests turn into a skip.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile


class Unavailable(RuntimeError):
    """No PostgreSQL server can be started here (the message says why)."""


def _binary(name: str) -> str:
    found = shutil.which(name) or next(iter(sorted(
        glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None)
    if not found:
        raise Unavailable(f"{name} not found: install Debian's postgresql package "
                          "(.ci/run does, as root)")
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_postgres(timeout_s: float = 60.0):
    """`(url, stop)` of a fresh server; `stop()` shuts it down and removes its files.

    Raises:
        Unavailable: PostgreSQL is not installed, or it would not start.
    """
    initdb, pg_ctl = _binary("initdb"), _binary("pg_ctl")
    folder = tempfile.mkdtemp(prefix="lepton-pg-")
    prefix = []
    if os.geteuid() == 0:
        try:
            import pwd

            user = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(folder, ignore_errors=True)
            raise Unavailable("running as root and there is no postgres user") from None
        os.chown(folder, user.pw_uid, user.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    data, port = os.path.join(folder, "data"), _free_port()
    try:
        subprocess.run(prefix + [initdb, "-D", data, "-A", "trust", "-U", "postgres",
                                 "--no-sync", "-E", "UTF8"],
                       check=True, capture_output=True, timeout=timeout_s)
        subprocess.run(prefix + [pg_ctl, "-D", data, "-w", "-t", str(int(timeout_s)), "-l",
                                 os.path.join(folder, "log"), "-o",
                                 f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 "
                                 "-c fsync=off", "start"],
                       check=True, capture_output=True, timeout=timeout_s + 10)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as e:
        stderr = getattr(e, "stderr", b"") or b""
        shutil.rmtree(folder, ignore_errors=True)
        raise Unavailable(f"PostgreSQL would not start: {e} {stderr.decode(errors='replace')[-300:]}"
                          ) from None

    def stop() -> None:
        subprocess.run(prefix + [pg_ctl, "-D", data, "-m", "immediate", "stop"],
                       capture_output=True, timeout=60)
        shutil.rmtree(folder, ignore_errors=True)
    return f"postgresql://postgres@127.0.0.1:{port}/postgres", stop
