"""Bulk indexing: scan, compare with the database, analyse what changed, write in batches.

Stages run in one direction: paths -> plan -> analysed records (worker processes) ->
database rows (this process, in batches) -> vector index. A changed file whose row knows its
audio hash is decoded and hashed first: when only its tags changed, the row is refreshed (file
state and tags) and the features and embedding stay. A crash loses at most the batch
in flight: finished batches are committed, and the next run skips them as unchanged and
syncs the index with the rows.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar

import threadpoolctl
from tqdm import tqdm

from db.repo import FileState
from indexer.audio.analyse import (
    Refreshed,
    Skipped,
    SongRecord,
    analyse_for_report,
    file_hash,
    load_kernels,
    warm_worker,
)
from indexer.audio.file_tags import Tags
from indexer.library import Library
from indexer.vectors.store import Manifest

AnalysisResult = TypeVar("AnalysisResult", SongRecord, Refreshed)

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
    skipped: list[Skipped] = field(default_factory=list)
    elapsed_s: float = 0.0
    # Of elapsed_s: readying the scaler, the genre model (trained on a fresh data dir) and the
    # analysis kernels, so the scan's own time reads true on a first run too.
    prepared_s: float = 0.0
    manifest: Manifest | None = None


@dataclass
class Plan:
    """Which files need analysis, which only moved, and which rows are gone."""

    to_analyse: list[Path] = field(default_factory=list)
    moved: list[tuple[int, Path, int]] = field(default_factory=list)
    removed: list[int] = field(default_factory=list)
    unchanged: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    known_audio: dict[str, str] = field(default_factory=dict)
    """The row's audio hash of each file to analyse that has one (see `analyse_file`)."""


@dataclass(frozen=True)
class KnownFile:
    """A file whose tags another program already knows (a beets item, say)."""

    path: Path
    tags: Tags


def plan_index(
    library: Library,
    paths: Sequence[Path],
    *,
    root: Path | None,
    recheck: Collection[str] = (),
) -> Plan:
    """Compare files on disk with the rows; ``root`` also lets rows under it be removed.

    Paths in ``recheck`` are looked at even when their size and mtime match the row: a program
    that just wrote a file's tags may have put the old modification time back.
    """
    plan = Plan()
    states = library.file_states()
    on_disk: dict[str, os.stat_result] = {}
    for path in paths:
        try:
            on_disk[str(path)] = path.stat()
        except OSError as exc:
            plan.skipped.append(Skipped(str(path), exc.strerror or str(exc)))
    missing: list[FileState] = []
    if root is not None:
        prefix = str(root).rstrip(os.sep) + os.sep
        missing = [
            s
            for p, s in states.items()
            if (p.startswith(prefix) or p == str(root)) and p not in on_disk
        ]
    missing_by_size: dict[int, list[FileState]] = {}
    for state in missing:
        missing_by_size.setdefault(state.size_bytes, []).append(state)
    gone_ids = {s.id for s in missing}
    for path_str, stat in on_disk.items():
        state = states.get(path_str)
        if (
            state
            and state.size_bytes == stat.st_size
            and state.mtime_ns == stat.st_mtime_ns
            and path_str not in recheck
        ):
            plan.unchanged += 1
            continue
        if state and state.audio_hash:
            plan.known_audio[path_str] = state.audio_hash
        path = Path(path_str)
        if state is None and stat.st_size in missing_by_size:
            moved_from = _same_content(path, missing_by_size[stat.st_size])
            if moved_from is not None:
                missing_by_size[stat.st_size].remove(moved_from)
                gone_ids.discard(moved_from.id)
                plan.moved.append((moved_from.id, path, stat.st_mtime_ns))
                continue
        plan.to_analyse.append(path)
    plan.removed = sorted(gone_ids)
    return plan


def _same_content(path: Path, candidates: list[FileState]) -> FileState | None:
    try:
        digest = file_hash(path)
    except OSError:
        return None
    return next((c for c in candidates if c.content_hash == digest), None)


