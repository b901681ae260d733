"""The own-music evaluation as a user meets it: a table on the terminal, CSV, JSON and a figure.

The scores are a table (space by metric, and space by group), so they are kept as a pandas
DataFrame: one row per space and scope, written to CSV so that a later run can be set beside
this one (``soundalike evaluate --compare before.csv``) after a change to the recipe, the model
or the library. pandas is imported only here, on the evaluate path.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from indexer.errors import ParameterError

REPORT_FILENAME = "own_music.json"
FIGURE_FILENAME = "own_music.png"
ALL = "all"
GROUP = "group"
# Columns of the CSV, in order; a score's chance level sits right after it.
COLUMNS = (
    "space",
    "scope",
    "group",
    "n_tracks",
    "precision@1",
    "precision@5",
    "precision@10",
    "precision_chance",
    "excerpt@1",
    "excerpt@1_chance",
    "recall@5",
    "recall@5_chance",
    "n_excerpts",
    "hub_skewness",
)
SCORES = ("precision@1", "precision@5", "precision@10", "excerpt@1", "recall@5", "hub_skewness")
_SHORT = {
    "precision@1": "p@1",
    "precision@5": "p@5",
    "precision@10": "p@10",
    "excerpt@1": "exc@1",
    "recall@5": "rec@5",
    "hub_skewness": "hub",
}


def results_frame(report: dict[str, Any]) -> pd.DataFrame:
    """One row per space with scope ``all``, then one per space and group (scope ``group``)."""
    rows = []
    for space, scores in report["spaces"].items():
        row: dict[str, Any] = {"space": space, "scope": ALL, "group": "", **_overall(scores)}
        rows.append(row)
    for space, scores in report["spaces"].items():
        for group, entry in scores.get("per_group", {}).items():
            rows.append(
                {
                    "space": space,
                    "scope": GROUP,
                    "group": group,
                    "n_tracks": entry["n_tracks"],
                    "precision_chance": entry["chance"],
                    **{key: value for key, value in entry.items() if key.startswith("precision@")},
                }
            )
    return pd.DataFrame(rows, columns=list(COLUMNS))


def _overall(scores: dict[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {"n_tracks": scores["n_tracks"]}
    for key, entry in scores.items():
        if key.startswith("precision@"):
            row[key] = entry["value"]
            row["precision_chance"] = entry["chance"]
    excerpts = scores.get("excerpts")
    if excerpts:
        for key in ("excerpt@1", "recall@5"):
            row[key] = excerpts[key]["value"]
            row[f"{key}_chance"] = excerpts[key]["chance"]
        row["n_excerpts"] = excerpts["n_excerpts"]
    row["hub_skewness"] = scores["hubness"]["k_occurrence_skewness"]
    return row


def write_csv(frame: pd.DataFrame, path: Path) -> Path:
    """Save the results table as CSV (UTF-8, no index column)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return path


def read_csv(path: Path) -> pd.DataFrame:
    """A results table written by `write_csv`; `ParameterError` if it is not one."""
    try:
        frame = pd.read_csv(path, dtype={"space": str, "scope": str, "group": str})
    except (OSError, ValueError) as exc:
        raise ParameterError(f"cannot read {path}: {exc}") from exc
    missing = [c for c in ("space", "scope", "group", *SCORES) if c not in frame.columns]
    if missing:
        raise ParameterError(f"{path} is not an evaluation CSV: no column {missing[0]!r}")
    frame["group"] = frame["group"].fillna("")
    return frame


def compare(before: pd.DataFrame, after: pd.DataFrame) -> pd.DataFrame:
    """Each space's overall scores before and after, and the change (after minus before).

    Spaces found in only one table keep their row, with the other side empty.
    """
    keys = ["space"]
    old = before[before["scope"] == ALL].set_index(keys)[list(SCORES)]
    new = after[after["scope"] == ALL].set_index(keys)[list(SCORES)]
    joined = pd.merge(
        old, new, how="outer", left_index=True, right_index=True, suffixes=(" before", " after")
    )
    columns = {}
    for score in SCORES:
        columns[(_SHORT[score], "before")] = joined[f"{score} before"]
        columns[(_SHORT[score], "after")] = joined[f"{score} after"]
        columns[(_SHORT[score], "change")] = joined[f"{score} after"] - joined[f"{score} before"]
    order = list(dict.fromkeys([*after["space"], *before["space"]]))
    return pd.DataFrame(columns).reindex(order)


