"""``/similar`` latency with and without re-ranking, side by side in one process.

    PYTHONPATH=. python -m bench.rerank [--data-dir DIR] [--queries N]

Fills a library (SQLite) with the 1000 songs of the bundled GTZAN table the first time (their
features as stored rows, artists from the artist-filtered split, no audio needed), then asks
``GET /api/songs/<id>/similar?k=10`` through Flask's test client for every song in turn,
alternating plain kNN and each re-ranked variant so both see the same machine load. Prints
p50/p99 per variant and its ratio to plain kNN. The hubness cache is warm after the warm-up
round, as in a running service.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from indexer.audio.analyse import SongRecord
from indexer.library import Library
from indexer.model.gtzan_table import artist_ids, bundled_table_path, load_table
from indexer.settings import load_settings
from service import create_app

VARIANTS = {
    "plain kNN": "",
    "dedupe + max_per_artist=2": "&dedupe=true&max_per_artist=2",
    "mmr_lambda=0.7": "&mmr_lambda=0.7",
    "hubness (CSLS)": "&hubness=true",
    "all four": "&dedupe=true&max_per_artist=2&mmr_lambda=0.7&hubness=true",
    "genre filter": "&genre=jazz",
    "explain=true (no re-ranking)": "&explain=true",
}


def fill(library: Library) -> int:
    """Write the GTZAN table's songs as library rows and index them; returns the count."""
    table = load_table(bundled_table_path())
    artists = artist_ids(table)
    records = [
        SongRecord(
            path=f"/gtzan/{name}",
            content_hash=f"{i:064x}",
            size_bytes=1,
            mtime_ns=0,
            title=name,
            artist=artists[i],
            album=None,
            duration_s=30.0,
            features=table.X[i],
        )
        for i, name in enumerate(table.filenames)
    ]
    library.write_songs(records)
    library.sync_indexes()
    return len(records)


def percentiles(samples_s: list[float]) -> tuple[float, float]:
    """p50 and p99 in milliseconds."""
    ms = np.array(samples_s) * 1000
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--queries", type=int, default=1000, help="per variant")
    args = parser.parse_args()
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="soundalike-bench-"))
    settings = load_settings(environ={}, overrides={"data_dir": data_dir})
    library = Library(settings)
    if library.stats()["songs"] == 0:
        start = time.perf_counter()
        print(f"filled {fill(library)} songs in {time.perf_counter() - start:.1f} s")
    library.close()
    app = create_app({"data_dir": data_dir, "database_url": settings.database_url})
    client = app.test_client()
    index, _ = app.extensions["soundalike"].index()
    ids = [int(i) for i in index.ids()]
    samples: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for rounds, keep in ((1, False), (args.queries, True)):  # warm-up round first
        for i in range(rounds if not keep else args.queries):
            song_id = ids[i % len(ids)] if keep else ids[0]
            for name, query in VARIANTS.items():
                start = time.perf_counter()
                response = client.get(f"/api/songs/{song_id}/similar?k=10{query}")
                elapsed = time.perf_counter() - start
                assert response.status_code == 200, response.get_json()
                response.close()
                if keep:
                    samples[name].append(elapsed)
        if not keep:  # warm the hub cache for every song, as a running service would be
            for song_id in ids:
                client.get(f"/api/songs/{song_id}/similar?k=10&hubness=true").close()
    base50, base99 = percentiles(samples["plain kNN"])
    print(f"{len(ids)} songs, {args.queries} queries of k=10 per variant, interleaved")
    print(f"{'variant':<30} {'p50 ms':>8} {'p99 ms':>8} {'p50 x':>6} {'p99 x':>6}")
    for name, values in samples.items():
        p50, p99 = percentiles(values)
        print(f"{name:<30} {p50:8.2f} {p99:8.2f} {p50 / base50:6.2f} {p99 / base99:6.2f}")
    app.extensions["soundalike"].library.close()


if __name__ == "__main__":
    main()
