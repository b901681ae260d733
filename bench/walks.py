"""Paths and playlists over the 1000 GTZAN songs: how smooth, how long, how fast.

    PYTHONPATH=. python -m bench.walks [--data-dir DIR] [--pairs N] [--seed S]

Writes every row of the bundled GTZAN table as a song (its features, artist = genre; no audio
is decoded) into a fresh SQLite library in DIR, then, for random song pairs from different
genres: ``find_path`` with 10 steps (smoothness against the direct hop's cosine, songs per path,
whether similarity to the goal ever fell) and a 25-song ``build_playlist`` from the first song
of each pair, capped at 5 songs per artist (smoothness against the same songs shuffled).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from indexer.analyse import SongRecord
from indexer.library import Library
from indexer.playlist import build_playlist
from indexer.settings import load_settings
from indexer.song_path import find_path
from indexer.table import bundled_table_path, load_table
from indexer.walk import smoothness, tracks


def fill(library: Library) -> tuple[list[int], list[str]]:
    """Every table row as a song; returns ids and genres in table order."""
    table = load_table(bundled_table_path())
    records = [
        SongRecord(f"/gtzan/{name}", name, 0, 0, name, str(label), None, 30.0, row)
        for name, label, row in zip(table.filenames, table.labels, table.X, strict=True)
    ]
    ids = library.write_songs(records)
    library.sync_index()
    return ids, [str(label) for label in table.labels]


def main() -> None:
    """Print the figures the README quotes."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument("--pairs", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="soundalike-walks-"))
    library = Library(load_settings(overrides={"data_dir": data_dir, "workers": 1}))
    ids, genres = fill(library)
    index, _ = library.load_index()
    rng = np.random.default_rng(args.seed)
    pairs = []
    while len(pairs) < args.pairs:
        a, b = rng.choice(len(ids), size=2, replace=False)
        if genres[a] != genres[b]:
            pairs.append((ids[a], ids[b]))

    path_s, smooth, direct, lengths, fell = [], [], [], [], 0
    for a, b in pairs:
        start = time.perf_counter()
        path = find_path(library, a, b, steps=10, index=index)
        path_s.append(time.perf_counter() - start)
        smooth.append(path.smoothness)
        direct.append(path.steps[0].similarity_to_goal)
        lengths.append(len(path.steps))
        goal = [s.similarity_to_goal for s in path.steps]
        fell += goal != sorted(goal)
    print(f"paths: {len(pairs)} cross-genre pairs, steps=10")
    print(f"  songs per path  mean {np.mean(lengths):.1f}, min {min(lengths)}, max {max(lengths)}")
    print(f"  smoothness  mean {np.mean(smooth):.3f} (direct hop cosine {np.mean(direct):.3f})")
    print(f"  similarity to goal fell in {fell} paths")
    print(f"  time                 p50 {1000 * np.median(path_s):.1f} ms")

    list_s, list_smooth, shuffled = [], [], []
    for a, _ in pairs:
        start = time.perf_counter()
        playlist = build_playlist(library, [a], length=25, max_per_artist=5, index=index)
        list_s.append(time.perf_counter() - start)
        list_smooth.append(playlist.smoothness)
        vectors = [t.vector for t in tracks(library, index, [e.song.id for e in playlist.entries])]
        order = rng.permutation(len(vectors))
        shuffled.append(smoothness([vectors[i] for i in order]))
    print("playlists: 25 songs from one seed, at most 5 per artist (genre)")
    print(f"  smoothness  mean {np.mean(list_smooth):.3f} (shuffled {np.mean(shuffled):.3f})")
    print(f"  time                 p50 {1000 * np.median(list_s):.1f} ms")
    library.close()


if __name__ == "__main__":
    main()
