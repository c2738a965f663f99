"""`ConversationStore`: sessions, the turn log and feedback in one SQL database.

One interface, two databases, through SQLAlchemy Core 2.x: SQLite (Python's
own `sqlite3` driver) is the embedded default, a file in WAL mode so readers
(the report) never block the server's writes; PostgreSQL (psycopg 3) is for
deployments where replicas share conversations. SQLAlchemy was chosen over
hand-written SQL per driver because the two dialects differ in parameter
style, upserts, types and pooling, and Core covers all four with one table
definition (`schema`) while adding no ORM layer to the write path.

    store = ConversationStore.open("sqlite:///indexes/stackfaq.conversations.sqlite")
    store = ConversationStore.open("postgresql://lepton@db:5432/lepton")
"""

from __future__ import annotations

import os
import time
from typing import Iterator

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from lepton_tf.store import schema
from lepton_tf.store.prepared_postgres import PreparedTurnStatements
from lepton_tf.store.errors import StoreError, StoreSchemaError, UnknownTurnError
from lepton_tf.store.records import TurnRecord, audit_row, check_rating

SQLITE_BUSY_TIMEOUT_MS = 200  # a locked file: wait this long, then the writer queues
CONNECT_TIMEOUT_S = 3
PG_CONNECT_ARGS = {"connect_timeout": CONNECT_TIMEOUT_S}
PREPARED_OPTION = "prepared_statements"  # ?prepared_statements=off: see `store_options`


def engine_url(url: str) -> str:
    """`url` with the driver this package uses (`postgresql://` -> psycopg 3).

    Raises:
        ValueError: a database other than SQLite or PostgreSQL.
    """
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    if url.startswith(("postgresql+psycopg://", "sqlite://")):
        return url
    raise ValueError(f"conversation store URL must start with sqlite:/// or postgresql://, "
                     f"got {url.split('://')[0][:20]!r}")


def sqlite_url(path: str) -> str:
    return "sqlite:///" + os.path.abspath(path)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    # WAL: the report reads while the server writes. NORMAL: a commit is in the WAL
    # (the OS has it) before it returns, so a killed process loses nothing; only a
    # power cut may lose the last commits (FULL would fsync every turn).
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.close()


def store_options(url: str) -> tuple[str, bool]:
    """`(url, prepared)`: the URL without the store's own query option, and whether
    PostgreSQL statements are prepared on the server.

    `?prepared_statements=off` is for PgBouncer in transaction mode (before 1.21,
    or without `max_prepared_statements`): a server connection there serves many
    clients, so a statement prepared on it by one client is unknown to the next.

    Raises:
        ValueError: a value other than on/off, or the option on a SQLite URL.
    """
    parsed = sa.make_url(engine_url(url))
    value = parsed.query.get(PREPARED_OPTION, "on")
    if value not in ("on", "off"):
        raise ValueError(f"{PREPARED_OPTION} must be on or off, got {str(value)[:20]!r}")
    if PREPARED_OPTION in parsed.query and parsed.get_backend_name() != "postgresql":
        raise ValueError(f"{PREPARED_OPTION} is an option of PostgreSQL stores only")
    return (parsed.difference_update_query([PREPARED_OPTION]).render_as_string(
        hide_password=False), value == "on")


def make_engine(url: str, prepared: bool = True) -> sa.Engine:
    """The SQLAlchemy engine of a store URL (not connected yet).

    Args:
        url: the store (without the `store_options` option).
        prepared: False: psycopg never prepares a statement (PgBouncer's
            transaction mode); its default prepares one run 5 times on a connection.
    """
    url = engine_url(url)
    if url.startswith("sqlite"):
        path = url[len("sqlite:///"):]
        if path and path != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(path)) or ".", exist_ok=True)
        engine = sa.create_engine(url, connect_args={"check_same_thread": False,
                                                     "timeout": SQLITE_BUSY_TIMEOUT_MS / 1e3})
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # No pre_ping (a round trip per turn): a connection broken by a restarted server
    # fails one write, which the writer queues and retries on a fresh connection.
    return sa.create_engine(url, pool_size=8, max_overflow=8,
                            connect_args=pg_connect_args(prepared))