def overall_table(frame: pd.DataFrame) -> str:
    """The spaces side by side, with a line of chance levels first."""
    overall = frame[frame["scope"] == ALL].set_index("space")
    shown = overall[list(SCORES)].rename(columns=_SHORT)
    first = overall.iloc[0]
    chance = {
        "p@1": first["precision_chance"],
        "p@5": first["precision_chance"],
        "p@10": first["precision_chance"],
        "exc@1": first["excerpt@1_chance"],
        "rec@5": first["recall@5_chance"],
        "hub": np.nan,
    }
    chance_row = pd.DataFrame([chance], index=["(chance)"])
    table = pd.concat([chance_row, shown]).dropna(axis=1, how="all")
    return table.to_string(float_format=lambda v: f"{v:.3f}", na_rep="")


def group_table(frame: pd.DataFrame, *, score: str = "precision@5", most: int = 30) -> str:
    """Each group's ``score`` in every space (columns), with its size and chance.

    At most the ``most`` largest groups, so a big library's table fits a screen; every group is
    in the CSV and the JSON.
    """
    groups = frame[frame["scope"] == GROUP]
    if score not in groups or groups[score].isna().all():
        score = "precision@1"
    wide = groups.pivot(index="group", columns="space", values=score)
    wide = wide[list(dict.fromkeys(groups["space"]))]
    sizes = groups.drop_duplicates("group").set_index("group")[["n_tracks", "precision_chance"]]
    table = sizes.rename(columns={"n_tracks": "tracks", "precision_chance": "chance"}).join(wide)
    table = table.sort_values("tracks", ascending=False, kind="stable")
    more = len(table) - most
    text = f"{_SHORT[score]} per group:\n" + table.head(most).to_string(
        float_format=lambda v: f"{v:.3f}", na_rep=""
    )
    return text + (f"\n... and {more} smaller groups (all in --csv and --out)" if more > 0 else "")


def compare_table(table: pd.DataFrame) -> str:
    """`compare`'s result as text, one block of columns per score."""
    return table.to_string(float_format=lambda v: f"{v:.3f}", na_rep="")


def write_report(report: dict[str, Any], out_dir: Path) -> list[Path]:
    """Save the report as JSON and the precision figure in ``out_dir``; returns the paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / REPORT_FILENAME
    json_path.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    return [json_path, scores_figure(results_frame(report), out_dir / FIGURE_FILENAME)]


def scores_figure(frame: pd.DataFrame, path: Path) -> Path:
    """Bars of every space's scores, with each score's chance level as a black tick."""
    overall = frame[frame["scope"] == ALL].set_index("space")
    scores = [s for s in SCORES[:-1] if overall[s].notna().any()]
    chance_of = {s: "precision_chance" for s in scores if s.startswith("precision@")}
    chance_of.update({"excerpt@1": "excerpt@1_chance", "recall@5": "recall@5_chance"})
    fig = Figure(figsize=(1.6 * len(scores) + 2, 4.5), layout="constrained")
    ax = fig.add_subplot()
    width = 0.8 / len(overall)
    x = np.arange(len(scores))
    for i, (space, row) in enumerate(overall.iterrows()):
        values = [row[s] for s in scores]
        ax.bar(x + (i - (len(overall) - 1) / 2) * width, values, width, label=str(space))
    chance = [overall[chance_of[s]].iloc[0] for s in scores]
    ax.scatter(x, chance, marker="_", s=900, color="black", label="chance", zorder=3)
    ax.set_xticks(x, [_SHORT[s] for s in scores])
    ax.set_ylim(0, 1)
    ax.set_ylabel("share")
    n_tracks = int(overall["n_tracks"].iloc[0])
    ax.set_title(f"Own music: {n_tracks} tracks, group precision and excerpt self-retrieval")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))  # beside, not on, the bars
    fig.savefig(path, dpi=100)
    return path
