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

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from distributed import Client, as_completed
from distributed.diagnostics.plugin import WorkerPlugin

from indexer.audio.analyse import Skipped, analyse_for_report, warm_worker

if TYPE_CHECKING:
    from distributed import Worker

    from indexer.audio.analyse import Refreshed, SongRecord

IN_FLIGHT_PER_THREAD = 3
"""Files queued per worker thread: enough to keep workers busy, few enough to bound memory."""


class WarmUp(WorkerPlugin):
    """Compile librosa's kernels and limit BLAS to one thread on every worker, once."""

    name = "soundalike-warm-up"

    def setup(self, worker: Worker) -> None:
        """Runs when the plugin is registered and on every worker that joins later."""
        warm_worker()


def analyse_on_cluster(
    paths: Sequence[Path],
    *,
    scheduler: str | Client,
    window_s: float,
    known_audio: Mapping[str, str] | None = None,
) -> Iterator[SongRecord | Refreshed | Skipped]:
    """Analyse ``paths`` on the cluster at ``scheduler``, yielding results as they arrive.

    ``scheduler`` is an address (``tcp://host:8786``) or an existing client; ``known_audio``
    maps a path to its row's audio hash (see `analyse_file`).
    """
    known_audio = known_audio or {}
    own_client = not isinstance(scheduler, Client)
    client = Client(scheduler) if own_client else scheduler
    try:
        client.register_plugin(WarmUp())
        threads = max(1, sum(client.nthreads().values()))
        pending = iter(paths)
        futures = as_completed()
        submitted: dict[str, Path] = {}

        def submit_next() -> bool:
            path = next(pending, None)
            if path is None:
                return False
            future = client.submit(
                analyse_for_report, path, window_s, known_audio.get(str(path)), pure=False
            )
            submitted[future.key] = path
            futures.add(future)
            return True

        for _ in range(threads * IN_FLIGHT_PER_THREAD):
            if not submit_next():
                break
        for future in futures:
            path = submitted.pop(future.key)
            try:
                yield future.result()
            except Exception as exc:  # noqa: BLE001 - KilledWorker and friends skip one file
                yield Skipped(str(path), f"lost on the cluster: {type(exc).__name__}: {exc}")
            finally:
                future.release()
            submit_next()
    finally:
        if own_client:
            client.close()
