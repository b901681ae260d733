"""`Library` is the one way in to the database: no code outside it (and `db/`) opens a session
or calls a `db.repo` query, so a query changes in one place and the hot path stays measured.

Type imports from `db.repo` or its modules (`SongRow`, `ListingKey`, `FileState`) are allowed:
they are what `Library` hands back.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHECKED = ("indexer", "service", "bench", "beetsplug")
OWNERS = {
    Path("indexer/library.py"),
    Path("indexer/library_reads.py"),
    Path("indexer/library_spaces.py"),
    Path("indexer/library_indexes.py"),
    Path("indexer/library_writes.py"),
}
# Methods that open a database session, and the functions that make one (a bare ``_session()``
# elsewhere is the ONNX runtime's, not the database's).
SESSION_METHODS = {"session", "_session", "write_session"}
SESSION_FUNCTIONS = {"Session", "single_reader", "writer"}


def _is_repo(module: str | None) -> bool:
    """``db.repo`` or one of its modules (``db.repo.songs``, ...)."""
    return module == "db.repo" or (module or "").startswith("db.repo.")


def violations(source: str) -> list[str]:
    """What in ``source`` reaches the database behind `Library`'s back, with line numbers."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            func = node.func
            if (isinstance(func, ast.Attribute) and func.attr in SESSION_METHODS) or (
                isinstance(func, ast.Name) and func.id in SESSION_FUNCTIONS
            ):
                name = func.attr if isinstance(func, ast.Attribute) else func.id
                found.append(f"line {node.lineno}: opens a session with {name}()")
        elif isinstance(node, ast.ImportFrom) and node.module in ("db", "db.session"):
            if node.module == "db.session" or any(a.name == "repo" for a in node.names):
                found.append(f"line {node.lineno}: imports {node.module} (queries and sessions)")
        elif isinstance(node, ast.ImportFrom) and _is_repo(node.module):
            found += [
                f"line {node.lineno}: imports the query {a.name} from {node.module}"
                for a in node.names
                if not a.name[:1].isupper()
            ]
        elif isinstance(node, ast.ImportFrom) and node.module == "sqlalchemy.orm":
            found.append(f"line {node.lineno}: imports sqlalchemy.orm")
        elif isinstance(node, ast.Import):
            found += [
                f"line {node.lineno}: imports {a.name}"
                for a in node.names
                if _is_repo(a.name) or a.name == "db.session"
            ]
    return found


def checked_files() -> list[Path]:
    files = [p for top in CHECKED for p in sorted((ROOT / top).rglob("*.py"))]
    return [p for p in files if p.relative_to(ROOT) not in OWNERS]


def test_only_library_opens_sessions_and_queries_repo() -> None:
    files = checked_files()
    assert len(files) > 50  # the walk found the code, not an empty folder
    problems = {
        str(path.relative_to(ROOT)): found
        for path in files
        if (found := violations(path.read_text(encoding="utf-8")))
    }
    assert problems == {}


@pytest.mark.parametrize(
    "source",
    [
        "with library.session() as s:\n    pass\n",
        "with ctx.library._session() as s:\n    pass\n",
        "with library.write_session() as s:\n    pass\n",
        "from db import repo\n",
        "from db.repo import get_songs\n",
        "import db.repo\n",
        "from db.repo.songs import get_songs\n",
        "import db.repo.streams\n",
        "from db.session import writer\n",
        "from sqlalchemy.orm import Session\n",
        "session = Session(engine)\n",
    ],
)
def test_the_check_catches_a_way_round(source: str) -> None:
    assert violations(source)


def test_the_check_allows_library_methods_and_row_types() -> None:
    source = (
        "from db.repo import ListingKey, SongRow\n"
        "from db.repo.files import FileState\n"
        "songs = library.get_songs([1, 2])\n"
        "song = library.get_song(1)\n"
        "runtime = _session('model')\n"
    )
    assert violations(source) == []