def worker_start_method() -> str:
    """How worker processes start: "fork" on Linux before Python 3.12, "forkserver" on Linux
    from 3.12, "spawn" elsewhere.

    A forked worker starts with this process's modules already imported and its numba kernels
    already compiled, in milliseconds. A spawned one starts a fresh interpreter that imports
    the caller's main module (for the CLI, the whole indexer with the database, FAISS and
    XGBoost) and loads the kernels again: seconds per worker, measured in the README. Workers
    only decode and compute features, touching none of the parent's connections or thread
    pools, which is what makes forking safe here; macOS and Windows do not fork safely.
    Python 3.12 deprecates forking a process that runs threads (XGBoost's and BLAS's do), so
    there a fork server, which imports only `indexer.audio.analyse`, forks the workers instead:
    about 1 s more per pool (1.62-1.70x from 1 to 2 workers instead of 1.85-1.88x, measured
    side by side with bench/index.py).
    """
    if sys.platform != "linux":
        return "spawn"
    return "fork" if sys.version_info < (3, 12) else "forkserver"


def analyse_paths(
    paths: Sequence[Path],
    *,
    workers: int,
    window_s: float,
    scheduler: str | None = None,
    known_audio: Mapping[str, str] | None = None,
) -> Iterator[SongRecord | Refreshed | Skipped]:
    """Analyse files on ``workers`` processes (in this process when 1), yielding as they finish.

    ``known_audio`` maps a path to its row's audio hash: such a file whose samples did not
    change comes back as a `Refreshed`, not analysed again.

    At most a few files per worker are in flight, so memory stays bounded on any library.
    With ``scheduler`` (a Dask address such as ``tcp://host:8786``) the cluster's workers
    analyse instead, see :mod:`indexer.ingest.cluster`.
    """
    if scheduler is not None:
        # Imported here: dask is only needed, and only slow to import, for cluster runs.
        from indexer.ingest.cluster import analyse_on_cluster  # noqa: PLC0415

        yield from analyse_on_cluster(
            paths, scheduler=scheduler, window_s=window_s, known_audio=known_audio
        )
        return
    known_audio = known_audio or {}
    if workers <= 1 or len(paths) <= 1:
        # One BLAS thread, as in the workers: the extractor's matrix products are small, and a
        # second OpenBLAS thread cost 40% more CPU and 35% more wall time per file (measured
        # in process on 24 generated tracks, alternating file by file).
        with threadpoolctl.threadpool_limits(limits=1, user_api="blas"):
            for path in paths:
                yield analyse_for_report(path, window_s, known_audio.get(str(path)))
        return
    context = multiprocessing.get_context(worker_start_method())
    if context.get_start_method() == "fork":
        # Forked workers inherit what this process has compiled: compile once, here.
        load_kernels()
    elif context.get_start_method() == "forkserver":
        # The server imports the analysis once; every worker it forks starts with it.
        context.set_forkserver_preload(["indexer.audio.analyse"])
    pending = iter(paths)
    in_flight: set[Future] = set()
    with ProcessPoolExecutor(workers, mp_context=context, initializer=warm_worker) as pool:
        for path in pending:
            in_flight.add(
                pool.submit(analyse_for_report, path, window_s, known_audio.get(str(path)))
            )
            if len(in_flight) >= workers * 3:
                break
        while in_flight:
            done, in_flight = wait(in_flight, return_when=FIRST_COMPLETED)
            for future in done:
                yield future.result()
                nxt = next(pending, None)
                if nxt is not None:
                    in_flight.add(
                        pool.submit(analyse_for_report, nxt, window_s, known_audio.get(str(nxt)))
                    )


