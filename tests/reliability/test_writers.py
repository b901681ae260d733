"""Two writers at once, on SQLite and PostgreSQL: serialized, nothing lost or corrupted."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sqlalchemy import create_engine

from db.session import current_revision, head_revision
from indexer.settings import Settings
from tests.helpers import write_tones
from tests.reliability.procs import CLI, assert_consistent, cli_env

MIGRATE = "import sys; from db.session import open_database; open_database(sys.argv[1]).dispose()"


def test_two_processes_migrate_a_fresh_database_at_once(db_url: str) -> None:
    procs = [
        subprocess.Popen([sys.executable, "-c", MIGRATE, db_url], stderr=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    errors = [proc.communicate(timeout=120)[1] for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0, 0, 0], errors
    engine = create_engine(db_url)
    assert current_revision(engine) == head_revision()
    engine.dispose()


def test_two_adds_at_once(tmp_path: Path, settings: Settings) -> None:
    a = write_tones(tmp_path / "a", [250, 350, 450], seconds=1.0)
    b = write_tones(tmp_path / "b", [550, 650, 750], seconds=1.0)
    procs = [
        subprocess.Popen(
            [*CLI, "add", *map(str, files)],
            env=cli_env(settings),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for files in (a, b)
    ]
    outputs = [proc.communicate(timeout=300) for proc in procs]
    # Whole stderr in the message: a repr of the outputs is cut before the traceback's end.
    assert [proc.returncode for proc in procs] == [0, 0], "\n".join(err for _, err in outputs)
    assert_consistent(settings, {str(p) for p in [*a, *b]})
