"""Trigram search over title, artist and album (see `db.search`).

SQLite gets an FTS5 table with the trigram tokenizer kept in step by triggers, PostgreSQL
``pg_trgm`` GIN indexes on the lowered columns. Where neither is available (SQLite older than
3.34, or a PostgreSQL role that may not create the extension) the revision changes nothing
and search keeps scanning the table, which is correct, only slower.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

import logging

from alembic import op
from sqlalchemy.exc import DBAPIError

from db.search import (
    PG_INDEXES,
    create_sqlite_search,
    drop_sqlite_search,
    sqlite_supports_trigram,
)

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

log = logging.getLogger(__name__)


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name == "sqlite":
        if sqlite_supports_trigram(conn):
            create_sqlite_search(conn)
        else:
            log.warning("this SQLite has no FTS5 trigram tokenizer: search will scan the table")
    elif conn.dialect.name == "postgresql":
        try:
            with conn.begin_nested():  # a refused CREATE EXTENSION must not abort the migration
                conn.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        except DBAPIError as exc:
            log.warning("cannot create pg_trgm (%s): search will scan the table", exc.orig)
            return
        for name, column in PG_INDEXES.items():
            conn.exec_driver_sql(
                f"CREATE INDEX {name} ON songs USING gin (lower({column}) gin_trgm_ops)"
            )


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name == "sqlite":
        drop_sqlite_search(conn)
    elif conn.dialect.name == "postgresql":
        for name in PG_INDEXES:
            conn.exec_driver_sql(f"DROP INDEX IF EXISTS {name}")
