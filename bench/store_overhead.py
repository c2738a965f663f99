"""What the conversation store adds to a turn: p50/p95 per turn with the store off,
on SQLite and on PostgreSQL, and whether every answered turn is in the log.

    python bench/store_overhead.py --turns 400 --out runs/store_overhead.json

Five servers run in this process at once (the test suite's conversation fakes
as models, so a turn costs a few ms and the store's share shows), each with
the assistant and, with a store, the audit trail kept in it: store off
(memory), SQLite (a WAL file), PostgreSQL (a throwaway cluster started with
initdb/pg_ctl; left out when PostgreSQL is not installed), and `*_before`:
the turn path before a turn carried its audit record, on another file and
another database of the same cluster (the record in a transaction of its
own: on PostgreSQL five round trips a turn instead of two). Turns go to all
in turn, in shuffled order, so machine noise falls on all alike; each turn
is a gRPC Predict call timed at the client.
`--fsync` runs the cluster flushing every commit to disk, as a deployment
does (the tests' clusters run without). The
turns rotate over 20 sessions and a script of searches, follow-ups, small talk
and a booking request, so the session read and the turn write both happen.

Beside them, once a turn, a bare round trip to the cluster (`SELECT 1`,
prepared, on a connection of this process): the floor of each PostgreSQL
round trip at the machine's load; and the database's own time for the new
path's read and write (`log_min_duration_statement = 0` on its database),
beside the store's time around each as the turn's thread sees it.

Two measures: the difference of the per-turn percentiles (on vs off; on a
loaded machine the noise of two distributions), and the store's own time in
each turn, timed around the session read and the turn write with its audit
record (`StoredSessions.refresh` + `log_turn`, the only store work in a turn).
"""

from __future__ import annotations

import dataclasses
import os
import random
import subprocess
import sys
import tempfile
import time

import bench_cli

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [os.path.join(REPO, "tests"), REPO]  # tests/conftest.py, not the root one

import numpy as np  # noqa: E402

SCRIPT = ["How do I delete my Facebook account?", "what about the second one?",
          "Hi there!", "Create Gmail filters", "and on my phone?",
          "How to turn off YouTube autoplay?", "the first one",
          "Book a table for two at an Italian place tonight", "Thanks!"]


def percentiles(ms: list[float]) -> dict:
    a = np.asarray(ms)
    return {"p50": round(float(np.percentile(a, 50)), 3),
            "p95": round(float(np.percentile(a, 95)), 3), "n": len(ms)}


def server_side(cluster) -> dict:
    """The turn's read and write as PostgreSQL timed them (execution only, no waits
    on the client's side), from the cluster's log."""
    import re

    with open(os.path.join(cluster.folder, "log"), encoding="utf-8", errors="replace") as f:
        found = re.findall(r"duration: ([\d.]+) ms\s+execute [^:]+: (SELECT sessions|WITH)",
                           f.read())
    return {name: percentiles([float(ms) for ms, text in found if text.startswith(prefix)])
            for name, prefix in (("read", "SELECT"), ("write", "WITH")) if found}


