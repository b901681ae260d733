"""Paths and playlists over the 1000 GTZAN songs: how smooth, how long, how fast.

    PYTHONPATH=. python -m bench.walks [--pairs N] [--seed S] [--max-per-artist N]

Writes every row of the bundled GTZAN table as a song (its features, artist = genre; no audio
is decoded) into a SQLite library in a temporary folder, then, for random song pairs from
different genres: ``find_path`` with 10 steps (smoothness against the direct hop's cosine, songs
per path, whether similarity to the goal ever fell) and a 25-song ``build_playlist`` from the
first song of each pair, capped at 5 songs per artist (smoothness against the same songs
shuffled and against no cap). ``soundalike evaluate`` measures the same with real artists.
"""

from __future__ import annotations

import argparse

import numpy as np

from indexer.evaluation.walks import (
    PATH_STEPS,
    PLAYLIST_LENGTH,
    cross_genre_pairs,
    path_scores,
    playlist_scores,
    table_library,
)
from indexer.model.gtzan_table import bundled_table_path, load_table
from indexer.model.spaces import FEATURES


def main() -> None:
    """Print the figures the README quotes."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pairs", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-per-artist", type=int, default=5)
    args = parser.parse_args()
    table = load_table(bundled_table_path())
    rng = np.random.default_rng(args.seed)
    rows = cross_genre_pairs(table.labels, n=args.pairs, rng=rng)
    with table_library(table, [str(label) for label in table.labels]) as (library, ids):
        index, _ = library.load_index(space=FEATURES)
        pairs = [(ids[a], ids[b]) for a, b in rows]
        paths = path_scores(library, index, pairs, steps=PATH_STEPS)
        lists = playlist_scores(
            library,
            index,
            [a for a, _ in pairs],
            length=PLAYLIST_LENGTH,
            max_per_artist=args.max_per_artist,
            rng=rng,
        )
    print(f"paths: {paths['pairs']} cross-genre pairs, steps={paths['steps']}")
    print(
        f"  songs per path  mean {paths['songs_mean']:.1f}, "
        f"min {paths['songs_min']}, max {paths['songs_max']}"
    )
    print(f"  smoothness  mean {paths['smoothness']:.3f} (direct hop {paths['direct_hop']:.3f})")
    print(f"  similarity to goal fell in {paths['goal_similarity_fell']} paths")
    print(f"  time                 p50 {paths['p50_ms']:.1f} ms")
    print(
        f"playlists: {lists['length']} songs from one seed, "
        f"at most {lists['max_per_artist']} per artist (genre)"
    )
    print(
        f"  smoothness  mean {lists['smoothness']:.3f} (shuffled {lists['shuffled']:.3f}, "
        f"no cap {lists['no_cap']:.3f})"
    )
    print(f"  time                 p50 {lists['p50_ms']:.1f} ms")


if __name__ == "__main__":
    main()
