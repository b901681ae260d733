"""Search at scale: exact flat, IVF and HNSW indexes against the seed's N x N cosine matrix.

    PYTHONPATH=. python bench/search.py [--space features|sound] [--sizes 10000,100000,1000000]
        [--kinds flat,ivf,hnsw]

``--space features`` (the default): raw feature rows are drawn from a Gaussian mixture (10
full-covariance components) fitted to the standardized GTZAN table, then go through the
library's default transform (the learned metric, fitted on the table as on a fresh data dir)
and L2 normalization, as real songs do; the real table (1000 songs) is measured too.
``--space sound``: 457-d sound vectors drawn from a model fitted to real network embeddings
(`bench.sound_space`), the real windows measured too; its kinds default to flat, ivf and
ivf-sq8. Queries are 1000 further draws, not in the index. For each size and kind it prints
build time, recall@10 against exact search, single-query p50/p99 on one thread, batch
throughput (all queries in one call, all cores), index size on disk, and the resident memory
of a fresh process that loads the index (memory-mapped, as the service does) with its load
time: right after one query, and after it has answered the 1000 queries one by one
(memory-mapped lists count once a query touched them, so this is what a running service
holds). The seed's approach (the full cosine matrix) runs where it fits in a quarter of the
available memory; elsewhere the line says where it stops. For IVF kinds, songs of the library
are queried too (what the service is asked most), with the ``nprobe`` tuned for them at build
time against the default, interleaved.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import faiss
import numpy as np
from sklearn.mixture import GaussianMixture

from indexer.model.gtzan_table import bundled_table_path, load_table
from indexer.model.scaler import DEFAULT_METRIC, fit_scaler
from indexer.vectors.index import VectorIndex
from indexer.vectors.kinds import IVF_KINDS, TIE_TOLERANCE
from indexer.vectors.store import save_index

K = 10
N_QUERIES = 1000


def gtzan_sampler(seed: int = 0) -> tuple[np.ndarray, Callable[..., np.ndarray]]:
    """``(real table vectors, draw(n) -> unit vectors)`` from a mixture fitted to GTZAN."""
    table = load_table(bundled_table_path())
    scaler = fit_scaler(table.X, source_sha256="bench", labels=table.labels, metric=DEFAULT_METRIC)
    mean, std = table.X.mean(axis=0), table.X.std(axis=0)
    gmm = GaussianMixture(n_components=10, covariance_type="full", random_state=seed)
    gmm.fit((table.X - mean) / std)

    def draw(n: int, *, draw_seed: int) -> np.ndarray:
        gmm.random_state = draw_seed
        out = np.empty((n, scaler.dim), np.float32)
        for start in range(0, n, 200_000):
            rows, _ = gmm.sample(min(200_000, n - start))
            # Variance columns must stay positive for the metric's log: clip the rare draw
            # below the table's smallest value.
            raw = np.maximum(rows * std + mean, table.X.min(axis=0))
            out[start : start + len(rows)] = scaler.transform(raw)
        # GaussianMixture.sample returns rows grouped by component: shuffle like a real library.
        return out[np.random.default_rng(draw_seed).permutation(n)]

    return scaler.transform(table.X).astype(np.float32), draw


def percentile_ms(samples_s: list[float], q: float) -> float:
    return float(np.percentile(np.array(samples_s) * 1000, q))


def single_queries(index: VectorIndex, queries: np.ndarray) -> tuple[list[float], list[float]]:
    """Wall and thread CPU time of one ``k=10`` query at a time, one thread, after 50 warm-up
    queries. FAISS searches in the calling thread then, so the CPU time is the query's own
    work, without the waits for a core that a shared machine adds to the wall time."""
    for q in queries[:50]:
        index.search(q, k=K)
    wall, cpu = [], []
    for q in queries:
        start, start_cpu = time.perf_counter(), time.thread_time()
        index.search(q, k=K)
        cpu.append(time.thread_time() - start_cpu)
        wall.append(time.perf_counter() - start)
    return wall, cpu


def library_song_queries(
    index: VectorIndex, exact: VectorIndex, vectors: np.ndarray, ids: np.ndarray
) -> None:
    """Songs of the library as queries (the service's hot path), their own id excluded:
    recall and latency with the tuned ``nprobe_library`` against the default ``nprobe``,
    interleaved query by query so that both see the same machine. A found song counts when its
    exact cosine reaches the K-th exact one (ids are row numbers here), so that the approximate
    scores of a compressed index neither hide a right song nor pass a wrong one."""
    rows = np.random.default_rng(99).choice(len(ids), min(N_QUERIES, len(ids)), replace=False)
    songs, own = vectors[rows], ids[rows]
    truth_scores, truth = exact.search(songs, k=K + 1)
    # The K-th exact score without the song itself: songs tied with it are right answers too.
    kth = np.array([s[t != o][K - 1] for s, t, o in zip(truth_scores, truth, own, strict=True)])
    faiss.omp_set_num_threads(1)
    times: dict[bool, list[float]] = {False: [], True: []}
    cpu: dict[bool, list[float]] = {False: [], True: []}
    found: dict[bool, list[tuple[np.ndarray, np.ndarray]]] = {False: [], True: []}
    for q in songs[:50]:
        index.search(q, k=K + 1, library_songs=True)
    for q in songs:
        for tuned in (False, True):
            start, start_cpu = time.perf_counter(), time.thread_time()
            _, hit = index.search(q, k=K + 1, library_songs=tuned)
            cpu[tuned].append(time.thread_time() - start_cpu)
            times[tuned].append(time.perf_counter() - start)
            exact_scores = np.where(hit[0] >= 0, vectors[np.maximum(hit[0], 0)] @ q, -np.inf)
            found[tuned].append((exact_scores, hit[0]))
    faiss.omp_set_num_threads(os.cpu_count() or 1)

    def recall(hits: list[tuple[np.ndarray, np.ndarray]]) -> float:
        return float(
            np.mean(
                [
                    np.count_nonzero(s[(h != o) & (h >= 0)][:K] >= t - TIE_TOLERANCE) / K
                    for (s, h), o, t in zip(hits, own, kth, strict=True)
                ]
            )
        )

    for tuned, label in ((False, f"nprobe {index.params['nprobe']}"),
                         (True, f"nprobe_library {index.params['nprobe_library']}")):  # fmt: skip
        print(
            f"    library songs as queries, {label:<19}: recall@10 {recall(found[tuned]):.3f}, "
            f"p50 {percentile_ms(times[tuned], 50):.3f} ms, "
            f"p99 {percentile_ms(times[tuned], 99):.3f} ms, "
            f"CPU p50 {percentile_ms(cpu[tuned], 50):.3f} ms, "
            f"p99 {percentile_ms(cpu[tuned], 99):.3f} ms"
        )
    ratio = percentile_ms(times[False], 50) / percentile_ms(times[True], 50)
    print(f"    tuned / default median: {ratio:.2f}x faster", flush=True)


def recall_at_k(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(t)) / K for f, t in zip(found, truth, strict=True)]))


def loaded_rss(index_dir: Path, queries: np.ndarray) -> tuple[float, float, float, float]:
    """(RSS MiB with the index loaded, RSS MiB after answering ``queries`` one by one, RSS MiB
    before, load seconds) in a fresh process."""
    np.save(index_dir / "queries.npy", queries)
    code = (
        "import time,sys\n"
        "from pathlib import Path\n"
        "import faiss, numpy as np\n"
        "from indexer.vectors.store import load_index\n"
        "def rss():\n"
        "    return int(open('/proc/self/statm').read().split()[1]) * 4096 / 2**20\n"
        "faiss.omp_set_num_threads(1)\n"
        "before = rss(); t = time.perf_counter()\n"
        "index, _ = load_index(Path(sys.argv[1]), mmap=True)\n"
        "index.search(index.reconstruct(int(index.ids()[0]))[None, :], k=10)\n"
        "loaded, load_s = rss(), time.perf_counter() - t\n"
        "for q in np.load(Path(sys.argv[1]) / 'queries.npy'):\n"
        "    index.search(q, k=10)\n"
        "print(loaded, rss(), before, load_s)\n"
    )
    root = str(Path(__file__).resolve().parent.parent)
    env = dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run(
        [sys.executable, "-c", code, str(index_dir)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    ).stdout.split()
    return float(out[0]), float(out[1]), float(out[2]), float(out[3])


def seed_matrix(vectors: np.ndarray, queries: np.ndarray) -> dict[str, object]:
    """The seed notebook's approach: the full N x N float64 cosine matrix, then a row sort."""
    n = len(vectors)
    need = n * n * 8
    available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    if need > available / 4:
        return {"kind": "seed N x N", "stopped": f"needs {need / 2**30:.0f} GiB for the matrix"}
    x = vectors.astype(np.float64)
    start = time.perf_counter()
    matrix = x @ x.T
    build_s = time.perf_counter() - start
    samples = []
    for i in range(min(len(queries), n)):
        start = time.perf_counter()
        row = matrix[i]
        top = np.argpartition(-row, K)[: K + 1]
        top[np.argsort(-row[top])]
        samples.append(time.perf_counter() - start)
    del matrix
    gc.collect()
    return {
        "kind": "seed N x N",
        "build_s": build_s,
        "size_mib": need / 2**20,
        "p50_ms": percentile_ms(samples, 50),
        "p99_ms": percentile_ms(samples, 99),
    }


def measure(
    name: str, vectors: np.ndarray, queries: np.ndarray, kinds: list[str], nprobes: list[int]
) -> list[dict[str, object]]:
    """Every kind on one data set, plus the seed's matrix."""
    ids = np.arange(len(vectors), dtype=np.int64)
    rows: list[dict[str, object]] = []
    truth: np.ndarray | None = None
    for kind in kinds:
        start = time.perf_counter()
        index = VectorIndex.build(ids, vectors, kind=kind)
        build_s = time.perf_counter() - start
        start = time.perf_counter()
        _, found = index.search(queries, k=K)
        batch_qps = len(queries) / (time.perf_counter() - start)
        if truth is None:
            exact = index if kind == "flat" else VectorIndex.build(ids, vectors, kind="flat")
            truth = exact.search(queries, k=K)[1]
        faiss.omp_set_num_threads(1)
        samples, cpu_samples = single_queries(index, queries)
        with tempfile.TemporaryDirectory(prefix="soundalike-bench-") as tmp:
            save_index(index, Path(tmp), scaler_version="bench", model_version=None, synced_at=None)
            size_mib = sum(p.stat().st_size for p in Path(tmp).glob("*.faiss")) / 2**20
            rss_mib, rss_queried_mib, base_mib, load_s = loaded_rss(Path(tmp), queries)
        faiss.omp_set_num_threads(os.cpu_count() or 1)
        rows.append(
            {
                "data": name,
                "n": len(vectors),
                "kind": kind,
                "params": index.params,
                "build_s": build_s,
                "recall_at_10": recall_at_k(found, truth),
                "p50_ms": percentile_ms(samples, 50),
                "p99_ms": percentile_ms(samples, 99),
                "cpu_p50_ms": percentile_ms(cpu_samples, 50),
                "cpu_p99_ms": percentile_ms(cpu_samples, 99),
                "batch_qps": batch_qps,
                "size_mib": size_mib,
                "rss_mib": rss_mib,
                "rss_queried_mib": rss_queried_mib,
                "rss_base_mib": base_mib,
                "load_s": load_s,
            }
        )
        print_row(rows[-1])
        if kind in IVF_KINDS and "nprobe_library" in index.params:
            exact = VectorIndex.build(ids, vectors, kind="flat")
            library_song_queries(index, exact, vectors, ids)
            del exact
        if kind in IVF_KINDS:
            for nprobe in nprobes:
                faiss.extract_index_ivf(index.faiss_index).nprobe = nprobe
                faiss.omp_set_num_threads(1)
                sweep, sweep_cpu = single_queries(index, queries)
                faiss.omp_set_num_threads(os.cpu_count() or 1)
                recall = recall_at_k(index.search(queries, k=K)[1], truth)
                print(
                    f"    {kind} nprobe {nprobe:>4}: recall@10 {recall:.3f}, "
                    f"p50 {percentile_ms(sweep, 50):.3f} ms, "
                    f"p99 {percentile_ms(sweep, 99):.3f} ms, "
                    f"CPU p50 {percentile_ms(sweep_cpu, 50):.3f} ms, "
                    f"p99 {percentile_ms(sweep_cpu, 99):.3f} ms"
                )
        del index
        gc.collect()
    seed = {"data": name, "n": len(vectors), **seed_matrix(vectors, queries)}
    print_row(seed)
    rows.append(seed)
    return rows


def print_row(row: dict[str, object]) -> None:
    head = f"{row['data']:<8} {row['n']:>9,} {row['kind']:<11}"
    if "stopped" in row:
        print(f"{head} stops: {row['stopped']}")
    elif row["kind"] == "seed N x N":
        print(
            f"{head} build {row['build_s']:7.2f} s  matrix {row['size_mib']:8.0f} MiB  "
            f"row lookup p50 {row['p50_ms']:.3f} ms p99 {row['p99_ms']:.3f} ms"
        )
    else:
        print(
            f"{head} build {row['build_s']:7.2f} s  recall@10 {row['recall_at_10']:.3f}  "
            f"p50 {row['p50_ms']:.3f} ms  p99 {row['p99_ms']:.3f} ms  "
            f"CPU p50 {row['cpu_p50_ms']:.3f} ms  p99 {row['cpu_p99_ms']:.3f} ms  "
            f"batch {row['batch_qps']:9.0f} q/s  disk {row['size_mib']:7.1f} MiB  "
            f"RSS {row['rss_mib']:6.0f} MiB, {row['rss_queried_mib']:6.0f} MiB after the queries "
            f"(python+faiss {row['rss_base_mib']:.0f})  "
            f"load {row['load_s']:.2f} s  {row['params']}",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--space", choices=("features", "sound"), default="features")
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument(
        "--kinds", help="default: flat,ivf,hnsw (features), flat,ivf,ivf-sq8 (sound)"
    )
    parser.add_argument("--nprobe-sweep", default="16,32,64,128", help="extra IVF nprobe runs")
    parser.add_argument("--no-table", action="store_true", help="skip the real vectors")
    parser.add_argument("--json", type=Path, help="also write all rows as JSON here")
    args = parser.parse_args()
    default_kinds = "flat,ivf,ivf-sq8" if args.space == "sound" else "flat,ivf,hnsw"
    kinds = [k for k in (args.kinds or default_kinds).split(",") if k]
    nprobes = [int(v) for v in args.nprobe_sweep.split(",") if v]
    print(f"{os.cpu_count()} cores, faiss {faiss.__version__}, k={K}, {N_QUERIES} queries")
    if args.space == "sound":
        # Imported here: it needs the audio stack, which the features bench does not.
        from bench.sound_space import sound_sampler

        real_name, (real_vectors, draw) = "real", sound_sampler()
    else:
        real_name, (real_vectors, draw) = "gtzan", gtzan_sampler()
    queries = draw(N_QUERIES, draw_seed=12345)
    rows: list[dict[str, object]] = []
    if not args.no_table:
        rows += measure(real_name, real_vectors, queries, kinds, nprobes=[])
    for n in (int(v) for v in args.sizes.split(",") if v):
        start = time.perf_counter()
        vectors = draw(n, draw_seed=n)
        print(f"drew {n:,} vectors in {time.perf_counter() - start:.1f} s", flush=True)
        rows += measure("gmm", vectors, queries, kinds, nprobes)
        del vectors
        gc.collect()
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
