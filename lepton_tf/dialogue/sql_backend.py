"""A backend that searches and books in a SQL database: SQLite or PostgreSQL.

Layout (what :mod:`lepton_tf.dialogue.example_db` builds): one table per service,
named after it in lower case, one text column per slot; a ``reservations`` table
with a unique ``idempotency_key``.

- A search selects the distinct rows whose columns equal (case-insensitively) the
  call's arguments. Arguments with no column, ``dontcare``, and the configured
  ``pass_through`` slots (what parameterises a request rather than describes an
  entity: the number of rooms, of passengers) filter nothing; they are copied into
  the results where the intent returns them.
- A transaction first finds the entity its arguments name (the restaurant in that
  city); none found, it books nothing and returns no row (SGD's failed
  transaction). Else it inserts the reservation with ``ON CONFLICT DO NOTHING`` on
  the idempotency key and returns the stored record: a retry gets the first booking
  back, never a second one (and a key reused for other arguments is an error).
- A transaction listed in ``debits`` (`sql_debit`) also takes its amount from the
  balance of the row it names, in the same database transaction, with that row
  locked; a balance too low declines it and changes nothing.

SQLite: ``sqlite:///relative/path.sqlite`` or ``sqlite:////absolute/path``.
PostgreSQL: ``postgresql://user@host:port/db`` through psycopg 3.
"""

from __future__ import annotations

import datetime
import fnmatch
import json
import sqlite3
import threading
from collections.abc import Iterable, Mapping

from lepton_tf.dialogue.backend import (FAILED, TIMEOUT, UNREACHABLE, UNSUPPORTED, BackendCall,
                                        BackendError, Declined)
from lepton_tf.dialogue.example_db import RESERVATIONS_DDL, RESERVATIONS_TABLE, identifier, table_name
from lepton_tf.dialogue.schema import DONTCARE, Service
from lepton_tf.dialogue.sql_debit import Debit

MAX_RESULTS = 50
SQLITE_PREFIX = "sqlite:///"
POSTGRES_PREFIXES = ("postgresql://", "postgres://")


