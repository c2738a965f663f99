"""The shipped example's database: the entities of SGD's ``service_results``.

SGD's dialogues record, for every system turn that called a service, the call
(``service_call``) and what the service returned (``service_results``): real
restaurants with their address and price range, hotels with their rating, flights
with times and fares, rental cars, movies, events, ... This module turns them into
a database the example services search and book against:

- :func:`extract_entities` (run once, by whoever updates the vendored data) reads
  the original SGD files (``train|dev|test/dialogues_*.json[.gz]`` and their
  ``schema.json``) and writes ``data/sgd/entities.jsonl.gz``: per service, the
  de-duplicated rows returned by its search (non-transactional) intents.
- :func:`build_example_db` writes a SQLite database from that file: one table per
  service (the service name in lower case), one column per result slot, plus a
  ``reservations`` table the transactional intents write into, and the example
  bank customer's accounts (`example_accounts`, table ``banks_1``).

Other services whose results are the caller's own records, not a catalogue
(alarms, calendar entries, payments, shared locations, ride quotes, weather
reports) are left out: those belong to a business's own systems.

    >>> sorted(EXAMPLE_SERVICES)[:3]
    ['Buses_1', 'Buses_2', 'Buses_3']
"""

from __future__ import annotations

import argparse
import glob
import gzip
import itertools
import json
import os
import re
import sqlite3
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

from lepton_tf.data.paths import data_dir
from lepton_tf.dialogue.example_accounts import ACCOUNTS_FILE
from lepton_tf.dialogue.schema import load_schema

ENTITIES_FILE = ("sgd", "entities.jsonl.gz")
DEFAULT_DB_NAME = "example.sqlite"
RESERVATIONS_TABLE = "reservations"
# The catalogue services: what a business would hold in its own database.
EXAMPLE_SERVICES = frozenset({
    "Buses_1", "Buses_2", "Buses_3", "Events_1", "Events_2", "Events_3",
    "Flights_1", "Flights_2", "Flights_3", "Flights_4", "Homes_1", "Homes_2",
    "Hotels_1", "Hotels_2", "Hotels_3", "Hotels_4", "Media_1", "Media_2", "Media_3",
    "Movies_1", "Movies_2", "Movies_3", "Music_1", "Music_2", "Music_3",
    "RentalCars_1", "RentalCars_2", "RentalCars_3", "Restaurants_1", "Restaurants_2",
    "Services_1", "Services_2", "Services_3", "Services_4", "Trains_1", "Travel_1"})
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def identifier(name: str) -> str:
    """``name`` as a quoted SQL identifier.

    Raises:
        ValueError: a name that is not a plain identifier (letters, digits, ``_``):
            schema names become table and column names, so nothing else is let in.
    """
    if not _IDENTIFIER.match(name or ""):
        raise ValueError(f"not a plain SQL identifier: {name!r}")
    return f'"{name}"'


def table_name(service: str) -> str:
    """The table of a service's entities (``Restaurants_1`` -> ``restaurants_1``)."""
    identifier(service)
    return service.lower()


def _dialogue_files(sgd_dir: Path) -> Iterator[Path]:
    for split in ("train", "dev", "test"):
        yield from sorted(Path(p) for p in glob.glob(str(sgd_dir / split / "dialogues_*.json*")))


def _read_json(path: Path):
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        return json.load(fh)


def _search_intents(sgd_dir: Path) -> dict[str, set[str]]:
    """Service -> its non-transactional intents, over the three splits' schemas."""
    found: dict[str, set[str]] = {}
    for split in ("train", "dev", "test"):
        candidates = sorted(glob.glob(str(sgd_dir / split / "schema.json*")))
        if not candidates:
            raise FileNotFoundError(f"no schema.json[.gz] in {sgd_dir / split}")
        for service in load_schema(candidates[0]).values():
            found.setdefault(service.name, set()).update(
                i.name for i in service.intents if not i.is_transactional)
    return found


def extract_entities(sgd_dir: str | os.PathLike, out_path: str | os.PathLike,
                     services: Iterable[str] = EXAMPLE_SERVICES) -> dict[str, int]:
    """Write the de-duplicated search results of ``services`` as JSONL (gzip).

    Args:
        sgd_dir: the original SGD folder (``train/``, ``dev/``, ``test/``, each with
            ``schema.json[.gz]`` and ``dialogues_*.json[.gz]``).
        out_path: the file to write (one line per service: ``service``, ``columns``,
            ``rows``, rows in first-seen order).
        services: the services to keep.

    Returns:
        Service -> number of rows written.

    Raises:
        FileNotFoundError: no dialogue files or schema in ``sgd_dir``.
    """
    sgd_dir, wanted = Path(sgd_dir), set(services)
    searches = _search_intents(sgd_dir)
    rows: dict[str, dict[tuple, None]] = {s: {} for s in sorted(wanted)}
    files = list(_dialogue_files(sgd_dir))
    if not files:
        raise FileNotFoundError(f"no dialogues_*.json[.gz] under {sgd_dir}")
    for path in files:
        for dialogue in _read_json(path):
            for turn in dialogue["turns"]:
                for frame in turn["frames"]:
                    service = frame["service"]
                    call = frame.get("service_call")
                    if service not in wanted or not call or \
                            call["method"] not in searches.get(service, ()):
                        continue
                    for result in frame.get("service_results", []):
                        rows[service].setdefault(tuple(sorted(result.items())), None)
    counts = {}
    with gzip.open(out_path, "wt", encoding="utf-8", compresslevel=9) as out:
        for service, found in rows.items():
            columns = sorted({k for row in found for k, _ in row})
            table = [[dict(row).get(c) for c in columns] for row in found]
            out.write(json.dumps({"service": service, "columns": columns, "rows": table},
                                 ensure_ascii=False, separators=(",", ":")) + "\n")
            counts[service] = len(table)
    return counts


