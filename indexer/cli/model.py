"""The learned parts: ``train`` the genre model and the metric, ``evaluate`` them on a table."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click
import numpy as np

from indexer.cli.context import library_of, settings_of
from indexer.errors import IndexerError
from indexer.model.scaler import METRICS, ensure_scaler

_BLEND_HELP = (
    "Average XGBoost's probabilities with a logistic regression's (opt-in; by default XGBoost "
    "alone is the classifier, on the 57 features and the LDA directions)."
)


@click.command("train")
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
@click.option(
    "--metric",
    type=click.Choice(METRICS),
    help=(
        "The metric of the features space: lda (fitted on the table's labels; the default with "
        "--table) or standardized (the default without)."
    ),
)
@click.option("--blend-linear", is_flag=True, help=_BLEND_HELP)
@click.pass_context
def train_cmd(
    ctx: click.Context,
    table: Path | None,
    keep_metric: bool,
    metric: str | None,
    blend_linear: bool,
) -> None:
    """Fit the genre model and the similarity metric, report cross-validated accuracy,
    relabel the library and re-index it when the metric changed."""
    from indexer.model.genre import save_genre_model
    from indexer.model.genre_training import train_genre_model
    from indexer.model.gtzan_table import bundled_table_path, load_table
    from indexer.model.scaler import refit_scaler

    library = library_of(ctx)
    try:
        feature_table = load_table(table or bundled_table_path())
    except IndexerError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(
        f"Training on {len(feature_table.labels)} rows, {len(set(feature_table.labels))} genres…"
    )
    model = train_genre_model(feature_table, evaluate=True, blend_linear=blend_linear)
    save_genre_model(model, settings_of(ctx).model_dir)
    for split, score in model.scores.items():
        click.echo(f"  {split}: {_format_score(score)}")
    library.__dict__.pop("genre_model", None)
    relabelled = library.relabel_genres()
    click.echo(f"Model {model.version} saved; {relabelled} song(s) relabelled.")
    if not keep_metric:
        before = library.scaler.version
        chosen = metric or ("lda" if table is not None else "standardized")
        scaler = refit_scaler(settings_of(ctx).model_dir, feature_table, metric=chosen)
        library.__dict__.pop("scaler", None)
        if scaler.version != before:
            click.echo(f"Similarity metric refitted on the table: {scaler.version}.")
    # The manifest records the model that labelled the songs and the metric of the vectors: a
    # new metric rebuilds the index from the rows.
    for space, manifest in library.sync_indexes().items():
        click.echo(f"Index {space}, generation {manifest.generation}: {manifest.count} songs.")


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


@click.command("evaluate")
@click.option(
    "--table",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A labelled feature table (default: the bundled GTZAN table).",
)
@click.option(
    "--audio",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Score the song spaces on your own music: every audio file under this folder.",
)
@click.option(
    "--library",
    "from_library",
    is_flag=True,
    help="Score the song spaces on the indexed library (its stored vectors).",
)
@click.option(
    "--group",
    "group_by",
    type=click.Choice(["folder", "album", "artist"]),
    help="What counts as one group of alike tracks (default: the folder for --audio, the "
    "album for --library; album and artist come from the tags).",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    help="Worker processes decoding --audio (default: the settings', all cores).",
)
@click.option(
    "--csv",
    "csv_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the scores per space and per group as CSV (with --audio or --library).",
)
@click.option(
    "--compare",
    "compare_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A CSV from an earlier run (--csv): print each space's scores before and after.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the JSON report and the PNG figures.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the full report as JSON.")
@click.option("--blend-linear", is_flag=True, help=_BLEND_HELP)
@click.pass_context
def evaluate_cmd(
    ctx: click.Context,
    table: Path | None,
    audio: Path | None,
    from_library: bool,
    group_by: str | None,
    workers: int | None,
    csv_path: Path | None,
    compare_path: Path | None,
    out: Path | None,
    as_json: bool,
    blend_linear: bool,
) -> None:
    """Score the neighbours on a labelled table, or on your own music (--audio, --library).

    On a table (the bundled GTZAN one by default): neighbour genre precision, hubness, the genre
    model's scores, re-ranking and walk smoothness.

    With --audio DIR or --library it scores each song space instead (sound, features, the
    GTZAN LDA metric for reference) on your own music: how often a track's nearest tracks are
    of its group (precision@1/5/10, chance beside it), whether two excerpts of one long track
    find each other (--audio), and hubness. Files under 20 s are left out. --csv saves the
    scores, --compare sets an earlier CSV beside them.
    """
    if audio is not None or from_library:
        if audio is not None and from_library:
            raise click.UsageError("give --audio DIR or --library, not both")
        if table is not None or blend_linear:
            raise click.UsageError("--table and --blend-linear are for the table evaluation")
        _evaluate_own_music(
            ctx,
            audio=audio,
            group_by=group_by,
            workers=workers,
            csv_path=csv_path,
            compare_path=compare_path,
            out=out,
            as_json=as_json,
        )
        return
    if group_by or workers or csv_path or compare_path:
        raise click.UsageError("--group, --workers, --csv and --compare need --audio or --library")
    from indexer.evaluation.evaluate import evaluate_table
    from indexer.evaluation.report import public_report, write_report
    from indexer.model.gtzan_table import bundled_table_path, load_table

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


def _format_mean(value: float | dict[str, float]) -> str:
    if isinstance(value, dict):
        return f"{value['mean']:.3f} ± {value['std']:.3f}"
    return f"{float(value):.3f}"


def _evaluate_own_music(
    ctx: click.Context,
    *,
    audio: Path | None,
    group_by: str | None,
    workers: int | None,
    csv_path: Path | None,
    compare_path: Path | None,
    out: Path | None,
    as_json: bool,
) -> None:
    """``evaluate --audio`` and ``evaluate --library``: gather, score, print and write."""
    from indexer.evaluation import own_music_report as tables
    from indexer.evaluation.own_music import (
        analyse_folder,
        evaluate_collection,
        gtzan_scaler,
        library_collection,
    )

    started = time.perf_counter()
    before = tables.read_csv(compare_path) if compare_path is not None else None
    try:
        if audio is not None:
            group_by = group_by or "folder"
            collection = analyse_folder(
                audio,
                group_by=group_by,
                workers=workers or settings_of(ctx).workers,
                progress=not as_json,
                on_unreadable=lambda u: click.echo(f"unreadable: {u.path}: {u.reason}", err=True),
                # The scaler `Library.scaler` loads, without opening the database.
                scaler=ensure_scaler(settings_of(ctx).model_dir),
            )
        else:
            group_by = group_by or "album"
            collection = library_collection(library_of(ctx), group_by=group_by)
        report = evaluate_collection(collection, lda=gtzan_scaler(settings_of(ctx).model_dir))
    except IndexerError as exc:
        raise click.ClickException(str(exc)) from exc
    report = {
        "source": str(audio) if audio is not None else "library",
        "group_by": group_by,
        **report,
        "seconds": time.perf_counter() - started,
    }
    frame = tables.results_frame(report)
    written = tables.write_report(report, out) if out is not None else []
    if csv_path is not None:
        written.append(tables.write_csv(frame, csv_path))
    for path in written:
        click.echo(f"wrote {path}", err=True)
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    left_out = ", ".join(f"{count} {reason}" for reason, count in report["left_out"].items())
    click.echo(
        f"{report['n_tracks']} tracks in {report['n_groups']} groups by {group_by}, "
        f"{report['n_long_tracks']} long enough for two excerpts"
        + (f"; left out: {left_out}" if left_out else "")
        + (f"; {len(report['unreadable'])} unreadable" if report["unreadable"] else "")
    )
    click.echo(tables.overall_table(frame))
    click.echo(tables.group_table(frame))
    if before is not None:
        click.echo(f"Compared with {compare_path}:")
        click.echo(tables.compare_table(tables.compare(before, frame)))
    click.echo(f"{report['seconds']:.0f} s")