def index_paths(
    library: Library,
    paths: Sequence[Path],
    *,
    root: Path | None = None,
    workers: int = 1,
    batch_size: int = 32,
    progress: bool = False,
    on_skip: Callable[[Skipped], None] | None = None,
    scheduler: str | None = None,
    training_progress: Callable[[int, int], None] | None = None,
    tags: Mapping[str, Tags] | None = None,
    recheck: Collection[str] = (),
) -> IndexReport:
    """Index ``paths``: analyse new and changed files, record moves and removals, sync.

    ``scheduler`` sends the analysis to a Dask cluster instead of local processes.
    ``tags`` (by path) replace what the files' own tags say; ``recheck``, see `plan_index`.
    ``training_progress`` hears of the genre model's fits when a fresh data dir trains it
    (see `Library.prepare`); that and the kernels' warm-up happen before the progress bar starts.
    """
    started = time.monotonic()
    report = IndexReport(scanned=len(paths))
    plan = plan_index(library, paths, root=root, recheck=recheck)
    tags = tags or {}
    report.unchanged = plan.unchanged
    report.skipped.extend(plan.skipped)
    for song_id, path, mtime_ns in plan.moved:
        library.move_song(song_id, str(path), mtime_ns=mtime_ns)
        report.moved += 1
    if plan.removed:
        report.removed = library.remove_songs(plan.removed)

    known = set(library.file_states())
    if plan.to_analyse:
        # Fit or load the scaler and genre model and compile the kernels now, so the progress
        # bar's rate and estimate start from the first analysed track.
        prepare_started = time.monotonic()
        library.prepare(training_progress=training_progress)
        if scheduler is None:
            load_kernels()
        report.prepared_s = time.monotonic() - prepare_started
    batch: list[SongRecord] = []
    refreshes: list[Refreshed] = []
    last_sync = time.monotonic()

    def flush() -> None:
        nonlocal last_sync
        if not batch and not refreshes:
            return
        library.write_songs(batch)
        report.refreshed += library.refresh_songs(refreshes)
        for record in batch:
            if record.path in known:
                report.updated += 1
            else:
                report.added += 1
        batch.clear()
        refreshes.clear()
        if time.monotonic() - last_sync > SYNC_EVERY_S:
            library.sync_index()
            last_sync = time.monotonic()

    analysed = 0
    bar = tqdm(total=len(plan.to_analyse), unit="track", disable=not progress, dynamic_ncols=True)
    with bar:
        for result in analyse_paths(
            plan.to_analyse,
            workers=workers,
            window_s=library.settings.window_s,
            scheduler=scheduler,
            known_audio=plan.known_audio,
        ):
            bar.update(1)
            if isinstance(result, Skipped):
                report.skipped.append(result)
                if on_skip:
                    on_skip(result)
                continue
            if result.path in tags:
                result = with_tags(result, tags[result.path])
            if isinstance(result, Refreshed):
                refreshes.append(result)
            else:
                batch.append(result)
            analysed += 1
            if len(batch) + len(refreshes) >= batch_size:
                flush()
            bar.set_postfix(ok=analysed, skipped=len(report.skipped))
        flush()
    report.manifest = library.sync_index()
    report.elapsed_s = time.monotonic() - started
    return report


def with_tags(result: AnalysisResult, tags: Tags) -> AnalysisResult:
    """``result`` labelled with ``tags``; a duration the tags do not know stays the decoder's."""
    return replace(
        result,
        title=tags.title,
        artist=tags.artist,
        album=tags.album,
        duration_s=tags.duration_s if tags.duration_s else result.duration_s,
    )


def index_known_files(library: Library, files: Sequence[KnownFile], **options) -> IndexReport:
    """Index files another program already found and tagged: no scan, its tags win.

    The same run as `index_paths` (unchanged files skipped, tag-only changes refreshed, the
    index synced), over exactly these files; ``options`` are `index_paths`'s.
    """
    return index_paths(
        library,
        [f.path for f in files],
        tags={str(f.path): f.tags for f in files},
        **options,
    )
