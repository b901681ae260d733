"""A library of real GTZAN feature rows (no extraction), for playlist and path tests.

Each song's features are one row of the bundled table; its artist is the row's genre, so the
artist cap has something to cap; its path is a small real file, so exports can be checked.
"""

from __future__ import annotations

from pathlib import Path

from indexer.audio.analyse import SongRecord
from indexer.library import Library
from indexer.model.gtzan_table import bundled_table_path, load_table

GENRES = ("blues", "classical", "jazz", "metal", "pop", "reggae")
PER_GENRE = 8


def fill_gtzan_library(library: Library, music: Path) -> list[int]:
    """Write ``PER_GENRE`` songs of each of ``GENRES``; returns their ids, in table order."""
    table = load_table(bundled_table_path())
    records = []
    counts = dict.fromkeys(GENRES, 0)
    for name, label, row in zip(table.filenames, table.labels, table.X, strict=True):
        if label not in counts or counts[label] >= PER_GENRE:
            continue
        counts[label] += 1
        path = music / str(label) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"RIFF")  # only its path matters here
        records.append(
            SongRecord(
                path=str(path),
                content_hash=name,
                size_bytes=4,
                mtime_ns=0,
                title=Path(name).stem,
                artist=str(label),
                album=None,
                duration_s=30.0 + counts[label],
                features=row,
            )
        )
    ids = library.write_songs(records)
    library.sync_indexes()
    return ids
