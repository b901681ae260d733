"""The ``soundalike`` admin command line."""

from __future__ import annotations

import csv
import json
import os
import sys
from pathlib import Path
from typing import Any

import click
import numpy as np

from db import repo
from indexer.cli_playlist import path_cmd, playlist_cmd
from indexer.cli_similar import similar_to_songs, with_neighbour_options
from indexer.errors import FileError, IndexerError
from indexer.features import extract_file_features
from indexer.library import Library
from indexer.pipeline import Skipped, index_paths
from indexer.recommend.candidates import explain_neighbours
from indexer.recommend.options import known_genres, neighbour_query
from indexer.scan import expand_paths, scan_library
from indexer.schema import FEATURE_NAMES
from indexer.settings import Settings, load_settings

# Exit status when the run finished but some files were skipped (reported on stderr).
EXIT_SKIPPED = 3


def _settings(ctx: click.Context) -> Settings:
    return ctx.obj["settings"]


def _library(ctx: click.Context) -> Library:
    if "library" not in ctx.obj:
        library = Library(_settings(ctx))
        ctx.obj["library"] = library
        ctx.find_root().call_on_close(library.close)
    return ctx.obj["library"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the database, index and model (default: $SOUNDALIKE_DATA_DIR).",
)
@click.pass_context
def main(ctx: click.Context, data_dir: Path | None) -> None:
    """Soundalike: find the songs in your library that sound like a song."""
    overrides = {"data_dir": data_dir} if data_dir else {}
    ctx.ensure_object(dict)
    ctx.obj["settings"] = load_settings(overrides=overrides)


main.add_command(playlist_cmd)
main.add_command(path_cmd)


def _print_skipped(skipped: list[Skipped]) -> None:
    if not skipped:
        return
    click.echo(f"\nSkipped {len(skipped)} file(s):", err=True)
    for item in skipped:
        click.echo(f"  {item.path}: {item.reason}", err=True)


@main.command("index")
@click.argument("root", type=click.Path(exists=True, path_type=Path))
@click.option("--workers", "-j", type=click.IntRange(min=1), help="Processes (default: all cores).")
@click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True)
@click.option("--progress/--no-progress", default=True, show_default=True)
@click.option(
    "--scheduler",
    metavar="ADDRESS",
    help="Analyse on a Dask distributed cluster (tcp://HOST:8786) instead of local processes.",
)
@click.pass_context
def index_cmd(
    ctx: click.Context,
    root: Path,
    workers: int | None,
    batch_size: int,
    progress: bool,
    scheduler: str | None,
) -> None:
    """Index every audio file under ROOT; re-runs skip unchanged files and resume."""
    library = _library(ctx)
    root = Path(os.path.abspath(root))
    paths = scan_library(root)
    report = index_paths(
        library,
        paths,
        root=root,
        workers=workers or _settings(ctx).workers,
        batch_size=batch_size,
        progress=progress,
        scheduler=scheduler,
    )
    click.echo(
        f"Scanned {report.scanned} file(s) in {report.elapsed_s:.1f} s: "
        f"{report.added} added, {report.updated} updated, {report.moved} moved, "
        f"{report.removed} removed, {report.unchanged} unchanged, {len(report.skipped)} skipped."
    )
    if report.manifest:
        click.echo(f"Index generation {report.manifest.generation}: {report.manifest.count} songs.")
    _print_skipped(report.skipped)
    if report.skipped:
        ctx.exit(EXIT_SKIPPED)


@main.command("add")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.pass_context
def add_cmd(ctx: click.Context, paths: tuple[Path, ...]) -> None:
    """Add (or refresh) tracks; a running service answers with them within a second."""
    library = _library(ctx)
    files = expand_paths(paths)
    report = index_paths(library, files, workers=min(len(files), _settings(ctx).workers))
    click.echo(
        f"{report.added} added, {report.updated} updated, {report.unchanged} unchanged, "
        f"{len(report.skipped)} skipped."
    )
    _print_skipped(report.skipped)
    if report.skipped:
        ctx.exit(EXIT_SKIPPED)


@main.command("remove")
@click.argument("refs", nargs=-1, required=True)
@click.pass_context
def remove_cmd(ctx: click.Context, refs: tuple[str, ...]) -> None:
    """Remove songs by id or path (the files themselves are left alone)."""
    library = _library(ctx)
    try:
        songs = [library.resolve_song(ref) for ref in refs]
    except IndexerError as exc:
        raise click.ClickException(str(exc)) from exc
    removed = library.remove_songs(song.id for song in songs)
    library.sync_index()
    for song in songs:
        click.echo(f"Removed {song.id}: {song.path}")
    click.echo(f"{removed} song(s) removed.")