def main() -> int:
    p = bench_cli.parser(__doc__)
    p.add_argument("--turns", type=int, default=400, help="turns per configuration")
    p.add_argument("--sessions", type=int, default=20)
    p.add_argument("--fsync", action="store_true",
                   help="PostgreSQL flushes every commit to disk (default: fsync=off)")
    p.add_argument("--out", help="write the figures as JSON here")
    args = p.parse_args()

    import contextlib

    import pg_cluster
    from stored_conversation import start

    from lepton_tf.client.assistant import AssistantClient
    import sqlalchemy as sa

    from lepton_tf.store import ConversationStore, schema, sqlite_url
    from lepton_tf.store.records import audit_row

    from lepton_tf.assistant.stored_sessions import StoredSessions

    class SeparateAuditWrite(ConversationStore):
        """The turn path before a turn carried its audit record: the record went in a
        transaction of its own through SQLAlchemy (BEGIN, INSERT, COMMIT: three round
        trips on PostgreSQL, a second commit on SQLite), then the turn's write."""

        def write_turn(self, record, state, turn_number):
            if record.audit is not None:
                with self.engine.begin() as connection:
                    connection.execute(schema.audit.insert().values(**audit_row(record.audit)))
                record = dataclasses.replace(record, audit=None)
            super().write_turn(record, state, turn_number)

    baseline_urls: set = set()
    plain_open = ConversationStore.open.__func__
    ConversationStore.open = classmethod(lambda cls, url, migrate=True: plain_open(
        SeparateAuditWrite if url in baseline_urls else cls, url, migrate))

    in_turn: dict = {}  # store -> per-turn seconds of read + write

    def timed(method):
        def run(self, session, *rest):
            start_s = time.perf_counter()
            try:
                return method(self, session, *rest)
            finally:
                spent = in_turn.setdefault(self.store.description, {})
                spent[session.session_id, session.turn_count, method.__name__] = \
                    time.perf_counter() - start_s
        return run
    StoredSessions.refresh = timed(StoredSessions.refresh)
    StoredSessions.log_turn = timed(StoredSessions.log_turn)

    folder = tempfile.mkdtemp(prefix="store-bench-")
    with contextlib.ExitStack() as stack:
        urls = {"off": None, "sqlite": sqlite_url(os.path.join(folder, "c.sqlite")),
                "sqlite_before": sqlite_url(os.path.join(folder, "before.sqlite"))}
        baseline_urls.add(urls["sqlite_before"])
        why = pg_cluster.missing()
        if why is None:
            cluster = stack.enter_context(pg_cluster.temporary_cluster(fsync=args.fsync))
            urls["postgresql"] = cluster.url
            import psycopg

            with psycopg.connect(cluster.url, autocommit=True) as connection:
                connection.execute("CREATE DATABASE before")
                # The database's own time per statement (new path only), in its log.
                connection.execute("ALTER DATABASE postgres SET log_min_duration_statement = 0")
            urls["postgresql_before"] = cluster.url.rsplit("/", 1)[0] + "/before"
            baseline_urls.add(urls["postgresql_before"])
        else:
            print(f"PostgreSQL left out: {why}")
        servers = {name: start(url) for name, url in urls.items()}
        for server in servers.values():
            stack.callback(server.stop, 0)
        clients = {name: [AssistantClient(f"127.0.0.1:{s.grpc_port}",
                                          session_id=f"bench-{i}", timeout_s=30)
                          for i in range(args.sessions)] for name, s in servers.items()}
        timings = {name: [] for name in servers}
        round_trips: list = []
        bare = None
        if "postgresql" in urls:
            bare = psycopg.connect(urls["postgresql"], autocommit=True)
            stack.callback(bare.close)
        answered = {name: [] for name in servers}
        rng = random.Random(0)
        load_at_start = round(os.getloadavg()[0], 2)
        for warm in range(10):  # first calls build channels and caches
            for name in servers:
                clients[name][0].ask(SCRIPT[warm % len(SCRIPT)])
        for turn in range(args.turns):
            message = SCRIPT[turn % len(SCRIPT)]
            session = (turn // len(SCRIPT)) % args.sessions
            order = list(servers)
            rng.shuffle(order)
            for name in order:
                start_s = time.perf_counter()
                answer = clients[name][session].ask(message)
                timings[name].append((time.perf_counter() - start_s) * 1e3)
                answered[name].append(answer["turn_id"])
            if bare is not None:  # the floor: one round trip that does nothing
                start_s = time.perf_counter()
                bare.execute("SELECT 1", prepare=True).fetchone()
                round_trips.append((time.perf_counter() - start_s) * 1e3)
        commit = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True).stdout.strip()
        report = {"commit": commit, "turns": args.turns, "loadavg_1m": [load_at_start, round(os.getloadavg()[0], 2)],
                  "postgresql_fsync": args.fsync, "cpus": os.cpu_count(),
                  "per_turn_ms": {n: percentiles(t) for n, t in timings.items()}}
        if round_trips:
            report["postgresql_bare_round_trip_ms"] = percentiles(round_trips)
            report["postgresql_server_side_ms"] = server_side(cluster)
        base = report["per_turn_ms"]["off"]
        for name, url in urls.items():
            if url is None:
                continue
            figures = report["per_turn_ms"][name]
            figures["p95_overhead_ms"] = round(figures["p95"] - base["p95"], 3)
            figures["p50_overhead_ms"] = round(figures["p50"] - base["p50"], 3)
            store = ConversationStore.open(url)
            logged = {t["turn_id"] for t in store.turns()}
            figures["lost_turns"] = sum(t not in logged for t in answered[name])
            with store.engine.connect() as connection:
                audited = set(connection.execute(sa.select(schema.audit.c.turn_id)).scalars())
            figures["turns_without_audit_record"] = sum(t not in audited
                                                        for t in answered[name])
            description = store.description
            store.close()
            registry = servers[name].metrics.registry
            spent = {}
            for (session, count, what), seconds in in_turn[description].items():
                # refresh runs before the count moves on: pair it with the turn it serves
                key = (session, count + 1 if what == "refresh" else count)
                spent[key] = spent.get(key, 0.0) + seconds * 1e3
            figures["store_ms_in_turn"] = percentiles(list(spent.values()))
            for what in ("refresh", "log_turn"):
                figures[f"store_ms_{what}"] = percentiles(
                    [1e3 * t for (_, _, w), t in in_turn[description].items() if w == what])
            figures["write_ms_mean"] = round(
                1e3 * registry.get_sample_value(":lepton:store:write_seconds_sum")
                / registry.get_sample_value(":lepton:store:write_seconds_count"), 3)
    bench_cli.write_report(report, args.out, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
