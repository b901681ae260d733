"""Write an evaluation (from `indexer.evaluation.evaluate.evaluate_table`) as JSON and PNG figures.

The figures are drawn with matplotlib's object API (no pyplot), so no GUI backend or global
state is involved and the command works on a headless server.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from indexer.model.gtzan_table import FeatureTable
from indexer.model.scaler import fit_scaler

REPORT_FILENAME = "evaluation.json"


def public_report(report: dict[str, Any]) -> dict[str, Any]:
    """``report`` without the per-song keys (those starting with ``_``)."""
    if isinstance(report, dict):
        return {k: public_report(v) for k, v in report.items() if not str(k).startswith("_")}
    return report


def write_report(report: dict[str, Any], table: FeatureTable, out_dir: Path) -> list[Path]:
    """Save ``evaluation.json`` and the figures of the honest split in ``out_dir``.

    Returns the written paths.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / REPORT_FILENAME
    json_path.write_text(json.dumps(public_report(report), indent=1) + "\n", encoding="utf-8")
    split = next(iter(report["genre"]))  # the honest split comes first
    genre = report["genre"][split]
    paths = [
        json_path,
        confusion_figure(genre, out_dir / "confusion.png", title=f"Genre confusion ({split})"),
        reliability_figure(genre, out_dir / "reliability.png", title=f"Calibration ({split})"),
        song_map_figure(table, out_dir / "song_map.png"),
    ]
    return paths


def confusion_figure(genre: dict[str, Any], path: Path, *, title: str) -> Path:
    """Row-normalized confusion matrix: row = true genre, column = predicted genre."""
    classes = genre["classes"]
    counts = np.asarray(genre["confusion"], dtype=np.float64)
    share = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    fig = Figure(figsize=(7, 6), layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted genre")
    ax.set_ylabel("true genre")
    for i in range(len(classes)):
        for j in range(len(classes)):
            if counts[i, j]:
                color = "white" if share[i, j] > 0.5 else "black"
                text = f"{share[i, j]:.2f}"
                ax.text(j, i, text, ha="center", va="center", fontsize=7, color=color)
    ax.set_title(f"{title}: accuracy {genre['accuracy']['mean']:.2f}")
    fig.colorbar(image, ax=ax, label="share of the true genre's songs")
    fig.savefig(path, dpi=100)
    return path


def reliability_figure(genre: dict[str, Any], path: Path, *, title: str, n_bins: int = 10) -> Path:
    """Accuracy against confidence in equal-width bins; the diagonal is perfect calibration."""
    confidence = np.asarray(genre["_reliability"]["confidence"])
    correct = np.asarray(genre["_reliability"]["correct"], dtype=np.float64)
    bins = np.minimum((confidence * n_bins).astype(int), n_bins - 1)
    centers, accuracy, sizes = [], [], []
    for b in range(n_bins):
        inside = bins == b
        if inside.any():
            centers.append(confidence[inside].mean())
            accuracy.append(correct[inside].mean())
            sizes.append(int(inside.sum()))
    fig = Figure(figsize=(5.5, 5), layout="constrained")
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", label="perfect calibration")
    ax.plot(centers, accuracy, marker="o", label="calibrated model")
    for x, y, n in zip(centers, accuracy, sizes, strict=True):
        ax.annotate(str(n), (x, y), textcoords="offset points", xytext=(4, -10), fontsize=7)
    ax.axvline(genre["uncertain_below"], color="tab:red", linewidth=0.8, label='"uncertain" below')
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("confidence (top genre probability)")
    ax.set_ylabel("share correct")
    ax.set_title(f"{title}: ECE {genre['ece_pooled']:.3f}")
    ax.legend(loc="upper left", fontsize=8)
    fig.savefig(path, dpi=100)
    return path


def song_map_figure(table: FeatureTable, path: Path) -> Path:
    """The songs on the first two LDA directions of the metric, coloured by genre."""
    scaler = fit_scaler(table.X, source_sha256=table.sha256, labels=table.labels, metric="lda")
    assert scaler.projection is not None
    projected = (scaler.standardize(table.X) - scaler.projection.center) @ (
        scaler.projection.scalings[:, :2]
    )
    fig = Figure(figsize=(7, 6), layout="constrained")
    ax = fig.add_subplot()
    classes = np.unique(table.labels)
    colors = [f"C{i}" for i in range(10)]
    markers = "os^vD"
    for i, label in enumerate(classes):
        rows = table.labels == label
        ax.scatter(
            projected[rows, 0],
            projected[rows, 1],
            s=9,
            alpha=0.7,
            color=colors[i % len(colors)],
            marker=markers[(i // len(colors)) % len(markers)],
            label=str(label),
        )
    ax.set_xlabel("discriminant 1")
    ax.set_ylabel("discriminant 2")
    ax.set_title("Songs on the metric's first two directions (fitted on all songs)")
    ax.legend(markerscale=2, fontsize=8, ncols=2)
    fig.savefig(path, dpi=100)
    return path
