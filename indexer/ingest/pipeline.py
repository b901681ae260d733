"""Bulk indexing: scan, compare with the database, analyse what changed, write in batches.

Stages run in one direction: paths -> plan -> analysed records (worker processes) ->
database rows (this process, in batches) -> vector index. A changed file whose row knows its
audio hash is decoded and hashed first: when only its tags changed, the row is refreshed (file
state and tags) and the features and embedding stay. A crash loses at most the batch
in flight: finished batches are committed, and the next run skips them as unchanged and
syncs the index with the rows.

Songs indexed before the network description existed (or under an older version of it) need
only that description: `index` gives it to the unchanged ones among its files, and
`backfill_sounds` to every such row, through the same workers and batches, without
computing the 57 features again.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import TypeVar

import threadpoolctl
from tqdm import tqdm

from db.repo import FileState
from indexer.audio.analyse import (
    RecheckJob,
    Refreshed,
    Skipped,
    SongRecord,
    SoundJob,
    SoundRecord,
    WorkItem,
    file_hash,
    load_kernels,
    warm_worker,
    work_for_report,
)
from indexer.audio.file_tags import Tags
from indexer.library import Library
from indexer.model.spaces import DEFAULT_SPACE
from indexer.vectors.store import Manifest

T = TypeVar("T")
R = TypeVar("R")
AnalysisResult = TypeVar("AnalysisResult", SongRecord, Refreshed)
Result = SongRecord | Refreshed | SoundRecord | Skipped

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


@dataclass
class Plan:
    """Which files need analysis, which only moved, and which rows are gone."""

    to_analyse: list[Path] = field(default_factory=list)
    moved: list[tuple[int, Path, int]] = field(default_factory=list)
    removed: list[int] = field(default_factory=list)
    unchanged: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    known_audio: dict[str, str] = field(default_factory=dict)
    """The row's audio hash of each file to analyse that has one (see `analysis_items`)."""


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


def analysis_items(plan: Plan, *, lacking_sound: Collection[str]) -> list[Path | RecheckJob]:
    """The plan's files as worker items: a `RecheckJob` where a refresh can stand in for analysis.

    That is a changed file whose row knows its audio hash and has the current network
    description; every other file is analysed whole. A row in ``lacking_sound`` (paths) would
    still lack the description after a refresh, and a `SoundJob` made from its old size and
    mtime would find the file changed: analysing it whole fills it in the same run. Each job
    carries its own hash, so a worker receives one string per file, not the plan's mapping.
    """
    items: list[Path | RecheckJob] = []
    for path in plan.to_analyse:
        known = plan.known_audio.get(str(path))
        recheck = known is not None and str(path) not in lacking_sound
        items.append(RecheckJob(str(path), known) if recheck else path)
    return items


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
    items: Sequence[WorkItem],
    *,
    workers: int,
    window_s: float,
    scheduler: str | None = None,
    features: bool = True,
) -> Iterator[Result]:
    """Analyse files on ``workers`` processes (in this process when 1), yielding as they finish.

    A path is analysed whole (`SongRecord`); a `RecheckJob` comes back as a `Refreshed` when
    its audio did not change, else analysed whole; a `SoundJob` gets only the network's
    description (`SoundRecord`). ``features=False`` says no item is a path or a `RecheckJob`,
    so workers skip loading the feature kernels. At most a few files per worker are in
    flight, so memory stays bounded on any library. With ``scheduler`` (a Dask address such as
    ``tcp://host:8786``) the cluster's workers analyse instead, see
    :mod:`indexer.ingest.cluster`.
    """
    if scheduler is not None:
        # Imported here: dask is only needed, and only slow to import, for cluster runs.
        from indexer.ingest.cluster import analyse_on_cluster  # noqa: PLC0415

        yield from analyse_on_cluster(items, scheduler=scheduler, window_s=window_s)
        return
    yield from map_in_workers(
        partial(work_for_report, window_s=window_s), items, workers=workers, features=features
    )


def map_in_workers(
    task: Callable[[T], R],
    items: Sequence[T],
    *,
    workers: int,
    preload: Sequence[str] = ("indexer.audio.analyse",),
    features: bool = True,
) -> Iterator[R]:
    """``task(item)`` for every item on ``workers`` processes (in this one when 1), as they finish.

    At most a few items per worker are in flight, so memory stays bounded on any library. The
    workers are warmed (`indexer.audio.analyse.warm_worker`: kernels compiled, the network's
    sessions loaded, one BLAS thread) before the first item. ``task`` must be picklable: a
    module-level function, or a `functools.partial` of one; ``preload`` names the modules a
    fork server imports once for every worker (``task``'s own module among them).
    ``features=False`` skips loading the feature kernels (tasks that only run the network).
    """
    if workers <= 1 or len(items) <= 1:
        # One BLAS thread, as in the workers: the extractor's matrix products are small, and a
        # second OpenBLAS thread cost 40% more CPU and 35% more wall time per file (measured
        # in process on 24 generated tracks, alternating file by file).
        with threadpoolctl.threadpool_limits(limits=1, user_api="blas"):
            for item in items:
                yield task(item)
        return
    context = multiprocessing.get_context(worker_start_method())
    if context.get_start_method() == "fork":
        # Forked workers inherit what this process has compiled: compile once, here.
        load_kernels(features=features)
    elif context.get_start_method() == "forkserver":
        # The server imports the analysis once; every worker it forks starts with it.
        context.set_forkserver_preload(list(preload))
    pending = iter(items)
    in_flight: set[Future] = set()
    with ProcessPoolExecutor(
        workers, mp_context=context, initializer=warm_worker, initargs=(features,)
    ) as pool:
        for item in pending:
            in_flight.add(pool.submit(task, item))
            if len(in_flight) >= workers * 3:
                break
        while in_flight:
            done, in_flight = wait(in_flight, return_when=FIRST_COMPLETED)
            for future in done:
                yield future.result()
                nxt = next(pending, None)
                if nxt is not None:
                    in_flight.add(pool.submit(task, nxt))


