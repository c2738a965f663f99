"""The conversation store behind a real PgBouncer (Debian's, 1.18) in transaction
mode in front of a throwaway PostgreSQL: a server connection serves whichever
client has a transaction, so statements prepared by one client are unknown, or
already taken, for the next. With `?prepared_statements=off` two stores (two
replicas) take turns on one conversation through it; with the default they
trip over each other's prepared statements. Skips where PgBouncer is missing."""

import os
import pathlib
import pwd
import shutil
import subprocess
import tempfile
import time

import psycopg
import pytest
from conftest import free_port
from pg_cluster import postgres  # noqa: F401 - a fixture

from lepton_tf.store import ConversationStore, TurnRecord, new_turn_id

PGBOUNCER = shutil.which("pgbouncer") or ("/usr/sbin/pgbouncer"
                                          if os.path.exists("/usr/sbin/pgbouncer") else None)


@pytest.fixture(scope="module")
def bouncer(postgres):
    """A PgBouncer in transaction mode in front of the cluster; yields its URL."""
    if PGBOUNCER is None:
        pytest.skip("PgBouncer is not installed (Debian package `pgbouncer`)")
    # Not under pytest's folder: as root, PgBouncer runs as `postgres`, which must read it.
    folder = pathlib.Path(tempfile.mkdtemp(prefix="lepton-pgbouncer-"))
    port = free_port()
    (folder / "users.txt").write_text('"lepton" ""\n')
    (folder / "pgbouncer.ini").write_text(f"""[databases]
postgres = host=127.0.0.1 port={postgres.port} dbname=postgres user=lepton
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {folder}/users.txt
pool_mode = transaction
default_pool_size = 2
max_client_conn = 100
logfile = {folder}/pgbouncer.log
pidfile = {folder}/pgbouncer.pid
""")
    runas = []
    if os.geteuid() == 0:  # PgBouncer refuses to run as root
        entry = pwd.getpwnam("postgres")
        for path in (folder, *folder.iterdir()):
            os.chown(path, entry.pw_uid, entry.pw_gid)
        runas = ["runuser", "-u", "postgres", "--"]
    process = subprocess.Popen(runas + [PGBOUNCER, str(folder / "pgbouncer.ini")],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"postgresql://lepton@127.0.0.1:{port}/postgres"
    deadline = time.monotonic() + 20
    while True:
        try:
            psycopg.connect(url, connect_timeout=2).close()
            break
        except psycopg.OperationalError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                pytest.fail("PgBouncer did not start: " + process.communicate()[0][-2000:])
            time.sleep(0.2)
    yield url
    process.terminate()
    process.wait(timeout=10)
    shutil.rmtree(folder, ignore_errors=True)


def _alternate_turns(url: str, session: str, rounds: int) -> tuple[list[str], list[str]]:
    """Two stores (two replicas' pools) take turns on one session: each reads the
    session and writes its turn. Returns (turn ids written, errors)."""
    replicas = [ConversationStore.open(url) for _ in range(2)]
    written, errors = [], []
    mark = None
    try:
        for number in range(1, rounds + 1):
            store = replicas[number % 2]
            record = TurnRecord(new_turn_id(), session, f"message {number}", "chat",
                                reply="ok")
            try:
                stored = store.session_if_changed(session, mark)
                if (stored[1] if stored else 0) != number - 1:
                    errors.append(f"turn {number} read {stored}: the last turn is missing")
                store.write_turn(record, {"n": number}, number)
                written.append(record.turn_id)
                mark = None  # the other replica reads the whole state
            except psycopg.Error as e:
                errors.append(str(e).splitlines()[0])
    finally:
        for store in replicas:
            store.close()
    return written, errors


def test_prepared_statements_off_works_behind_pgbouncer_in_transaction_mode(bouncer, postgres):
    written, errors = _alternate_turns(bouncer + "?prepared_statements=off", "off", 12)
    assert errors == [] and len(written) == 12
    with psycopg.connect(postgres.url) as direct:
        logged = {r[0] for r in direct.execute(
            "SELECT turn_id FROM turns WHERE session_id = 'off'")}
        state, turns = direct.execute(
            "SELECT state, turns FROM sessions WHERE session_id = 'off'").fetchone()
    assert logged == set(written) and turns == 12 and state == {"n": 12}


def test_prepared_statements_on_trip_over_each_other_behind_it(bouncer):
    """Why the switch exists: the default prepares on whichever server connection a
    transaction lands on, and PgBouncer 1.18 does not carry them over."""
    _, errors = _alternate_turns(bouncer, "on", 12)
    assert any("prepared statement" in e for e in errors), errors
