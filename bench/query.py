"""Single-query latency on the demo library: FAISS alone, the library call, and over HTTP.

    python bench/query.py [--data-dir DIR] [--queries N]

Indexes ``demo/library`` into DIR first when DIR holds no library yet (SQLite), then times
``k=10`` neighbour queries for every song in turn, after a warm-up, and prints p50/p99.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from indexer.ingest.pipeline import index_paths
from indexer.ingest.scan import scan_library
from indexer.library import Library
from indexer.settings import load_settings
from service import create_app

DEMO = Path(__file__).resolve().parent.parent / "demo" / "library"


def percentiles(samples_s: list[float]) -> str:
    """p50 and p99 in milliseconds."""
    ms = np.array(samples_s) * 1000
    return f"p50 {np.percentile(ms, 50):7.3f} ms   p99 {np.percentile(ms, 99):7.3f} ms"


def timed(fn: Callable[[int], object], n: int) -> list[float]:
    """Wall time of ``n`` calls of ``fn(i)``."""
    samples = []
    for i in range(n):
        start = time.perf_counter()
        fn(i)
        samples.append(time.perf_counter() - start)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--queries", type=int, default=2000)
    args = parser.parse_args()
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="soundalike-bench-"))
    settings = load_settings(environ={}, overrides={"data_dir": data_dir})
    library = Library(settings)
    if library.stats()["songs"] == 0:
        start = time.perf_counter()
        report = index_paths(library, scan_library(DEMO), root=DEMO, workers=settings.workers)
        print(
            f"indexed {report.added} demo tracks in {time.perf_counter() - start:.1f} s "
            f"on {settings.workers} worker(s), model training included"
        )
    index, manifest = library.load_index()
    ids = index.ids()
    vectors = np.vstack([index.reconstruct(int(i)) for i in ids])
    n = args.queries
    print(f"{len(ids)} songs, {n} queries of k=10 each, after 100 warm-up queries")

    def faiss_query(i: int) -> None:
        index.search(vectors[i % len(ids)], k=11)

    def library_query(i: int) -> None:
        library.similar_to_song(int(ids[i % len(ids)]), k=10, index=index)

    app = create_app({"data_dir": data_dir, "database_url": settings.database_url})
    client = app.test_client()

    def http_query(i: int) -> None:
        response = client.get(f"/api/songs/{int(ids[i % len(ids)])}/similar?k=10")
        assert response.status_code == 200

    for name, fn in [
        ("FAISS search", faiss_query),
        ("Library.similar_to_song", library_query),
        ("GET /api/songs/<id>/similar", http_query),
    ]:
        timed(fn, 100)
        samples = timed(fn, n)
        print(f"{name:<30} {percentiles(samples)}   mean {statistics.mean(samples) * 1000:.3f} ms")


if __name__ == "__main__":
    main()