def read_entities(path: str | os.PathLike | None = None) -> Iterator[dict]:
    """The entity tables of ``path`` (default: the vendored ``data/sgd/entities.jsonl.gz``).

    Returns:
        Dicts with ``service``, ``columns`` and ``rows``.

    Raises:
        FileNotFoundError: the file is missing.
        ValueError: a line is not a service table.
    """
    path = Path(path) if path is not None else data_dir().joinpath(*ENTITIES_FILE)
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            table = json.loads(line)
            if not isinstance(table, dict) or not {"service", "columns", "rows"} <= set(table):
                raise ValueError(f"{path}:{number}: expected service, columns and rows")
            yield table


RESERVATIONS_DDL = (
    f"CREATE TABLE IF NOT EXISTS {RESERVATIONS_TABLE} ("
    " id INTEGER PRIMARY KEY,"
    " service TEXT NOT NULL,"
    " intent TEXT NOT NULL,"
    # A retried request carries the same key: the unique constraint books it once.
    " idempotency_key TEXT NOT NULL UNIQUE,"
    " arguments TEXT NOT NULL,"
    " result TEXT NOT NULL,"
    " created_at TEXT NOT NULL)")


def create_tables_sql(table: dict) -> list[str]:
    """The DDL and the parameterised INSERT of one entity table (portable SQL)."""
    name = identifier(table_name(table["service"]))
    columns = [identifier(c) for c in table["columns"]]
    return [f"CREATE TABLE {name} ({', '.join(c + ' TEXT' for c in columns)})",
            f"INSERT INTO {name} ({', '.join(columns)}) VALUES "
            f"({', '.join('?' for _ in columns)})"]


def load_example_tables(connection, placeholder: str = "?", services: Iterable[str] | None = None,
                        entities_path: str | os.PathLike | None = None) -> dict[str, int]:
    """Create and fill the entity tables and the reservations table (any DB-API driver).

    Args:
        connection: an open connection (sqlite3, psycopg); committed by the caller.
        placeholder: the driver's parameter marker (``?`` sqlite3, ``%s`` psycopg).
        services: only these services' tables (None: all).
        entities_path: the entities file (default: the vendored one).

    Returns:
        Table -> number of rows.
    """
    wanted = None if services is None else set(services)
    counts = {}
    cursor = connection.cursor()
    # The example bank customer's accounts (`example_accounts`) come with the catalogue.
    accounts = data_dir().joinpath(*ACCOUNTS_FILE)
    for table in itertools.chain(read_entities(entities_path), read_entities(accounts)):
        if wanted is not None and table["service"] not in wanted:
            continue
        create, insert = create_tables_sql(table)
        cursor.execute(create)
        cursor.executemany(insert.replace("?", placeholder), table["rows"])
        counts[table_name(table["service"])] = len(table["rows"])
    ddl = RESERVATIONS_DDL if placeholder == "?" else \
        RESERVATIONS_DDL.replace("INTEGER PRIMARY KEY", "BIGSERIAL PRIMARY KEY")
    cursor.execute(ddl)
    return counts


def build_example_db(db_path: str | os.PathLike, entities_path: str | os.PathLike | None = None
                     ) -> dict[str, int]:
    """Write the example SQLite database (replacing the file atomically).

    Args:
        db_path: the database file to write.
        entities_path: the entities file (default: the vendored one).

    Returns:
        Table -> number of rows.
    """
    db_path = Path(db_path)
    db_path.parent.mkdir(parents=True, exist_ok=True)
    partial = db_path.with_name(db_path.name + ".partial")
    partial.unlink(missing_ok=True)
    db = sqlite3.connect(partial)
    try:
        counts = load_example_tables(db, entities_path=entities_path)
        db.commit()
    finally:
        db.close()
    os.replace(partial, db_path)
    return counts


def ensure_example_db(db_path: str | os.PathLike) -> bool:
    """Build the example database unless ``db_path`` exists; True when it built it.
    One built before the bank accounts were shipped gets their table, reservations
    and all else kept."""
    if not Path(db_path).is_file():
        build_example_db(db_path)
        return True
    db = sqlite3.connect(db_path)
    try:
        for table in read_entities(data_dir().joinpath(*ACCOUNTS_FILE)):
            name = table_name(table["service"])
            if not db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                              (name,)).fetchone():
                create, insert = create_tables_sql(table)
                db.execute(create)
                db.executemany(insert, table["rows"])
        db.commit()
    finally:
        db.close()
    return False


def main(argv: list[str] | None = None) -> int:
    """``python -m lepton_tf.dialogue.example_db {extract,build}``."""
    parser = argparse.ArgumentParser(prog="python -m lepton_tf.dialogue.example_db",
                                     description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    extract = commands.add_parser("extract", help="SGD originals -> entities.jsonl.gz")
    extract.add_argument("--sgd", required=True, help="the original SGD folder")
    extract.add_argument("--out", default=None, help="default: data/sgd/entities.jsonl.gz")
    build = commands.add_parser("build", help="entities.jsonl.gz -> a SQLite database")
    build.add_argument("--db", required=True)
    build.add_argument("--entities", default=None)
    args = parser.parse_args(argv)
    try:
        if args.command == "extract":
            counts = extract_entities(args.sgd, args.out or data_dir().joinpath(*ENTITIES_FILE))
        else:
            counts = build_example_db(args.db, args.entities)
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"{len(counts)} tables, {sum(counts.values())} rows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
