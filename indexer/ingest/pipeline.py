"""Bulk indexing: scan, compare with the database, analyse what changed, write in batches.

Stages run in one direction: paths -> plan (`indexer.ingest.plan`) -> analysed records
(worker processes, `indexer.ingest.workers`) -> database rows (this process, in batches,
`indexer.ingest.write`) -> vector index. A changed file whose row knows its audio hash is
decoded and hashed first: when only its tags changed, the row is refreshed (file state and
tags) and the features and embedding stay. A crash loses at most the batch in flight:
finished batches are committed, and the next run skips them as unchanged and syncs the index
with the rows.

Songs indexed before the network description existed (or under an older version of it) need
only that description: `index_paths` gives it to the unchanged ones among its files, and
`indexer.ingest.backfill` to every such row.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TypeVar

from indexer.audio.analyse import Refreshed, Skipped, SongRecord, WorkItem, load_kernels
from indexer.audio.file_tags import Tags
from indexer.ingest.plan import analysis_items, plan_index, sound_jobs
from indexer.ingest.workers import Result, analyse_paths
from indexer.ingest.write import IndexReport, write_results
from indexer.library import Library
from indexer.model.spaces import DEFAULT_SPACE

AnalysisResult = TypeVar("AnalysisResult", SongRecord, Refreshed)


@dataclass(frozen=True)
class KnownFile:
    """A file whose tags another program already knows (a beets item, say)."""

    path: Path
    tags: Tags


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