def sound_jobs(states: Iterable[FileState]) -> list[SoundJob]:
    """The `SoundJob` of each row that lacks the network's description."""
    return [SoundJob(s.id, s.path, s.size_bytes, s.mtime_ns) for s in states]


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

    Changed files whose audio did not change (a tag write) are refreshed, not analysed again
    (see `analysis_items`). Unchanged (or moved) files whose row lacks the current network
    description get that description alone, in the same run. ``scheduler`` sends the work to
    a Dask cluster instead of local processes. ``tags`` (by path) replace what the files' own
    tags say; ``recheck``, see `plan_index`. ``training_progress`` hears of the genre model's
    fits when a fresh data dir trains it (see `Library.prepare`); that and the kernels'
    warm-up happen before the progress bar starts.
    """
    started = time.monotonic()
    report = IndexReport(scanned=len(paths))
    plan = plan_index(library, paths, root=root, recheck=recheck)
    report.unchanged = plan.unchanged
    report.skipped.extend(plan.skipped)
    for song_id, path, mtime_ns in plan.moved:
        library.move_song(song_id, str(path), mtime_ns=mtime_ns)
        report.moved += 1
    if plan.removed:
        report.removed = library.remove_songs(plan.removed)

    # Read after the moves, so a moved row is described under its new path.
    lacking = {s.path: s for s in library.files_missing_embeddings()}
    on_disk = {str(p) for p in paths} - {s.path for s in plan.skipped}
    on_disk -= {str(p) for p in plan.to_analyse}
    jobs = sound_jobs(s for path, s in lacking.items() if path in on_disk)
    items: list[WorkItem] = [*analysis_items(plan, lacking_sound=lacking.keys()), *jobs]
    if items:
        # Fit or load the scaler and genre model and compile the kernels now, so the progress
        # bar's rate and estimate start from the first analysed track.
        prepare_started = time.monotonic()
        library.prepare(training_progress=training_progress)
        if scheduler is None:
            load_kernels(features=bool(plan.to_analyse))
        report.prepared_s = time.monotonic() - prepare_started
    results = analyse_paths(
        items,
        workers=workers,
        window_s=library.settings.window_s,
        scheduler=scheduler,
        features=bool(plan.to_analyse),
    )
    write_results(
        library,
        labelled(results, tags) if tags else results,
        report,
        total=len(items),
        known=set(library.file_states()),
        batch_size=batch_size,
        progress=progress,
        on_skip=on_skip,
    )
    report.manifests = library.sync_indexes()
    report.manifest = report.manifests[DEFAULT_SPACE]
    report.elapsed_s = time.monotonic() - started
    return report


def backfill_sounds(
    library: Library,
    *,
    workers: int = 1,
    batch_size: int = 32,
    progress: bool = False,
    scheduler: str | None = None,
    training_progress: Callable[[int, int], None] | None = None,
) -> IndexReport:
    """Give every song that lacks the current network description that description alone.

    The rows to do are read from the database (`Library.files_missing_embeddings`), so an
    interrupted run resumes with what is left: each batch is committed as it fills. Files
    that are gone, unreadable or changed since they were indexed are reported as skipped and
    stay missing (``soundalike index`` removes or re-analyses them). ``scanned`` counts the
    rows that were missing when the run began.
    """
    started = time.monotonic()
    jobs = sound_jobs(library.files_missing_embeddings())
    report = IndexReport(scanned=len(jobs))
    if jobs:
        prepare_started = time.monotonic()
        # The genre model's version goes into the index manifest at the final sync.
        library.prepare(training_progress=training_progress)
        if scheduler is None:
            load_kernels(features=False)
        report.prepared_s = time.monotonic() - prepare_started
    write_results(
        library,
        analyse_paths(
            jobs,
            workers=workers,
            window_s=library.settings.window_s,
            scheduler=scheduler,
            features=False,
        ),
        report,
        total=len(jobs),
        known=set(),
        batch_size=batch_size,
        progress=progress,
    )
    report.manifests = library.sync_indexes()
    report.manifest = report.manifests[DEFAULT_SPACE]
    report.elapsed_s = time.monotonic() - started
    return report


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


def labelled(results: Iterable[Result], tags: Mapping[str, Tags]) -> Iterator[Result]:
    """``results`` with each analysed or refreshed file labelled with its ``tags`` (by path).

    A `SoundRecord` keeps its row's labels: its file is unchanged, so nothing asked for it.
    """
    for result in results:
        if isinstance(result, SongRecord | Refreshed) and result.path in tags:
            result = with_tags(result, tags[result.path])
        yield result


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
