"""The service at scale: a million songs behind granian on loopback, loaded with wrk.

(Not ``bench/http.py``: run as a script, that name would shadow the standard library's
``http`` package for ``urllib``.)

    PYTHONPATH=. python bench/http_load.py [--songs 1000000] [--duration-s 20] [--connections 32]
        [--threads 2] [--no-access-log] [--rate 1000]

Seeds a SQLite library under ``--data-dir`` once (raw features drawn from a Gaussian mixture
fitted to the GTZAN table, genres predicted by the real model, rows bulk-inserted), builds
its index with ``Library.rebuild_indexes`` (auto: IVF above 100k songs), then starts
``soundalike serve`` exactly as a user would and reports: seconds from start to the first
answer, requests/s and p50/p99 of ``GET /api/songs/<random id>/similar?k=10`` under wrk
(bounded duration, 127.0.0.1 only; with ``--rate``, also at about that offered load instead of
flat out), the service's memory (RSS summed over the server's
processes, and PSS, which counts shared pages once), and a few listing and search queries.
Needs ``wrk`` (``apt-get install wrk``).
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
from sklearn.mixture import GaussianMixture

from db.models import features_to_bytes
from indexer.library import Library
from indexer.model.gtzan_table import bundled_table_path, load_table
from indexer.model.spaces import FEATURES
from indexer.settings import load_settings

ROOT = Path(__file__).resolve().parent.parent
BATCH = 20_000

WRK_SCRIPT = """
math.randomseed(%(seed)d)
request = function()
  return wrk.format("GET", "/api/songs/" .. math.random(1, %(n)d) .. "/similar?k=10")
end
"""
# With --rate, each connection pauses between requests for an exponentially distributed time
# (mean connections / rate), so the service is offered about that many requests a second, as
# by independent listeners, instead of as many as it can answer. wrk times a request from its
# sending, so the pause is not counted in the latency.
WRK_PAUSE = """
delay = function()
  return -%(mean_ms)f * math.log(1 - math.random())
