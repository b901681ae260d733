"""Processes that open and write a fresh SQLite file at the same moment all get through."""

from __future__ import annotations

import multiprocessing
import sqlite3
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path

from db.session import SQLITE_BUSY_TIMEOUT_S, enable_wal

ROUNDS = 30
PROCESSES = 3


def _open_and_write(path: str, barrier: Barrier, results: Queue[str]) -> None:
    try:
        barrier.wait(timeout=30)
        # What every engine connection does first, then what migrating does: a write.
        connection = sqlite3.connect(path, timeout=SQLITE_BUSY_TIMEOUT_S, isolation_level=None)
        enable_wal(connection.cursor())
        connection.execute("BEGIN IMMEDIATE")
        connection.execute("CREATE TABLE IF NOT EXISTS t (x INTEGER)")
        connection.execute("INSERT INTO t VALUES (1)")
        connection.execute("COMMIT")
        results.put(connection.execute("PRAGMA journal_mode").fetchone()[0])
        connection.close()
    except sqlite3.Error as exc:
        results.put(repr(exc))


def test_first_connections_to_a_fresh_file_all_switch_it_to_wal(tmp_path: Path) -> None:
    # Without waiting in enable_wal, about half of such rounds had a process fail at once with
    # "database is locked" (the busy timeout does not cover switching the journal mode).
    context = multiprocessing.get_context("fork")
    for round_ in range(ROUNDS):
        path = str(tmp_path / f"fresh{round_}.sqlite")
        barrier = context.Barrier(PROCESSES)
        results = context.Queue()
        procs = [
            context.Process(target=_open_and_write, args=(path, barrier, results))
            for _ in range(PROCESSES)
        ]
        for proc in procs:
            proc.start()
        outcomes = [results.get(timeout=60) for _ in procs]
        for proc in procs:
            proc.join(timeout=60)
        assert outcomes == ["wal"] * PROCESSES, (round_, outcomes)
