"""`PreparedTurnStatements`: a turn's read and write on PostgreSQL, each one
round trip of a server-side prepared statement.

A turn does two things with the store: it reads its session (has another
replica answered since?) and it writes the turn log row with the session's
new state. Through SQLAlchemy's execution layer each cost about 0.3 ms of
Python (checkout events, parameter and result processing) on top of the
round trip, paid on the thread that answers the turn. Here the same
statements, compiled once from the shared table definitions by
SQLAlchemy's PostgreSQL dialect, run straight on psycopg connections:

- connections come from a SQLAlchemy pool of their own, in autocommit
  (a turn's write is one statement, atomic by itself: no BEGIN/COMMIT round
  trips), with no ping on checkout and no rollback on return (a connection
  never holds an open transaction);
- each statement is prepared on a connection the first time it runs there
  (`prepare=True`), so later turns send only Bind/Execute; behind PgBouncer in
  transaction mode (`prepared=False`) nothing is prepared, each statement is
  parsed where it lands;
- a connection that broke (a restarted server) is dropped from the pool, so
  the writer's retry gets a fresh one.
"""

from __future__ import annotations

import sqlalchemy as sa
from psycopg.types.json import Json

POOL_SIZE = 8
MAX_OVERFLOW = 8


class PreparedTurnStatements:
    """Runs compiled statements on autocommit psycopg connections.

    Args:
        engine: the store's engine (its URL and connect arguments are reused; its
            own pool stays for everything else: migrations, feedback, reports).
        json_params: the names of parameters that hold JSON values.
        connect_args: passed to psycopg's connect (timeouts).
        prepared: prepare each statement on each connection (False: never).
    """

    def __init__(self, engine: sa.Engine, json_params: frozenset, connect_args: dict,
                 prepared: bool = True):
        self.engine = sa.create_engine(
            engine.url, isolation_level="AUTOCOMMIT", pool_size=POOL_SIZE,
            max_overflow=MAX_OVERFLOW, pool_reset_on_return=None,
            connect_args=connect_args)
        self.json_params = json_params
        self.prepare = True if prepared else None  # None: psycopg's threshold (off)
        # Connect now: the first connection runs the dialect's setup queries, a cost
        # for the start, not for the first turn.
        self.engine.raw_connection().close()

    def compile(self, statement: sa.Executable) -> str:
        """The SQL text of `statement` for psycopg (`%(name)s` parameters)."""
        return str(statement.compile(dialect=self.engine.dialect))

    def _params(self, params: dict) -> dict:
        return {name: Json(value) if name in self.json_params else value
                for name, value in params.items()}

    def run(self, sql: str, params: dict, fetch: bool = False) -> tuple | None:
        """Executes `sql` (prepared unless turned off) and returns its first row if `fetch`.

        Raises:
            psycopg.Error: the database failed (the connection is discarded if broken).
        """
        proxied = self.engine.raw_connection()
        connection = proxied.driver_connection
        try:
            cursor = connection.execute(sql, self._params(params), prepare=self.prepare)
            return cursor.fetchone() if fetch else None
        except Exception:
            if connection.broken or connection.closed:
                proxied.invalidate()
            raise
        finally:
            proxied.close()  # back to the pool (a no-op after invalidate)

    def dispose(self) -> None:
        self.engine.dispose()