@main.command("similar")
@click.argument("refs", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@with_neighbour_options
@click.pass_context
def similar_cmd(ctx: click.Context, refs: tuple[str, ...], as_json: bool, **values: Any) -> None:
    """Songs that sound like REFS (ids or paths), with cosine score and genre.

    Several REFS search near all of them (--mode centroid) or give each an equal share
    (--mode union); --not steers away from songs. The other options re-rank the list.
    """
    library = _library(ctx)
    query = neighbour_query(values)
    genre = query.options.genre
    if genre is not None and genre not in known_genres(library.genre_model.classes):
        raise click.BadParameter(f"unknown genre {genre!r}", param_hint="'--genre'")
    explain, explain_drops = query.explain, query.explain_drops
    try:
        seeds = [library.resolve_song(ref) for ref in refs]
        seeds, result = similar_to_songs(library, seeds, query)
        explained = explain_neighbours(library, seeds, result.neighbours) if explain else []
    except IndexerError as exc:
        raise click.ClickException(str(exc)) from exc
    neighbours = result.neighbours
    if as_json:
        items = [{**_song_summary(n.song), "score": round(n.score, 6)} for n in neighbours]
        for item, (seed_id, why) in zip(items, explained, strict=False):
            item["explanation"] = {"seed": seed_id, "cosine": why.cosine, "parts": why.parts}
            item["explanation"]["summary"] = why.summary
        payload: dict[str, Any] = {"song": _song_summary(seeds[0]), "neighbours": items}
        if len(seeds) > 1:
            payload["seeds"] = [_song_summary(s) for s in seeds]
        if explain_drops:
            payload["dropped"] = [vars(d) for d in result.dropped]
        click.echo(json.dumps(payload, indent=2))
        return
    like = ", ".join(f"{s.id}: {_display(s)} [{s.genre}]" for s in seeds)
    click.echo(f"Like {like}")
    click.echo(f"{'#':>3} {'id':>6} {'score':>6}  {'genre':<16} song")
    for rank, n in enumerate(neighbours, 1):
        genre = f"{n.song.genre} {n.song.genre_confidence or 0:.2f}"
        click.echo(f"{rank:>3} {n.song.id:>6} {n.score:6.3f}  {genre:<16} {_display(n.song)}")
        if explain:
            click.echo(f"{'':>18}{explained[rank - 1][1].summary}")
    if explain_drops:
        for d in result.dropped:
            click.echo(f"dropped {d.id}: {d.reason} ({d.detail})")


def _display(song) -> str:  # type: ignore[no-untyped-def]
    return f"{song.artist} - {song.title}" if song.artist else song.title


def _song_summary(song) -> dict:  # type: ignore[no-untyped-def]
    return {
        "id": song.id,
        "title": song.title,
        "artist": song.artist,
        "path": song.path,
        "genre": {"label": song.genre, "confidence": song.genre_confidence},
    }


@main.command("features")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv")
@click.pass_context
def features_cmd(ctx: click.Context, paths: tuple[Path, ...], fmt: str) -> None:
    """Print the 57 GTZAN features of audio files (filename first, table column order)."""
    window_s = _settings(ctx).window_s
    rows: list[tuple[str, np.ndarray]] = []
    failed = False
    for path in paths:
        try:
            values, _ = extract_file_features(path, window_s=window_s)
        except FileError as exc:
            click.echo(f"skipped {exc.path}: {exc.reason}", err=True)
            failed = True
            continue
        rows.append((path.name, values))
    if fmt == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(["filename", *FEATURE_NAMES])
        for name, values in rows:
            writer.writerow([name, *(repr(float(v)) for v in values)])
    else:
        payload = [
            {"filename": name, **dict(zip(FEATURE_NAMES, map(float, values), strict=True))}
            for name, values in rows
        ]
        click.echo(json.dumps(payload, indent=2))
    if failed:
        ctx.exit(EXIT_SKIPPED)


_BLEND_HELP = (
    "Average XGBoost's probabilities with a logistic regression's (opt-in; by default XGBoost "
    "alone is the classifier, on the 57 features and the LDA directions)."
)


@main.command("train")
@click.option(
    "--table",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A labelled feature table (filename, the 57 columns, label[, group]).",
)
@click.option(
    "--keep-metric",
    is_flag=True,
    help="Keep the current similarity metric instead of refitting it on the table.",
)
@click.option("--blend-linear", is_flag=True, help=_BLEND_HELP)
@click.pass_context
def train_cmd(
    ctx: click.Context, table: Path | None, keep_metric: bool, blend_linear: bool
) -> None:
    """Fit the genre model and the similarity metric, report cross-validated accuracy,
    relabel the library and re-index it when the metric changed."""
    from indexer.genre import save_genre_model, train_genre_model
    from indexer.scaler import refit_scaler
    from indexer.table import bundled_table_path, load_table

    library = _library(ctx)
    try:
        feature_table = load_table(table or bundled_table_path())
    except IndexerError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(
        f"Training on {len(feature_table.labels)} rows, {len(set(feature_table.labels))} genres…"
    )
    model = train_genre_model(feature_table, evaluate=True, blend_linear=blend_linear)
    save_genre_model(model, _settings(ctx).model_dir)
    for split, score in model.scores.items():
        click.echo(f"  {split}: {_format_score(score)}")
    library.__dict__.pop("genre_model", None)
    relabelled = library.relabel_genres()
    click.echo(f"Model {model.version} saved; {relabelled} song(s) relabelled.")
    if not keep_metric:
        before = library.scaler.version
        scaler = refit_scaler(_settings(ctx).model_dir, feature_table)
        library.__dict__.pop("scaler", None)
        if scaler.version != before:
            click.echo(f"Similarity metric refitted on the table: {scaler.version}.")
    # The manifest records the model that labelled the songs and the metric of the vectors: a
    # new metric rebuilds the index from the rows.
    manifest = library.sync_index()
    click.echo(f"Index generation {manifest.generation}: {manifest.count} songs.")


def _format_score(score: object) -> str:
    if isinstance(score, dict) and "accuracy_mean" in score:
        text = f"accuracy {score['accuracy_mean']:.3f} ± {score.get('accuracy_std', 0):.3f}"
        if "ece_mean" in score:
            text += f", calibration error {score['ece_mean']:.3f} ± {score['ece_std']:.3f}"
        if "ece_floor_mean" in score:
            # Models saved before the floor was computed lack it.
            text += f" (a calibrated model's {score['ece_floor_mean']:.3f})"
        return text
    return json.dumps(score)


@main.command("evaluate")
@click.option(
    "--table",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A labelled feature table (default: the bundled GTZAN table).",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for evaluation.json and the PNG figures (confusion, reliability, song map).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the full report as JSON.")
@click.option("--blend-linear", is_flag=True, help=_BLEND_HELP)
def evaluate_cmd(table: Path | None, out: Path | None, as_json: bool, blend_linear: bool) -> None:
    """Neighbour precision, hubness, genre scores, re-ranking and walk smoothness on a table."""
    from indexer.evaluate import evaluate_table
    from indexer.report import public_report, write_report
    from indexer.table import bundled_table_path, load_table

    try:
        feature_table = load_table(table or bundled_table_path())
    except IndexerError as exc:
        raise click.ClickException(str(exc)) from exc
    report = evaluate_table(feature_table, blend_linear=blend_linear)
    if out is not None:
        for path in write_report(report, feature_table, out):
            click.echo(f"wrote {path}", err=True)
    if as_json:
        click.echo(json.dumps(public_report(report), indent=2))
        return
    click.echo(f"{report['n_songs']} songs; neighbour genre precision (chance ~1/genres):")
    for split, metrics in report["neighbours"].items():
        for metric, entry in metrics.items():
            scores = "  ".join(
                f"{key.replace('precision', 'p')} {_format_mean(value)}"
                for key, value in entry.items()
                if key.startswith("precision")
            )
            hubs = next(value for key, value in entry.items() if key.startswith("hubness"))
            skew = np.mean([h["k_occurrence_skewness"] for h in hubs])
            click.echo(f"  {split:<17} {metric:<20} {scores}  hub skew {skew:.2f}")
    model = "XGBoost + logistic regression" if blend_linear else "XGBoost on features + LDA"
    click.echo(f"Genre model ({model}, refitted on each fold; calibrated):")
    for split, genre in report["genre"].items():
        click.echo(
            f"  {split:<17} accuracy {_format_mean(genre['accuracy'])}  "
            f"macro-F1 {_format_mean(genre['macro_f1'])}  "
            f"ECE {genre['ece_pooled']:.3f} (uncalibrated {genre['ece_pooled_uncalibrated']:.3f})"
        )
        click.echo(
            f"  {'':<17} ECE per fold {_format_mean(genre['ece'])}; a perfectly calibrated "
            f"model shows {_format_mean(genre['ece_floor'])} per fold, "
            f"{genre['ece_pooled_floor']['mean']:.3f} pooled (sampling noise)"
        )
    click.echo("Re-ranking (top 10 of 50 candidates; plain kNN first):")
    for split, settings in report["reranking"].items():
        for name, scores in settings.items():
            click.echo(
                f"  {split:<17} {name:<22} artists {scores['distinct_artists@10']:.2f}  "
                f"duplicates {scores['duplicate_rate']:.3f}  "
                f"hub skew {scores['hub_skewness@10']:.2f}  p@10 {scores['precision@10']:.3f}"
            )
    paths, playlists = report["walks"]["paths"], report["walks"]["playlists"]
    click.echo(
        f"Walks (smoothness: mean cosine of consecutive songs; {report['walks']['seconds']:.0f} s):"
    )
    click.echo(
        f"  path, {paths['steps']} steps, {paths['pairs']} cross-genre pairs  "
        f"{paths['smoothness']:.3f}  (direct hop {paths['direct_hop']:.3f})"
    )
    click.echo(
        f"  playlist, {playlists['length']} songs, at most {playlists['max_per_artist']} per "
        f"artist  {playlists['smoothness']:.3f}  (no cap {playlists['no_cap']:.3f}, "
        f"shuffled {playlists['shuffled']:.3f})"
    )
    click.echo(f"{report['seconds']:.0f} s")


def _format_mean(value: object) -> str:
    if isinstance(value, dict):
        return f"{value['mean']:.3f} ± {value['std']:.3f}"
    return f"{float(value):.3f}"  # type: ignore[arg-type]


@main.command("rebuild")
@click.option(
    "--kind",
    type=click.Choice(["auto", "flat", "ivf", "hnsw"]),
    help="Index kind for this rebuild (default: $SOUNDALIKE_INDEX_KIND, else auto by size).",
)
@click.pass_context
def rebuild_cmd(ctx: click.Context, kind: str | None) -> None:
    """Recreate the vector index from the database (and compact a masked HNSW graph)."""
    try:
        manifest = _library(ctx).rebuild_index(kind=kind)
    except IndexerError as exc:
        raise click.ClickException(str(exc)) from exc
    params = ", ".join(f"{key} {value}" for key, value in manifest.params.items())
    click.echo(
        f"Index generation {manifest.generation}: {manifest.count} songs, {manifest.kind}"
        + (f" ({params})." if params else ".")
    )


@main.command("stats")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def stats_cmd(ctx: click.Context, as_json: bool) -> None:
    """Songs in the database, vectors in the index, genres, model version, data dir."""
    library = _library(ctx)
    stats = library.stats()
    if as_json:
        click.echo(json.dumps(stats, indent=2))
        return
    click.echo(f"Data dir:       {stats['data_dir']}")
    click.echo(f"Database:       {stats['database']}")
    click.echo(f"Songs:          {stats['songs']}")
    click.echo(f"Indexed:        {stats['indexed']} (generation {stats['index_generation']})")
    click.echo(f"Genre model:    {stats['model_version']}")
    for genre, n in sorted(stats["genres"].items(), key=lambda kv: -kv[1]):
        click.echo(f"  {genre:<12} {n}")


@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
@click.option("--workers", "-w", type=click.IntRange(min=1), default=2, show_default=True)
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=2,
    show_default=True,
    help="Requests each worker runs at once. Two keep an upload's analysis (up to a minute) "
    "from holding up its worker; more only lengthen the slowest answers (README: Speed).",
)
@click.option(
    "--access-log/--no-access-log",
    default=True,
    show_default=True,
    help="One line per request on standard output.",
)
@click.pass_context
def serve_cmd(
    ctx: click.Context, host: str, port: int, workers: int, threads: int, access_log: bool
) -> None:
    """Serve the web page and JSON API with granian (a production HTTP server)."""
    settings = _settings(ctx)
    library = _library(ctx)
    library.load_index()  # build or check the index before workers start answering
    env = dict(os.environ, SOUNDALIKE_DATA_DIR=str(settings.data_dir))
    env["DATABASE_URL"] = settings.database_url
    click.echo(f"Serving {settings.data_dir} on http://{host}:{port}/")
    args = [
        sys.executable, "-m", "granian",
        "--interface", "wsgi",
        "--no-ws",
        "--factory", "service:create_app",
        "--host", host,
        "--port", str(port),
        "--workers", str(workers),
        "--blocking-threads", str(threads),
        "--respawn-failed-workers",
        "--access-log" if access_log else "--no-access-log",
    ]  # fmt: skip
    os.execve(sys.executable, args, env)


@main.command("songs")
@click.option("-q", "query", default=None, help="Text in title, artist or album.")
@click.option("--limit", type=click.IntRange(1, 10000), default=50, show_default=True)
@click.pass_context
def songs_cmd(ctx: click.Context, query: str | None, limit: int) -> None:
    """List songs with their ids and genres."""
    library = _library(ctx)
    with library.session() as session:
        songs, total = repo.search_songs(session, q=query, limit=limit, offset=0)
    for song in songs:
        click.echo(f"{song.id:>6}  {song.genre or '?':<10} {_display(song)}")
    click.echo(f"{len(songs)} of {total} song(s).")


if __name__ == "__main__":
    main()
