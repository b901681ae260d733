"""`soundalike backfill`: give indexed songs the network's description alone.

Songs indexed before the network description existed (or under an older version of it) need
only that description: this run gives it to every such row, through the same workers and
batches as indexing, without computing the 57 features again.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from indexer.audio.analyse import load_kernels
from indexer.ingest.plan import sound_jobs
from indexer.ingest.workers import analyse_paths
from indexer.ingest.write import IndexReport, write_results
from indexer.library import Library
from indexer.model.spaces import DEFAULT_SPACE


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