def pg_connect_args(prepared: bool) -> dict:
    """psycopg's connect arguments: timeouts, and no prepared statements if not `prepared`."""
    return PG_CONNECT_ARGS if prepared else {**PG_CONNECT_ARGS, "prepare_threshold": None}


def _describe(url: str) -> str:
    """The URL without its password (it goes into error messages and logs)."""
    try:
        return sa.make_url(engine_url(url)).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - describing must not fail
        return "the conversation store"


class ConversationStore:
    """Reads and writes one store. Thread-safe (a connection pool).

    Args:
        engine: the database (see `open`).
        description: the URL without password, for messages.
        prepared: PostgreSQL statements are prepared on the server (False behind
            PgBouncer's transaction mode: `store_options`).
    """

    def __init__(self, engine: sa.Engine, description: str = "", prepared: bool = True):
        self.engine, self.description = engine, description
        # What identifies the database (an audit sink on the same one lets a turn
        # carry its record: `server.audit.keeps_in`); compared, never shown.
        self.database = engine.url.render_as_string(hide_password=False)
        self.dialect = engine.dialect.name
        insert = sqlite.insert if self.dialect == "sqlite" else postgresql.insert
        # Built once: building a statement per turn costs more than SQLite's commit.
        sessions, turns, audit = schema.sessions, schema.turns, schema.audit
        prefixed = lambda columns, prefix: {  # noqa: E731
            c.name: sa.bindparam(prefix + c.name, type_=c.type) for c in columns}
        log = insert(turns).values(prefixed(turns.c, "t_")).on_conflict_do_nothing(
            index_elements=[turns.c.turn_id])
        upsert = insert(sessions).values(prefixed(sessions.c, "s_"))
        upsert = upsert.on_conflict_do_update(
            index_elements=[sessions.c.session_id],
            set_={"state": upsert.excluded.state, "turns": upsert.excluded.turns,
                  "updated_at": upsert.excluded.updated_at},
            where=sessions.c.turns < upsert.excluded.turns)
        audited = [c for c in audit.c if c.name != "audit_id"]
        # A turn's read returns the state only when it changed since this process last
        # wrote or read it (another replica's turn, a deletion): the common case moves
        # and decodes no JSON, and the caller keeps its cached session.
        changed = sa.or_(sessions.c.turns != sa.bindparam("known_turns", type_=sa.Integer),
                         sessions.c.updated_at != sa.bindparam("known_at", type_=sa.Float))
        self._read_changed = sa.select(
            sessions.c.turns, sessions.c.updated_at,
            sa.case((changed, sessions.c.state), else_=sa.null()).label("state")).where(
            sessions.c.session_id == sa.bindparam("session_id"))
        self._read_session = sa.select(sessions.c.state, sessions.c.turns).where(
            sessions.c.session_id == sa.bindparam("session_id"))
        if self.dialect == "postgresql":
            # One statement (the log and audit inserts as data-modifying CTEs),
            # autocommitted: atomic, and one round trip instead of BEGIN, three
            # inserts and COMMIT. The audit row goes in only with a new turn row, so a
            # retried write that had committed adds no second one.
            json_params = frozenset(
                prefix + c.name for columns, prefix in
                ((turns.c, "t_"), (sessions.c, "s_"), (audited, "a_"))
                for c in columns if isinstance(c.type, sa.JSON))
            self._prepared = PreparedTurnStatements(engine, json_params,
                                                    pg_connect_args(prepared), prepared)
            logged = log.returning(turns.c.turn_id).cte("logged")
            audit_insert = audit.insert().from_select(
                [c.name for c in audited],
                sa.select(*prefixed(audited, "a_").values()).select_from(logged))
            self._write_turn = upsert.add_cte(log.cte("logged"))
            self._write_sql = self._prepared.compile(self._write_turn)
            self._write_audited_sql = self._prepared.compile(
                upsert.add_cte(logged).add_cte(audit_insert.cte("audited")))
            self._read_sql = self._prepared.compile(self._read_changed)
        else:
            self._prepared = None
            self._log, self._upsert = log, upsert
            self._audit_insert = audit.insert().values(prefixed(audited, "a_"))

    @classmethod
    def open(cls, url: str, migrate: bool = True) -> "ConversationStore":
        """Opens (and creates or upgrades) the store at `url`.

        Raises:
            StoreSchemaError: a corrupt file, another application's database, or a
                newer schema.
            StoreError: the database cannot be reached.
            ValueError: an unsupported URL.
        """
        description = _describe(url)
        url, prepared = store_options(url)
        engine = make_engine(url, prepared)
        try:
            if migrate:
                schema.migrate(engine)
            else:
                with engine.connect() as connection:
                    schema.stored_version(connection)
        except StoreSchemaError as e:
            engine.dispose()
            raise StoreSchemaError(f"{description}: {e}") from None
        except sa.exc.DatabaseError as e:
            engine.dispose()
            text = str(e.orig)
            if "not a database" in text or "malformed" in text:
                raise StoreSchemaError(f"{description} is corrupt or not a SQLite database "
                                       f"({text}); move it away to start a new store") from None
            raise StoreError(f"{description}: {text.strip().splitlines()[0]}") from None
        except sa.exc.SQLAlchemyError as e:
            engine.dispose()
            raise StoreError(f"{description}: {e}".splitlines()[0]) from None
        return cls(engine, description, prepared)

    def version(self) -> int | None:
        with self.engine.connect() as connection:
            return schema.stored_version(connection)

    # -- sessions and turns --------------------------------------------
    def load_session(self, session_id: str) -> tuple[dict, int] | None:
        """`(state, turns)` of a stored session, or None."""
        with self.engine.connect() as connection:
            row = connection.execute(self._read_session, {"session_id": session_id}).first()
        return None if row is None else (row.state, int(row.turns))

    def session_if_changed(self, session_id: str, known: tuple[int, float] | None
                           ) -> tuple[dict | None, int, float] | None:
        """A turn's read of its session: `(state, turns, updated_at)`, with state None
        when the stored session is still the one `known` names.

        Args:
            session_id: the conversation.
            known: `(turns, updated_at)` of the state this process last wrote or read
                for it; None reads the state whatever it is.

        Returns:
            None when nothing is stored for the session.
        """
        turns, at = known if known is not None else (-1, -1.0)
        params = {"session_id": session_id, "known_turns": turns, "known_at": at}
        if self._prepared is not None:
            row = self._prepared.run(self._read_sql, params, fetch=True)
            return None if row is None else (row[2], int(row[0]), float(row[1]))
        with self.engine.connect() as connection:
            row = connection.execute(self._read_changed, params).first()
        return None if row is None else (row.state, int(row.turns), float(row.updated_at))

    def write_turn(self, record: TurnRecord, state: dict, turn_number: int) -> None:
        """Logs a turn (and its audit record, if it carries one) and saves its
        session's state after it, in one transaction.

        Idempotent (a retried write that had committed changes nothing), and a
        late retry never rolls a session back past a newer turn.

        Args:
            record: the turn.
            state: the session after the turn (JSON-ready).
            turn_number: the session's turn count after this turn.
        """
        params = self._turn_params(record, state, turn_number)
        if self._prepared is not None:
            self._prepared.run(self._write_sql if record.audit is None
                               else self._write_audited_sql, params)
            return
        with self.engine.begin() as connection:
            logged = connection.execute(self._log, params).rowcount
            if logged and record.audit is not None:
                connection.execute(self._audit_insert, params)
            connection.execute(self._upsert, params)

    @staticmethod
    def _turn_params(record: TurnRecord, state: dict, turn_number: int) -> dict:
        now = record.created_at
        params = {"t_" + k: v for k, v in record.row().items()}
        params.update(s_session_id=record.session_id, s_state=state, s_turns=turn_number,
                      s_created_at=now, s_updated_at=now)
        if record.audit is not None:
            params.update({"a_" + k: v for k, v in audit_row(record.audit).items()})
        return params

    def add_feedback(self, session_id: str, turn_id: str, rating: str,
                     comment: str | None = None) -> None:
        """Records a rating of one turn.

        Raises:
            ValueError: a bad rating or comment.
            UnknownTurnError: no such turn in that session.
        """
        rating, comment = check_rating(rating, comment)
        t = schema.turns
        with self.engine.begin() as connection:
            found = connection.execute(sa.select(t.c.turn_id).where(
                t.c.turn_id == turn_id, t.c.session_id == session_id)).first()
            if found is None:
                raise UnknownTurnError(f"No turn {turn_id[:40]!r} in session "
                                       f"{session_id[:200]!r}.")
            connection.execute(schema.feedback.insert().values(
                turn_id=turn_id, session_id=session_id, rating=rating, comment=comment,
                created_at=time.time()))

    def delete_session(self, session_id: str) -> int:
        """Deletes one session's state, turns, feedback and the audit records of its
        turns (they hold the caller's redacted words and name the caller).

        Returns:
            The rows deleted.

        Raises:
            UnknownTurnError: nothing is stored for that session.
        """
        t = schema.turns
        deleted = 0
        with self.engine.begin() as connection:
            # The audit rows first: they are found through the session's turns.
            deleted += connection.execute(_delete_audit_of(
                sa.select(t.c.turn_id).where(t.c.session_id == session_id))).rowcount
            for table in (schema.feedback, schema.turns, schema.sessions):
                deleted += connection.execute(
                    table.delete().where(table.c.session_id == session_id)).rowcount
        if not deleted:
            raise UnknownTurnError(f"No stored session {session_id[:200]!r}.")
        return deleted

    def purge(self, retention_days: float, now: float | None = None,
              audit_retention_days: float | None = None) -> int:
        """Deletes turns, feedback and sessions older than `retention_days`, and audit
        records older than `audit_retention_days`.

        An assistant turn's audit record goes with its turn at the latest: the
        turn is how `delete_session` finds the record, so a record outliving its
        turn could no longer be forgotten on request.

        Args:
            retention_days: the age (days) past which turns, feedback and sessions go.
            now: the present (Unix seconds; tests set it).
            audit_retention_days: the age past which audit records go (None: as
                `retention_days`).

        Returns:
            The rows deleted.

        Raises:
            ValueError: a retention of 0 days or less.
        """
        if audit_retention_days is None:
            audit_retention_days = retention_days
        if retention_days <= 0 or audit_retention_days <= 0:
            raise ValueError("retention days must be > 0.")
        now = time.time() if now is None else now
        cutoff = now - retention_days * 86400.0
        t, a = schema.turns, schema.audit
        deleted = 0
        with self.engine.begin() as connection:
            deleted += connection.execute(_delete_audit_of(
                sa.select(t.c.turn_id).where(t.c.created_at < cutoff),
                a.c.created_at < now - audit_retention_days * 86400.0)).rowcount
            for table, column in ((schema.feedback, schema.feedback.c.created_at),
                                  (t, t.c.created_at),
                                  (schema.sessions, schema.sessions.c.updated_at)):
                deleted += connection.execute(table.delete().where(column < cutoff)).rowcount
        return deleted

    # -- reading for the report and the learning loop --------------------
    def turns(self, since: float = 0.0) -> Iterator[dict]:
        """Logged turns since `since` (Unix seconds), oldest first."""
        t = schema.turns
        with self.engine.connect() as connection:
            for row in connection.execute(sa.select(t).where(t.c.created_at >= since)
                                          .order_by(t.c.created_at)):
                yield dict(row._mapping)

    def feedback(self, since: float = 0.0) -> list[dict]:
        """Ratings since `since`, oldest first."""
        f = schema.feedback
        with self.engine.connect() as connection:
            return [dict(r._mapping) for r in connection.execute(
                sa.select(f).where(f.c.created_at >= since).order_by(f.c.created_at))]

    def has_turn(self, turn_id: str) -> bool:
        with self.engine.connect() as connection:
            return connection.execute(sa.select(schema.turns.c.turn_id).where(
                schema.turns.c.turn_id == turn_id)).first() is not None

    def close(self) -> None:
        if self._prepared is not None:
            self._prepared.dispose()
        self.engine.dispose()


def _delete_audit_of(turn_ids: sa.Select, *also) -> sa.Delete:
    """The deletion of the audit records of the turns `turn_ids` selects (or that
    match any of `also`)."""
    a = schema.audit
    return a.delete().where(sa.or_(a.c.turn_id.in_(turn_ids), *also))
