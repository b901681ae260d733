"""Substring search over title, artist and album that stays fast at a million songs.

``LIKE '%q%'`` cannot use a B-tree, so without help every keystroke of the page's search box
scans the whole table (2.6 s at a million songs). Migration 0003 adds a trigram index where
the database offers one, and `search_clause` uses it:

- SQLite: an FTS5 table with the ``trigram`` tokenizer (SQLite 3.34 and later) holding each
  song's title, artist and album, kept in step with ``songs`` by triggers. A phrase query on
  it finds substrings of 3 or more characters, case-insensitively.
- PostgreSQL: ``pg_trgm`` GIN indexes on ``lower(title)``, ``lower(artist)`` and
  ``lower(album)``, which the planner uses for the same ``LIKE`` the fallback sends.

Shorter queries, and databases without either, fall back to ``LIKE`` over the three columns.
"""

from __future__ import annotations

import weakref

from sqlalchemy import ColumnElement, Connection, Engine, func, or_, select, table, text
from sqlalchemy.orm import Session

from db.models import Song

SEARCH_TABLE = "songs_search"
SQLITE_TRIGGERS = ("songs_search_ai", "songs_search_ad", "songs_search_au")
PG_INDEXES = {f"ix_songs_{column}_trgm": column for column in ("title", "artist", "album")}
# Trigram indexes find nothing shorter than one trigram.
MIN_INDEXED_CHARS = 3

# Whether the FTS table exists, looked up once per engine (migrations run before queries).
_fts_present: weakref.WeakKeyDictionary[Engine, bool] = weakref.WeakKeyDictionary()


def is_search_object(name: str | None) -> bool:
    """True for the tables and indexes of this module, which the models do not declare."""
    return bool(name) and (name.startswith(SEARCH_TABLE) or name in PG_INDEXES)


def sqlite_supports_trigram(conn: Connection) -> bool:
    """Whether this SQLite build has FTS5 with the trigram tokenizer."""
    try:
        conn.exec_driver_sql(
            "CREATE VIRTUAL TABLE temp.soundalike_probe USING fts5(a, tokenize='trigram')"
        )
    except Exception:  # noqa: BLE001 - any failure means "not available"
        return False
    conn.exec_driver_sql("DROP TABLE temp.soundalike_probe")
    return True


def create_sqlite_search(conn: Connection) -> None:
    """The FTS5 table over ``songs``, its triggers, and its content for the existing rows.

    A later migration that rebuilds ``songs`` with ``batch_alter_table`` on SQLite drops the
    triggers with the old table and must call this again.
    """
    columns = "title, artist, album"
    conn.exec_driver_sql(
        f"CREATE VIRTUAL TABLE {SEARCH_TABLE} USING fts5({columns}, content='songs', "
        "content_rowid='id', tokenize='trigram')"
    )
    old = "'delete', old.id, old.title, old.artist, old.album"
    new = "new.id, new.title, new.artist, new.album"
    conn.exec_driver_sql(
        f"CREATE TRIGGER songs_search_ai AFTER INSERT ON songs BEGIN "
        f"INSERT INTO {SEARCH_TABLE}(rowid, {columns}) VALUES ({new}); END"
    )
    conn.exec_driver_sql(
        f"CREATE TRIGGER songs_search_ad AFTER DELETE ON songs BEGIN "
        f"INSERT INTO {SEARCH_TABLE}({SEARCH_TABLE}, rowid, {columns}) VALUES ({old}); END"
    )
    conn.exec_driver_sql(
        f"CREATE TRIGGER songs_search_au AFTER UPDATE OF title, artist, album ON songs BEGIN "
        f"INSERT INTO {SEARCH_TABLE}({SEARCH_TABLE}, rowid, {columns}) VALUES ({old}); "
        f"INSERT INTO {SEARCH_TABLE}(rowid, {columns}) VALUES ({new}); END"
    )
    conn.exec_driver_sql(f"INSERT INTO {SEARCH_TABLE}({SEARCH_TABLE}) VALUES ('rebuild')")


def drop_sqlite_search(conn: Connection) -> None:
    for trigger in SQLITE_TRIGGERS:
        conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {trigger}")
    conn.exec_driver_sql(f"DROP TABLE IF EXISTS {SEARCH_TABLE}")


def _has_fts(session: Session) -> bool:
    engine = session.get_bind()
    assert isinstance(engine, Engine)
    if engine not in _fts_present:
        found = session.execute(
            text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = :name"),
            {"name": SEARCH_TABLE},
        ).first()
        _fts_present[engine] = found is not None
    return _fts_present[engine]


def _escape_like(q: str) -> str:
    return q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search_clause(session: Session, q: str) -> ColumnElement[bool]:
    """A WHERE clause for songs whose title, artist or album contains ``q``, case-insensitively."""
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite" and len(q) >= MIN_INDEXED_CHARS and _has_fts(session):
        phrase = '"' + q.replace('"', '""') + '"'
        fts = table(SEARCH_TABLE)
        matching = select(text("rowid")).select_from(fts).where(text(f"{SEARCH_TABLE} MATCH :p"))
        return Song.id.in_(matching.params(p=phrase))
    pattern = f"%{_escape_like(q.lower())}%"
    return or_(
        func.lower(Song.title).like(pattern, escape="\\"),
        func.lower(Song.artist).like(pattern, escape="\\"),
        func.lower(Song.album).like(pattern, escape="\\"),
    )
