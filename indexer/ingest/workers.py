"""Where files are analysed: on worker processes of this machine, or on a Dask cluster.

`map_in_workers` runs any picklable task over items on a bounded process pool (evaluation
reuses it); `analyse_paths` runs the analysis of `indexer.audio.analyse` on it, or on a
cluster's workers (`indexer.ingest.cluster`).
"""

from __future__ import annotations

import multiprocessing
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from functools import partial
from typing import TypeVar

import threadpoolctl

from indexer.audio.analyse import (
    Refreshed,
    Skipped,
    SongRecord,
    SoundRecord,
    WorkItem,
    load_kernels,
    warm_worker,
    work_for_report,
)

T = TypeVar("T")
R = TypeVar("R")
Result = SongRecord | Refreshed | SoundRecord | Skipped


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
