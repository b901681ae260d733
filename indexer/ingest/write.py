"""Workers' results into the database, in batches of one commit each, counted in an `IndexReport`.

A crash or Ctrl-C loses at most the batch in flight: finished batches are committed, and the
next run skips them as unchanged. The index is saved now and then during a long run too.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from tqdm import tqdm

from indexer.audio.analyse import Refreshed, Skipped, SongRecord, SoundRecord
from indexer.ingest.workers import Result
from indexer.library import Library
from indexer.vectors.store import Manifest

# Save the index during long runs too, so a running service sees new songs as they come.
SYNC_EVERY_S = 60.0


@dataclass
class IndexReport:
    """What one indexing run did."""

    scanned: int = 0
    added: int = 0
    updated: int = 0
    refreshed: int = 0
    """Changed files whose audio was not: row refreshed, nothing analysed again."""
    unchanged: int = 0
    moved: int = 0
    removed: int = 0
    described: int = 0
    """Indexed songs given only the network's description (features left as they were)."""
    too_short: int = 0
    """Of ``described``: windows shorter than one 3-s patch, recorded so (not retried)."""
    skipped: list[Skipped] = field(default_factory=list)
    elapsed_s: float = 0.0
    # Of elapsed_s: readying the scaler, the genre model (trained on a fresh data dir) and the
    # analysis kernels, so the scan's own time reads true on a first run too.
    prepared_s: float = 0.0
    # Each space's index after the final sync; ``manifest`` is the default space's.
    manifests: dict[str, Manifest] = field(default_factory=dict)
    manifest: Manifest | None = None


def write_results(
    library: Library,
    results: Iterable[Result],
    report: IndexReport,
    *,
    total: int,
    known: set[str],
    batch_size: int,
    progress: bool,
    on_skip: Callable[[Skipped], None] | None = None,
) -> None:
    """Write workers' results in batches of ``batch_size``, each batch one commit, and count them.

    ``known`` holds the paths that had rows before the run (an analysed one is "updated";
    a `Refreshed` one counts as "refreshed").
    The index is saved every `SYNC_EVERY_S` too, so a running service sees new songs as they
    come. The progress bar's clock starts at the first result, so its rate and estimate leave
    out the workers' start-up. An exception (or Ctrl-C) loses only the batch not yet written.
    """
    songs: list[SongRecord] = []
    refreshes: list[Refreshed] = []
    sounds: list[SoundRecord] = []
    last_sync = time.monotonic()

    def flush() -> None:
        nonlocal last_sync
        if songs:
            library.write_songs(songs)
            for record in songs:
                if record.path in known:
                    report.updated += 1
                else:
                    report.added += 1
        if refreshes:
            report.refreshed += library.refresh_songs(refreshes)
        if sounds:
            stored = set(library.store_sounds(sounds))
            for record in sounds:
                if record.song_id not in stored:
                    report.skipped.append(Skipped(record.path, "its row changed during the run"))
                elif record.sound is None:
                    report.too_short += 1
            report.described += len(stored)
        songs.clear()
        refreshes.clear()
        sounds.clear()
        if time.monotonic() - last_sync > SYNC_EVERY_S:
            library.sync_indexes()
            last_sync = time.monotonic()

    done = 0
    bar: tqdm | None = None
    try:
        for result in results:
            if bar is None:
                # Made at the first result, counting it as the start: the rate and estimate
                # then leave out the workers' start-up, which no later track pays again.
                bar = tqdm(
                    total=total, initial=1, unit="track", disable=not progress, dynamic_ncols=True
                )
            else:
                bar.update(1)
            if isinstance(result, Skipped):
                report.skipped.append(result)
                if on_skip:
                    on_skip(result)
                continue
            if isinstance(result, SongRecord):
                songs.append(result)
            elif isinstance(result, Refreshed):
                refreshes.append(result)
            else:
                sounds.append(result)
            done += 1
            if len(songs) + len(refreshes) + len(sounds) >= batch_size:
                flush()
            bar.set_postfix(ok=done, skipped=len(report.skipped))
        flush()
    finally:
        if bar is not None:
            bar.close()
