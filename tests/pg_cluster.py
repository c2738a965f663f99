"""A throwaway PostgreSQL cluster for tests: `initdb` into a temporary folder,
`pg_ctl start` on a free port bound to 127.0.0.1, one database, trust auth for
the local user; stopped and removed afterwards. Needs the Debian package
`postgresql` (its binaries under /usr/lib/postgresql/N/bin); `missing()` says
why a test must skip. As root the cluster runs as the `postgres` user (the
server refuses to run as root)."""

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time

import pytest
from conftest import free_port


def _binary(name: str) -> str | None:
    found = shutil.which(name) or sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found if isinstance(found, str) else (found[-1] if found else None)


def _runas() -> list[str]:
    if os.geteuid() != 0:
        return []
    return ["runuser", "-u", "postgres", "--"]


def missing() -> str | None:
    """Why no cluster can be started here (None: it can)."""
    for name in ("initdb", "pg_ctl"):
        if _binary(name) is None:
            return f"PostgreSQL's {name} is not installed (Debian package `postgresql`)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no `postgres` user to run the cluster as"
    return None


class Cluster:
    """Args:
        fsync: flush every commit to disk as a deployment does (tests run without:
            only a crash of the machine, not of a process, could lose a commit).
    """

    def __init__(self, fsync: bool = False):
        self.fsync = fsync
        self.folder = tempfile.mkdtemp(prefix="lepton-pg-")
        self.data = os.path.join(self.folder, "data")
        self.port = free_port()
        if os.geteuid() == 0:
            entry = pwd.getpwnam("postgres")
            os.chown(self.folder, entry.pw_uid, entry.pw_gid)
        subprocess.run(_runas() + [_binary("initdb"), "-D", self.data, "-A", "trust",
                                   "-U", "lepton", "--no-sync"],
                       check=True, capture_output=True)
        self.url = f"postgresql://lepton@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        subprocess.run(_runas() + [
            _binary("pg_ctl"), "-D", self.data, "-l", os.path.join(self.folder, "log"), "-w",
            "-o", f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 "
                  f"-c fsync={'on' if self.fsync else 'off'} -c max_connections=50", "start"],
            check=True, capture_output=True)

    def stop(self, mode: str = "fast") -> None:
        subprocess.run(_runas() + [_binary("pg_ctl"), "-D", self.data, "-m", mode, "-w",
                                   "stop"], capture_output=True)

    def remove(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.folder, ignore_errors=True)


@contextlib.contextmanager
def temporary_cluster(fsync: bool = False):
    """Yields a started `Cluster` (its `.url` for the store)."""
    cluster = Cluster(fsync)
    try:
        cluster.start()
        deadline = time.monotonic() + 20
        while True:  # -w waits for the socket; a first connection may still race it
            try:
                import psycopg

                psycopg.connect(f"host=127.0.0.1 port={cluster.port} user=lepton "
                                "dbname=postgres", connect_timeout=2).close()
                break
            except Exception:  # noqa: BLE001
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        yield cluster
    finally:
        cluster.remove()


@pytest.fixture(scope="module")
def postgres():
    """A cluster shared by one test module (skips where PostgreSQL is missing); import
    it into the module to use it."""
    why = missing()
    if why:
        pytest.skip(why)
    with temporary_cluster() as cluster:
        yield cluster
