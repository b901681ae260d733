"""Feature extraction on a Dask distributed cluster, results streamed back as they finish.

The client (``soundalike index --scheduler tcp://HOST:8786``) keeps the database: workers
only decode and analyse, and each finished file comes back to the client, which writes it in
batches like the local pool does. Every worker must see the library under the same path (a
shared or identically mounted filesystem) and have Soundalike installed.

A worker that dies (crash, OOM kill, machine lost) takes its running files with it; the
scheduler hands them to the remaining workers. A file that brought down three workers in a
row comes back as :class:`~distributed.KilledWorker` and is reported as skipped, so one
poisonous file cannot stall the run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from distributed import Client, as_completed
from distributed.diagnostics.plugin import WorkerPlugin

from indexer.audio.analyse import Skipped, warm_worker, work_for_report

if TYPE_CHECKING:
    from distributed import Worker

    from indexer.audio.analyse import Refreshed, SongRecord, SoundRecord, WorkItem

IN_FLIGHT_PER_THREAD = 3
"""Files queued per worker thread: enough to keep workers busy, few enough to bound memory."""


class WarmUp(WorkerPlugin):
    """Load the compiled median and the networks, one BLAS thread, on every worker, once."""

    name = "soundalike-warm-up"

    def setup(self, worker: Worker) -> None:
        """Runs when the plugin is registered and on every worker that joins later."""
        warm_worker()


def analyse_on_cluster(
    items: Sequence[WorkItem], *, scheduler: str | Client, window_s: float
) -> Iterator[SongRecord | Refreshed | SoundRecord | Skipped]:
    """Analyse ``items`` on the cluster at ``scheduler``, yielding results as they arrive.

    The workers run what the local pool runs (`work_for_report`): a path is analysed whole, a
    `RecheckJob` refreshed when its audio is unchanged, a `SoundJob` only described by the
    network. ``scheduler`` is an address (``tcp://host:8786``) or an existing client.
    """
    own_client = not isinstance(scheduler, Client)
    client = Client(scheduler) if own_client else scheduler
    try:
        client.register_plugin(WarmUp())
        threads = max(1, sum(client.nthreads().values()))
        pending = iter(items)
        futures = as_completed()
        submitted: dict[str, WorkItem] = {}

        def submit_next() -> bool:
            item = next(pending, None)
            if item is None:
                return False
            future = client.submit(work_for_report, item, window_s, pure=False)
            submitted[future.key] = item
            futures.add(future)
            return True

        for _ in range(threads * IN_FLIGHT_PER_THREAD):
            if not submit_next():
                break
        for future in futures:
            item = submitted.pop(future.key)
            try:
                yield future.result()
            except Exception as exc:  # noqa: BLE001 - KilledWorker and friends skip one file
                yield Skipped(os.fspath(item), f"lost on the cluster: {type(exc).__name__}: {exc}")
            finally:
                future.release()
            submit_next()
    finally:
        if own_client:
            client.close()