end
"""


def seed_library(library: Library, n: int) -> None:
    """Bulk-insert ``n`` songs with GTZAN-like features and their predicted genres."""
    table = load_table(bundled_table_path())
    mean, std = table.X.mean(axis=0), table.X.std(axis=0)
    gmm = GaussianMixture(n_components=10, covariance_type="full", random_state=0)
    gmm.fit((table.X - mean) / std)
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    inserted = 0
    while inserted < n:
        count = min(BATCH, n - inserted)
        gmm.random_state = inserted + 1
        z, _ = gmm.sample(count)
        raw = z[rng.permutation(count)] * std + mean
        predictions = library.genre_model.predict(raw)
        rows = []
        for j, (features, prediction) in enumerate(zip(raw, predictions, strict=True)):
            i = inserted + j
            rows.append(
                {
                    "path": f"/bench/music/{i:07d}.flac",
                    "content_hash": f"{i:064x}",
                    "size_bytes": 30_000_000,
                    "mtime_ns": i,
                    "title": f"Song {i}",
                    "artist": f"Artist {i % 50_000}",
                    "album": f"Album {i % 100_000}",
                    "duration_s": 30.0,
                    "features": features_to_bytes(features),
                    "genre": prediction.label,
                    "genre_confidence": prediction.confidence,
                    "genre_probabilities": prediction.probabilities,
                    "model_version": library.genre_model.version,
                }
            )
        library.insert_songs_bulk(rows)
        inserted += count
        print(f"\r  inserted {inserted:,} rows", end="", flush=True)
    print(f"\n  {n:,} rows bulk-inserted in {time.perf_counter() - start:.1f} s")


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except OSError:
        return 0, b""


def process_tree(pid: int) -> list[int]:
    """``pid`` and its children (the server's main process and workers)."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            children.append(int(stat.parent.name))
    return [pid, *children]


def memory_mib(pids: list[int]) -> tuple[float, float]:
    """(RSS summed, PSS summed) in MiB."""
    rss = pss = 0.0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Rss:"):
                    rss += int(line.split()[1]) / 1024
                elif line.startswith("Pss:"):
                    pss += int(line.split()[1]) / 1024
        except OSError:
            continue
    return rss, pss


def run_wrk(
    url: str, n: int, *, duration_s: int, connections: int, threads: int, rate: float = 0
) -> str:
    """wrk's report; ``rate`` > 0 offers about that many requests a second in all."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT % {"seed": 42, "n": n})
        if rate > 0:
            script.write(WRK_PAUSE % {"mean_ms": 1000 * connections / rate})
    try:
        return subprocess.run(
            [
                "wrk",
                f"-t{threads}",
                f"-c{connections}",
                f"-d{duration_s}s",
                "--timeout",
                "5s",
                "--latency",
                "-s",
                script.name,
                url,
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=duration_s + 30,
        ).stdout
    finally:
        os.unlink(script.name)


def wrk_figures(output: str) -> dict[str, str]:
    figures = {"requests/s": re.search(r"Requests/sec:\s+(\S+)", output).group(1)}
    for q in ("50%", "99%"):
        figures[f"p{q[:-1]}"] = re.search(rf"^\s+{q}\s+(\S+)", output, re.M).group(1)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    figures["non-2xx"] = errors.group(1) if errors else "0"
    return figures


def timed_get(url: str, repeat: int = 5) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        status, _ = get(url)
        samples.append(time.perf_counter() - start)
        assert status == 200, url
    return float(np.median(samples) * 1000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/soundalike-bench-1m"))
    parser.add_argument("--songs", type=int, default=1_000_000)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--duration-s", type=int, default=20)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--wrk-threads", type=int, default=2)
    parser.add_argument(
        "--no-access-log", action="store_true", help="serve without the per-request log line"
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=0,
        help="also offer about this many requests/s in all (paced connections) and report it",
    )
    args = parser.parse_args()
    settings = load_settings(environ={}, overrides={"data_dir": args.data_dir})
    library = Library(settings)
    have = library.count_songs()
    if have == 0:
        print(f"Seeding {args.songs:,} songs into {settings.database_url}")
        seed_library(library, args.songs)
        have = args.songs
    # The seeded rows have no sound embedding: the service answers from the features space.
    if library.stats()["spaces"][FEATURES]["indexed"] != have:
        start = time.perf_counter()
        manifest = library.rebuild_indexes()[FEATURES]
        print(
            f"  index rebuilt from the rows in {time.perf_counter() - start:.1f} s: "
            f"{manifest.kind} {manifest.params}, {manifest.count:,} songs"
        )
    library.close()

    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("DATABASE_URL", None)
    base = f"http://127.0.0.1:{args.port}"
    log = open(args.data_dir / "serve.log", "w")  # noqa: SIM115
    start = time.perf_counter()
    server = subprocess.Popen(
        [sys.executable, "-m", "indexer.cli", "--data-dir", str(args.data_dir), "serve",
         "--port", str(args.port), "-w", str(args.workers), "--threads", str(args.threads),
         *(["--no-access-log"] if args.no_access_log else [])],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        while get(f"{base}/api/songs/1/similar?k=10")[0] != 200:
            if server.poll() is not None or time.perf_counter() - start > 120:
                raise SystemExit(f"the service did not answer; see {args.data_dir / 'serve.log'}")
            time.sleep(0.05)
        first_s = time.perf_counter() - start
        # Let every worker load its index before measuring.
        run_wrk(base, have, duration_s=3, connections=args.connections, threads=args.wrk_threads)
        output = run_wrk(
            base,
            have,
            duration_s=args.duration_s,
            connections=args.connections,
            threads=args.wrk_threads,
        )
        rss, pss = memory_mib(process_tree(server.pid))
        figures = wrk_figures(output)
        paced = None
        if args.rate > 0:
            paced = wrk_figures(
                run_wrk(
                    base,
                    have,
                    duration_s=args.duration_s,
                    connections=args.connections,
                    threads=args.wrk_threads,
                    rate=args.rate,
                )
            )
        print(output)
        print(f"songs                    {have:,}")
        print(f"start to first answer    {first_s:.2f} s")
        print(
            f"similar?k=10 under wrk   {figures['requests/s']} req/s, p50 {figures['p50']}, "
            f"p99 {figures['p99']} ({args.connections} connections, {args.duration_s} s, "
            f"{figures['non-2xx']} non-2xx)"
        )
        if paced is not None:
            print(
                f"offered ~{args.rate:.0f} req/s   {paced['requests/s']} req/s answered, "
                f"p50 {paced['p50']}, p99 {paced['p99']} ({args.connections} paced connections, "
                f"{paced['non-2xx']} non-2xx)"
            )
        print(f"service memory           RSS {rss:.0f} MiB summed, PSS {pss:.0f} MiB")
        for path in (
            "/api/songs?limit=50",
            f"/api/songs?limit=50&offset={have // 2}",
            "/api/songs?q=artist%2049999&limit=50",
            f"/api/songs/{have}",
        ):
            print(f"GET {path:<40} {timed_get(base + path):8.1f} ms (median of 5)")
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
        log.close()
    library = Library(settings)
    start = time.perf_counter()
    library.list_songs_after(after_id=have - 100, limit=50)
    keyset_ms = (time.perf_counter() - start) * 1000
    library.close()
    print(f"keyset page after id {have - 100:,}   {keyset_ms:8.1f} ms (Library.list_songs_after)")


if __name__ == "__main__":
    main()