class SqlBackend:
    """Searches and books against one database.

    Args:
        url: ``sqlite:///PATH`` or ``postgresql://...``.
        schemas: service name -> schema (the intents' required and result slots).
        pass_through: slots that never filter a search: ``slot`` for every
            service, ``ServiceGlob.slot`` for some (``Buses_*.departure_date``).
        timeout_s: how long a statement may run (SQLite: waiting for a lock;
            PostgreSQL: ``statement_timeout`` and the connect timeout).
        max_results: rows a search returns at most.
        debits: ``"Service.Intent"`` glob -> `Debit`: transactions that take an
            amount from the balance of the row they name.

    Raises:
        ValueError: a URL of another kind.
    """

    def __init__(self, url: str, schemas: Mapping[str, Service], pass_through: Iterable[str] = (),
                 timeout_s: float = 5.0, max_results: int = MAX_RESULTS,
                 debits: Mapping[str, Debit] | None = None):
        if not url.startswith((SQLITE_PREFIX,) + POSTGRES_PREFIXES):
            raise ValueError(f"database url must start with {SQLITE_PREFIX} or postgresql://, "
                             f"got {url.split(':', 1)[0]}:...")
        self.url, self.schemas = url, schemas
        self._pass_through = tuple(p if "." in p else f"*.{p}" for p in pass_through)
        self.timeout_s, self.max_results = timeout_s, max_results
        self.debits = dict(debits or {})
        self.postgres = url.startswith(POSTGRES_PREFIXES)
        self._columns: dict[str, tuple[str, ...]] = {}
        self._lock = threading.Lock()
        self._ready = False

    def passes(self, service: str, slot: str) -> bool:
        """Whether ``slot`` of ``service`` parameterises requests instead of filtering."""
        return any(fnmatch.fnmatchcase(f"{service}.{slot}", p) for p in self._pass_through)

    # -- connections -------------------------------------------------------------------
    def _connect(self):
        if self.postgres:
            import psycopg

            try:
                db = psycopg.connect(self.url, connect_timeout=max(1, round(self.timeout_s)),
                                     options=f"-c statement_timeout={int(self.timeout_s * 1000)}")
            except psycopg.OperationalError as e:
                raise BackendError(UNREACHABLE, f"database: {str(e).strip()}") from None
            return db
        path = self.url[len(SQLITE_PREFIX):]
        try:
            return sqlite3.connect(f"file:{path}?mode=rw", uri=True, timeout=self.timeout_s,
                                   check_same_thread=False)
        except sqlite3.OperationalError as e:
            raise BackendError(UNREACHABLE, f"database {path}: {e}") from None

    def _sql(self, text: str) -> str:
        return text.replace("?", "%s") if self.postgres else text

    def _run(self, fn):
        """``fn(cursor)`` in one transaction; driver errors become ``BackendError``."""
        db = self._connect()
        try:
            cursor = db.cursor()
            value = fn(cursor)
            db.commit()
            return value
        except (BackendError, Declined):
            db.rollback()
            raise
        except Exception as e:  # the two drivers' error trees differ: sort by message
            db.rollback()
            text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            kind = TIMEOUT if "timeout" in text.lower() or "locked" in text.lower() else FAILED
            raise BackendError(kind, f"database: {text}") from None
        finally:
            db.close()

    def ensure_reservations_table(self) -> None:
        """Creates the reservations table where it is missing (a fresh PostgreSQL)."""
        with self._lock:
            if self._ready:
                return
            ddl = RESERVATIONS_DDL.replace("INTEGER PRIMARY KEY", "BIGSERIAL PRIMARY KEY") \
                if self.postgres else RESERVATIONS_DDL
            self._run(lambda cursor: cursor.execute(ddl))
            self._ready = True

    def columns(self, service: str) -> tuple[str, ...]:
        """The entity table's columns of ``service`` (() when it has no table)."""
        table = table_name(service)
        with self._lock:
            if table in self._columns:
                return self._columns[table]

        def read(cursor):
            if self.postgres:
                cursor.execute("SELECT column_name FROM information_schema.columns WHERE "
                               "table_name = %s ORDER BY ordinal_position", (table,))
                return tuple(r[0] for r in cursor.fetchall())
            return tuple(r[1] for r in cursor.execute(f"PRAGMA table_info({identifier(table)})"))
        found = self._run(read)
        with self._lock:
            self._columns[table] = found
        return found

    # -- calls -------------------------------------------------------------------------
    def call(self, request: BackendCall) -> list[dict[str, str]]:
        """Search or book (see the module docstring).

        Raises:
            BackendError: ``unsupported`` for a service without a schema or a table,
                ``unreachable``/``timeout``/``failed`` from the database.
        """
        service = self.schemas.get(request.service)
        if service is None:
            raise BackendError(UNSUPPORTED, f"no schema for service {request.service!r}")
        intent = service.intent(request.intent)
        columns = self.columns(request.service)
        if not columns:
            raise BackendError(UNSUPPORTED, f"no table {table_name(request.service)!r} for "
                                            f"{request.service}")
        if request.transactional:
            if not request.idempotency_key:
                raise BackendError(FAILED, "a transaction needs an idempotency key")
            return self._book(request, intent, columns)
        return self._search(request, intent, columns)

    def _filters(self, service: str, arguments: Mapping[str, str], columns) -> list:
        return [(s, arguments[s]) for s in columns if s in arguments
                and not self.passes(service, s) and arguments[s] != DONTCARE]

    def _where(self, filters) -> tuple[str, list]:
        if not filters:
            return "", []
        return " WHERE " + " AND ".join(f"lower({identifier(s)}) = lower(?)" for s, _ in filters), \
            [v for _, v in filters]

    def _search(self, request, intent, columns) -> list[dict[str, str]]:
        shown = [c for c in columns if not self.passes(request.service, c)]
        where, values = self._where(self._filters(request.service, request.arguments, columns))
        listed = ", ".join(identifier(c) for c in shown)
        sql = self._sql(f"SELECT DISTINCT {listed} FROM {identifier(table_name(request.service))}"
                        f"{where} ORDER BY {listed} LIMIT {int(self.max_results)}")
        rows = self._run(lambda cursor: (cursor.execute(sql, values), cursor.fetchall())[1])
        passed = {s: v for s, v in request.arguments.items() if self.passes(request.service, s)}
        return [_result(dict(zip(shown, row)), passed, intent.result_slots) for row in rows]

    def _book(self, request, intent, columns) -> list[dict[str, str]]:
        self.ensure_reservations_table()
        # Every given value that is a column names the entity, and so does the row
        # the user chose: the one offered.
        filters = self._filters(request.service, {**request.selected, **request.arguments},
                                columns)
        where, values = self._where(filters)
        table = identifier(table_name(request.service))
        debit = next((d for p, d in self.debits.items()
                      if fnmatch.fnmatchcase(f"{request.service}.{request.intent}", p)), None)
        if debit is not None and not filters:
            raise BackendError(FAILED, "a debit must name the row it takes from")
        # The row is locked before the key is read, so two tries of one transfer run
        # one after the other, and the second finds the first's record.
        find = self._sql(f"SELECT * FROM {table}{where} LIMIT 1"
                         + (" FOR UPDATE" if debit is not None and self.postgres else ""))
        insert = self._sql(
            f"INSERT INTO {RESERVATIONS_TABLE} (service, intent, idempotency_key, arguments, "
            "result, created_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (idempotency_key) DO NOTHING")
        stored = self._sql(f"SELECT result, arguments FROM {RESERVATIONS_TABLE} "
                           "WHERE idempotency_key = ?")
        arguments = json.dumps(dict(request.arguments), sort_keys=True)

        def first_booking(row):
            if json.loads(row[1]) != json.loads(arguments):
                raise BackendError(FAILED, f"idempotency key {request.idempotency_key!r} was "
                                           "used for another request")
            return [json.loads(row[0])]

        def book(cursor):
            if debit is not None and not self.postgres:
                cursor.execute("BEGIN IMMEDIATE")  # the write lock, before reading
            cursor.execute(stored, (request.idempotency_key,))
            done = cursor.fetchone()
            if done:  # a retry: the first booking, unchanged
                return first_booking(done)
            entity = {}
            if filters:
                cursor.execute(find, values)
                row = cursor.fetchone()
                if row is None:  # no such restaurant/hotel/car: nothing to book
                    return []
                entity = dict(zip([d[0] for d in cursor.description], row))
            if debit is not None:
                left = debit.new_balance(entity.get(debit.balance), request.arguments.get(
                    debit.amount, ""))
                cursor.execute(self._sql(f"UPDATE {table} SET {identifier(debit.balance)} = ?"
                                         f"{where}"), [left] + values)
            result = _result(entity, request.arguments, intent.result_slots)
            cursor.execute(insert, (request.service, request.intent, request.idempotency_key,
                                    arguments, json.dumps(result, sort_keys=True),
                                    datetime.datetime.now(datetime.timezone.utc).isoformat()))
            cursor.execute(stored, (request.idempotency_key,))  # the row that won
            return first_booking(cursor.fetchone())
        return self._run(book)


def _result(entity: Mapping, arguments: Mapping[str, str], result_slots) -> dict[str, str]:
    """The intent's result slots: the entity's values, then the request's for the rest."""
    out = {}
    for slot in result_slots:
        value = entity.get(slot)
        if value is None:
            value = arguments.get(slot)
        if value is not None and value != DONTCARE:
            out[slot] = str(value)
    return out
