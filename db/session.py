"""Engines for SQLite and PostgreSQL, with the schema brought up to date on first use."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"

# How long a SQLite writer waits for another writer before giving up, in seconds.
SQLITE_BUSY_TIMEOUT_S = 30
# Execution option marking a connection whose transactions write (see ``writer``).
WRITER_OPTION = "soundalike_writer"
# Execution option marking a connection that runs one SELECT and nothing else (see
# ``single_reader``).
SINGLE_READ_OPTION = "soundalike_single_read"
# Any fixed number: PostgreSQL advisory lock held by a writing transaction.
WRITE_LOCK_KEY = 0x50_4E_44_57
# Any fixed number: PostgreSQL advisory lock taken while migrating.
MIGRATION_LOCK_KEY = 0x50_4E_44_4C
MIGRATION_ATTEMPTS = 3


def alembic_config(engine: Engine) -> Config:
    """An Alembic config pointing at our migrations and the engine's URL."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    return cfg


def create_db_engine(url: str) -> Engine:
    """Create an engine; SQLite gets WAL so the service can read while the indexer writes.

    SQLite transactions are begun by us rather than by the sqlite3 module, which starts them
    lazily at the first write. A transaction that reads and then writes would otherwise hold
    a read snapshot that another writer can make stale, and SQLite then fails the write at
    once with "database is locked" instead of waiting. Writers (see :func:`writer`) begin
    with ``BEGIN IMMEDIATE``, so they queue on the busy timeout instead.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: sqlite3.Connection, _record: object) -> None:
            cursor = dbapi_conn.cursor()
            enable_wal(cursor)
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()
            dbapi_conn.isolation_level = None  # no implicit BEGIN: _sqlite_begin emits it

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Connection) -> None:
            options = conn.get_execution_options()
            if options.get(SINGLE_READ_OPTION, False):
                return  # one statement is atomic on its own; BEGIN would only cost a round trip
            conn.exec_driver_sql("BEGIN IMMEDIATE" if options.get(WRITER_OPTION) else "BEGIN")

        return engine
    engine = create_engine(url, pool_pre_ping=True)

    @event.listens_for(engine, "begin")
    def _pg_write_lock(conn: Connection) -> None:
        if conn.get_execution_options().get(WRITER_OPTION, False):
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": WRITE_LOCK_KEY})

    return engine


def enable_wal(cursor: sqlite3.Cursor) -> None:
    """Switch the database to WAL, waiting for other processes doing the same.

    Two processes opening a fresh database at once both switch it, and SQLite fails the loser
    at once with "database is locked": the busy timeout does not cover this switch (measured:
    half of 100 rounds of three processes failed). Retrying until the busy timeout makes the
    loser find the database already in WAL.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_S
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def writer(engine: Engine) -> Engine:
    """The same engine, whose transactions hold the library's one write lock from the start.

    Writers look a path up before inserting it; two doing that at once would both insert
    it. With the lock they run one after the other: SQLite's ``BEGIN IMMEDIATE`` waits up to
    the busy timeout, PostgreSQL's transaction-level advisory lock waits until the other
    commits. Readers are never blocked.
    """
    return engine.execution_options(**{WRITER_OPTION: True})


def single_reader(engine: Engine) -> Engine:
    """The same engine, for connections that run exactly one SELECT.

    On SQLite such a statement reads one consistent snapshot without an explicit transaction,
    and the BEGIN that `create_db_engine` otherwise sends is a round trip the service's hot
    path can spare. PostgreSQL is unaffected.
    """
    return engine.execution_options(**{SINGLE_READ_OPTION: True})


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None for an empty database."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str:
    """The newest revision among our migrations."""
    script = ScriptDirectory(str(MIGRATIONS_DIR))
    head = script.get_current_head()
    assert head is not None
    return head


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply migrations up to ``revision`` inside one transaction."""
    cfg = alembic_config(engine)
    with writer(engine).begin() as conn:
        if engine.dialect.name == "postgresql":
            # Processes starting on a fresh database at once would both create the tables;
            # the lock makes the later one wait, then find the schema current (DDL is
            # transactional in PostgreSQL). Released at commit.
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Revert migrations down to ``revision`` (``base`` empties the schema)."""
    cfg = alembic_config(engine)
    with writer(engine).begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)


def open_database(url: str) -> Engine:
    """Create an engine and migrate the schema to head when it is behind."""
    engine = create_db_engine(url)
    for attempt in range(MIGRATION_ATTEMPTS):
        if current_revision(engine) == head_revision():
            break
        try:
            upgrade(engine)
        except DBAPIError:
            # Another process migrated the same database at the same moment (SQLite's
            # BEGIN IMMEDIATE and PostgreSQL's advisory lock make this rare): look again, and
            # give up only if it is still behind.
            if attempt == MIGRATION_ATTEMPTS - 1:
                raise
            time.sleep(0.2 * (attempt + 1))
    return engine
