"""Engines for the campaign store, and schema upgrades.

SQLite (a file) is the default for one machine; PostgreSQL is for production. The same SQLAlchemy Core code
runs on both; what differs (pragmas, locking) stays in this module.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

MIGRATIONS = Path(__file__).with_name("migrations")


@cache
def engine_for(url: str) -> Engine:
    """One engine (and connection pool) per store URL and process."""
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": 60, "check_same_thread": False})
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return sa.create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # WAL lets readers go on while one writer works; several worker processes share the file.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA cache_size=-65536")  # 64 MB: a million-fan ledger's indexes stay in memory
    cursor.close()


class StoreNotConfigured(RuntimeError):
    """Tasks run on several machines, and no shared campaign store is configured."""


class SchemaMismatch(RuntimeError):
    """The store's schema is not the one this code was written for: an operator must migrate (or deploy)."""


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the store's schema to ``revision`` (idempotent; safe to run from several places at once). In
    production only ``wechat-campaigns migrate`` calls it; the embedded default store migrates on first use."""
    config = _alembic_config()
    logging.getLogger("alembic").setLevel(logging.WARNING)  # an up-to-date schema is not news
    engine = engine_for(url)
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            # Two workers upgrading at once would both try to create the same tables.
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(424242)"))
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


SCHEMA_RECHECK_SECONDS = 60.0  # a long-lived process (the API server) notices a newer release's migration
_checked: dict[tuple[str, bool], float] = {}


def ready(url: str, migrate: bool = False) -> str:
    """``url`` once its schema is known to be current: checked (or, with ``migrate``, upgraded) at most once a
    minute per process. A mismatch raises ``SchemaMismatch``; the next call checks again."""
    if time.monotonic() - _checked.get((url, migrate), -SCHEMA_RECHECK_SECONDS) < SCHEMA_RECHECK_SECONDS:
        return url
    if migrate:
        upgrade(url)
    else:
        check_schema(url)
    _checked[(url, migrate)] = time.monotonic()
    return url


def check_schema(url: str) -> None:
    """Refuse a store whose schema is behind this code (not migrated yet) or ahead of it (migrated by a newer
    release in the middle of a rolling deploy), saying what to do."""
    script = ScriptDirectory.from_config(_alembic_config())
    head, current = script.get_current_head(), current_revision(url)
    if current == head:
        return
    where = sa.engine.make_url(url).render_as_string(hide_password=True)
    if current is None:
        raise SchemaMismatch(f"the campaign store {where} has no schema yet: run `wechat-campaigns migrate`")
    if current not in {revision.revision for revision in script.walk_revisions()}:
        raise SchemaMismatch(
            f"the campaign store {where} is at revision {current}, newer than this code knows (it ends at {head}): "
            "a newer release migrated it; run that release here too"
        )
    raise SchemaMismatch(
        f"the campaign store {where} is at revision {current}, this code needs {head}: "
        "run `wechat-campaigns migrate` (the compose init job does)"
    )


def current_revision(url: str) -> str | None:
    from alembic.runtime.migration import MigrationContext

    logging.getLogger("alembic").setLevel(logging.WARNING)  # "Context impl SQLiteImpl." is not news either
    with engine_for(url).connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def dialect_insert(connection: sa.Connection):
    if connection.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as postgresql_insert

        return postgresql_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert


def insert_ignoring_duplicates(connection: sa.Connection, table: sa.Table, rows: Sequence[Mapping[str, Any]]) -> int:
    """INSERT that skips rows whose key already exists (ON CONFLICT DO NOTHING on both databases); returns
    how many rows were new."""
    if not rows:
        return 0
    if is_psycopg2(connection) and len(rows) > 1:
        return _execute_values(connection, table, rows, "ON CONFLICT DO NOTHING")
    return connection.execute(dialect_insert(connection)(table).on_conflict_do_nothing(), rows).rowcount


@contextmanager
def transaction(bind: Engine | sa.Connection) -> Iterator[sa.Connection]:
    """The caller's transaction when given a connection in one, else a new one: store functions compose."""
    if isinstance(bind, sa.Connection):
        if bind.in_transaction():
            yield bind
            return
        with bind.begin():
            yield bind
        return
    with bind.begin() as connection:
        yield connection


def upsert(connection: sa.Connection, table: sa.Table, rows: list[dict]) -> None:
    """INSERT, or UPDATE the columns given when the primary key exists. All rows must give the same columns."""
    if not rows:
        return
    keys = [column.name for column in table.primary_key.columns]
    if is_psycopg2(connection):
        changed = [name for name in rows[0] if name not in keys]
        update = ", ".join(f'"{name}" = EXCLUDED."{name}"' for name in changed)
        target = ", ".join(f'"{key}"' for key in keys)
        tail = f"ON CONFLICT ({target}) DO UPDATE SET {update}" if changed else "ON CONFLICT DO NOTHING"
        _execute_values(connection, table, rows, tail)
        return
    statement = dialect_insert(connection)(table)
    new_values = {name: statement.excluded[name] for name in rows[0] if name not in keys}
    if new_values:
        statement = statement.on_conflict_do_update(index_elements=keys, set_=new_values)
    else:
        statement = statement.on_conflict_do_nothing()
    connection.execute(statement, rows)


def is_psycopg2(connection: sa.Connection) -> bool:
    return connection.dialect.name == "postgresql" and connection.dialect.driver == "psycopg2"


def _execute_values(connection: sa.Connection, table: sa.Table, rows: Sequence[Mapping[str, Any]], tail: str) -> int:
    """Many rows at once on PostgreSQL: COPY into a session-local staging table, then one INSERT ... SELECT
    with ``tail`` (ON CONFLICT ...). SQLAlchemy's executemany runs a statement per row on psycopg2, which
    makes a million-fan ledger take minutes; COPY also spares building a million VALUES tuples in Python."""
    columns = list(rows[0])
    as_json = {name for name in columns if isinstance(table.c[name].type, sa.JSON)}
    text = io.StringIO()
    writer = csv.writer(text, quoting=csv.QUOTE_NONNUMERIC)  # None stays an unquoted empty field: NULL
    for row in rows:
        writer.writerow(
            [json.dumps(row[name]) if name in as_json and row[name] is not None else row[name] for name in columns]
        )
    text.seek(0)
    names = ", ".join(f'"{name}"' for name in columns)
    staging = f'"staging_{table.name}"'
    cursor = connection.connection.cursor()  # the same DBAPI connection: the caller's transaction
    # Names come from our own schema, never from input.
    cursor.execute(  # the table's columns without its constraints: rows may give only some columns
        f'CREATE TEMP TABLE IF NOT EXISTS {staging} ON COMMIT DELETE ROWS AS SELECT * FROM "{table.name}" WITH NO DATA'  # noqa: S608
    )
    cursor.copy_expert(f"COPY {staging} ({names}) FROM STDIN WITH (FORMAT csv)", text)
    cursor.execute(f'INSERT INTO "{table.name}" ({names}) SELECT {names} FROM {staging} {tail}')  # noqa: S608
    written = cursor.rowcount
    cursor.execute(f"TRUNCATE {staging}")  # the caller's transaction may load the same table again
    return written
