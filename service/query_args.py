"""Query parameters of the API routes; the neighbour routes' are parsed once into re-ranking
options.

Every malformed value is a 400 naming the parameter. Values that are well formed but select
nothing (a tempo range with its minimum above its maximum) are answered, with fewer neighbours.
"""

from __future__ import annotations

import math
from typing import Any

from flask import request

from indexer.model.genre_labels import UNCERTAIN
from indexer.recommend.explain import Explanation
from indexer.recommend.rerank import Dropped, RerankOptions
from service.errors import ApiError
from service.state import state

MAX_IDS = 100
_TRUE = ("true", "1", "yes")
_FALSE = ("false", "0", "no")


def bool_arg(name: str) -> bool:
    """``true``/``false`` (also 1/0, yes/no); absent or empty is false."""
    raw = (request.args.get(name) or "").strip().lower()
    if raw in ("", *_FALSE):
        return False
    if raw in _TRUE:
        return True
    raise ApiError(400, "bad_parameter", f"{name} must be true or false, got {raw!r}")


def float_arg(name: str, *, low: float, high: float) -> float | None:
    """A finite number in ``[low, high]``, or None when absent."""
    raw = request.args.get(name)
    if raw is None or raw.strip() == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        raise ApiError(400, "bad_parameter", f"{name} must be a number, got {raw!r}") from None
    if not math.isfinite(value) or not low <= value <= high:
        raise ApiError(400, "bad_parameter", f"{name} must be between {low:g} and {high:g}")
    return value


def int_arg_or_none(name: str, *, low: int, high: int | None) -> int | None:
    """An integer in ``[low, high]`` (``high`` None: no upper bound), or None when absent."""
    raw = request.args.get(name)
    if raw is None or raw.strip() == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, "bad_parameter", f"{name} must be an integer, got {raw!r}") from None
    if value < low or (high is not None and value > high):
        bounds = f"at least {low}" if high is None else f"between {low} and {high}"
        raise ApiError(400, "bad_parameter", f"{name} must be {bounds}")
    return value


def int_arg(name: str, *, default: int, low: int, high: int) -> int:
    """An integer query parameter in ``[low, high]``, ``default`` when absent."""
    value = int_arg_or_none(name, low=low, high=high)
    return default if value is None else value


def ids_arg(name: str, *, required: bool = False) -> list[int]:
    """A repeated id parameter (``seed=1&seed=2``); commas also separate ids."""
    values = [v for raw in request.args.getlist(name) for v in raw.split(",") if v.strip()]
    if required and not values:
        raise ApiError(400, "bad_parameter", f"give at least one {name}")
    if len(values) > MAX_IDS:
        raise ApiError(400, "bad_parameter", f"at most {MAX_IDS} values of {name}")
    ids = []
    for value in values:
        try:
            song_id = int(value)
        except ValueError:
            raise ApiError(
                400, "bad_parameter", f"{name} must be song ids, got {value!r}"
            ) from None
        if song_id < 0:
            raise ApiError(400, "bad_parameter", f"{name} must be song ids, got {value!r}")
        ids.append(song_id)
    return ids


def rerank_options() -> RerankOptions:
    """The re-ranking options of this request; the defaults give the plain nearest songs."""
    genre = (request.args.get("genre") or "").strip() or None
    if genre is not None and genre not in [*state().library.genre_model.classes, UNCERTAIN]:
        raise ApiError(400, "bad_parameter", f"unknown genre {genre!r}")
    mmr_lambda = float_arg("mmr_lambda", low=0.0, high=1.0)
    # Read again when the answer is built; checked here so a bad flag fails before any work.
    bool_arg("explain")
    bool_arg("explain_drops")
    return RerankOptions(
        genre=genre,
        tempo_min_bpm=float_arg("tempo_min_bpm", low=0.0, high=1000.0),
        tempo_max_bpm=float_arg("tempo_max_bpm", low=0.0, high=1000.0),
        duration_min_s=float_arg("duration_min_s", low=0.0, high=1e6),
        duration_max_s=float_arg("duration_max_s", low=0.0, high=1e6),
        exclude=frozenset(ids_arg("exclude")),
        max_per_artist=int_arg_or_none("max_per_artist", low=1, high=100),
        max_per_album=int_arg_or_none("max_per_album", low=1, high=100),
        dedupe=bool_arg("dedupe"),
        mmr_lambda=1.0 if mmr_lambda is None else mmr_lambda,
        hubness=bool_arg("hubness"),
    )


def explanation_json(explanation: Explanation) -> dict[str, Any]:
    """Unrounded, so the parts add up to ``cosine`` exactly."""
    return {
        "cosine": explanation.cosine,
        "parts": explanation.parts,
        "summary": explanation.summary,
    }


def dropped_json(dropped: list[Dropped]) -> list[dict[str, Any]]:
    """What re-ranking left out, in the order it was decided."""
    return [{"id": d.id, "reason": d.reason, "detail": d.detail} for d in dropped]
