"""Songs like a set of seed songs and unlike others: ``GET /api/similar?seed=1&seed=2&not=5``.

Kept apart from :mod:`service.api`, whose routes start from one song or one upload.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from flask import Blueprint, jsonify, request

from db.models import Song
from indexer.explain import explain
from indexer.library import Neighbour
from indexer.recommend import NEGATIVE_WEIGHT, SEED_MODES, Context, recommend_for_seeds
from service.api import MAX_K, MAX_SONG_ID, context, int_arg, neighbours_payload, song_json
from service.errors import ApiError
from service.query_args import bool_arg, explanation_json, float_arg, ids_arg, rerank_options
from service.state import state

bp = Blueprint("recommend_api", __name__, url_prefix="/api")


@bp.get("/similar")
def similar_to_seeds():  # type: ignore[no-untyped-def]
    """The ``k`` songs nearest to the seeds (centroid or per-seed union), away from ``not``."""
    k = int_arg("k", default=10, low=1, high=MAX_K)
    seeds = ids_arg("seed", required=True)
    negatives = ids_arg("not")
    mode = (request.args.get("mode") or "centroid").strip()
    if mode not in SEED_MODES:
        raise ApiError(400, "bad_parameter", f"mode must be one of {', '.join(SEED_MODES)}")
    weight = float_arg("not_weight", low=0.0, high=1.0)
    options = rerank_options()
    unknown = [i for i in [*seeds, *negatives] if i > MAX_SONG_ID]
    if unknown:
        raise ApiError(404, "not_found", f"no song with id {unknown[0]}")
    ctx = context()
    seed_songs, result = recommend_for_seeds(
        ctx,
        seeds,
        negatives=negatives,
        k=k,
        options=options,
        mode=mode,
        negative_weight=NEGATIVE_WEIGHT if weight is None else weight,
    )
    payload = neighbours_payload(result)
    if bool_arg("explain") and result.neighbours:
        _explain_by_nearest_seed(payload["neighbours"], result.neighbours, seed_songs, ctx)
    return jsonify(
        {"seeds": [song_json(s) for s in seed_songs], "not": negatives, "mode": mode, **payload}
    )


def _explain_by_nearest_seed(
    items: list[dict[str, Any]], neighbours: list[Neighbour], seeds: list[Song], ctx: Context
) -> None:
    """A centroid is no song: each neighbour is explained against the seed nearest to it."""
    seed_vectors = np.vstack([ctx.library.vectors(s.feature_vector)[0] for s in seeds])
    scaler = state().library.scaler
    for item, neighbour in zip(items, neighbours, strict=True):
        vector = ctx.library.vectors(neighbour.song.feature_vector)[0]
        nearest = seeds[int(np.argmax(seed_vectors @ vector))]
        why = explain(scaler, nearest.feature_vector, neighbour.song.feature_vector)[0]
        item["explanation"] = {"seed": nearest.id, **explanation_json(why)}
