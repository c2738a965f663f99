"""The store's tables (SQLAlchemy Core, one definition for SQLite and PostgreSQL)
and its migrations.

`store_schema` holds one row: the application's name and the schema version.
A store is opened by `migrate`: an empty database gets every migration, an
older store gets the ones it lacks (in one transaction each, so a failed
upgrade leaves the old version), and a database that holds other tables but
no `store_schema` row of ours, or a newer version, is refused at start.
"""

from __future__ import annotations

import sqlalchemy as sa

APPLICATION = "lepton-tf conversations"
MIGRATION_LOCK_KEY = 0x6C6570746F6E  # a PostgreSQL advisory lock: one process migrates at once

metadata = sa.MetaData()

store_schema = sa.Table(
    "store_schema", metadata,
    sa.Column("application", sa.String(64), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False))

# What a restarted server (or another replica) needs to continue a conversation.
sessions = sa.Table(
    "sessions", metadata,
    sa.Column("session_id", sa.String(200), primary_key=True),
    sa.Column("state", sa.JSON, nullable=False),
    sa.Column("turns", sa.Integer, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False, index=True))

# One row per answered turn: what the operator's report and the learning loop read.
turns = sa.Table(
    "turns", metadata,
    sa.Column("turn_id", sa.String(32), primary_key=True),
    sa.Column("session_id", sa.String(200), nullable=False, index=True),
    sa.Column("created_at", sa.Float, nullable=False, index=True),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("route", sa.String(32), nullable=False),
    sa.Column("intent", sa.String(200), nullable=False),
    sa.Column("state", sa.JSON, nullable=False),
    sa.Column("sources", sa.JSON, nullable=False),
    sa.Column("cited", sa.JSON, nullable=False),
    sa.Column("not_found", sa.Boolean, nullable=False),
    sa.Column("reply", sa.Text, nullable=False),
    sa.Column("latency_ms", sa.Float, nullable=False),
    sa.Column("timings_ms", sa.JSON, nullable=False),
    sa.Column("model_versions", sa.JSON, nullable=False),
    sa.Column("index_version", sa.String(64), nullable=False))

feedback = sa.Table(
    "feedback", metadata,
    sa.Column("feedback_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("turn_id", sa.String(32), nullable=False, index=True),
    sa.Column("session_id", sa.String(200), nullable=False, index=True),
    sa.Column("rating", sa.String(8), nullable=False),
    sa.Column("comment", sa.Text, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False))

# The audit trail (`lepton_tf.server.audit`): one row per search or assistant turn,
# the query already redacted. `groups` is the caller's at the time: the operator's
# report shows a group's turns to that group's admins through it (`turn_id`).
audit = sa.Table(
    "audit", metadata,
    sa.Column("audit_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("created_at", sa.Float, nullable=False, index=True),
    sa.Column("principal", sa.String(200), nullable=False, index=True),
    sa.Column("groups", sa.JSON, nullable=False),
    sa.Column("model", sa.String(200), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("query", sa.JSON, nullable=False),
    sa.Column("decision", sa.Text, nullable=False),
    sa.Column("documents", sa.JSON, nullable=False),
    sa.Column("not_found", sa.JSON, nullable=False),
    sa.Column("turn_id", sa.String(32), nullable=True, index=True))


def _create(*tables):
    def step(connection) -> None:
        for table in tables:
            table.create(connection)
    return step


# MIGRATIONS[n - 1] takes a store at version n - 1 to version n. Append, never edit:
# a deployed store has run the old steps.
MIGRATIONS = [
    _create(sessions, turns),   # 1: sessions and the turn log
    _create(feedback),          # 2: ratings of turns
    _create(audit),             # 3: the audit trail
]
SCHEMA_VERSION = len(MIGRATIONS)
OUR_TABLES = {t.name for t in metadata.sorted_tables}


def stored_version(connection) -> int | None:
    """The store's schema version; None for an empty database.

    Raises:
        StoreSchemaError: the database holds tables but is not our store.
    """
    from lepton_tf.store.errors import StoreSchemaError

    names = set(sa.inspect(connection).get_table_names())
    if not names:
        return None
    if store_schema.name not in names:
        raise StoreSchemaError(
            f"the database holds other tables ({', '.join(sorted(names)[:5])}) and no "
            f"{store_schema.name} table: it is not a lepton-tf conversation store; give an "
            "empty database or another file")
    row = connection.execute(sa.select(store_schema.c.version).where(
        store_schema.c.application == APPLICATION)).first()
    if row is None:
        raise StoreSchemaError(f"{store_schema.name} names another application: not a "
                               "lepton-tf conversation store")
    return int(row.version)


def migrate(engine: sa.Engine, target: int = SCHEMA_VERSION) -> tuple[int | None, int]:
    """Brings the store to schema version `target`.

    Args:
        engine: the database.
        target: the version wanted (tests build older stores with it).

    Returns:
        `(version found, version now)`; found is None for a new store.

    Raises:
        StoreSchemaError: not our store, or a newer version than this code knows.
    """
    if engine.dialect.name != "postgresql":
        return _migrate(engine, target)
    # Replicas starting at once on a new database would each create the tables; one
    # at a time, the later ones find the store at its version.
    with engine.connect() as lock:
        lock.exec_driver_sql(f"SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})")
        try:
            return _migrate(engine, target)
        finally:
            lock.exec_driver_sql(f"SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})")


def _migrate(engine: sa.Engine, target: int) -> tuple[int | None, int]:
    from lepton_tf.store.errors import StoreSchemaError

    with engine.begin() as connection:
        found = stored_version(connection)
        if found is None:
            store_schema.create(connection)
            connection.execute(store_schema.insert().values(application=APPLICATION,
                                                            version=0))
            found_or_zero = 0
        else:
            found_or_zero = found
    if found_or_zero > SCHEMA_VERSION:
        raise StoreSchemaError(
            f"the store has schema version {found_or_zero}, newer than this lepton-tf "
            f"knows ({SCHEMA_VERSION}): upgrade lepton-tf, or give another store")
    for version in range(found_or_zero + 1, target + 1):
        with engine.begin() as connection:  # each step commits with its version row
            MIGRATIONS[version - 1](connection)
            connection.execute(store_schema.update().where(
                store_schema.c.application == APPLICATION).values(version=version))
    return found, max(found_or_zero, target)
