"""Songs like a set of seed songs and unlike others: ``GET /api/similar?seed=1&seed=2&not=5``.

Kept apart from :mod:`service.api`, whose routes start from one song or one upload.
"""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from indexer.recommend.candidates import (
    NEGATIVE_WEIGHT,
    SEED_MODES,
    explain_neighbours,
    recommend_for_seeds,
)
from service.api import MAX_K, MAX_SONG_ID, context, neighbours_payload, song_json
from service.errors import ApiError
from service.query_args import (
    bool_arg,
    explanation_json,
    float_arg,
    ids_arg,
    int_arg,
    rerank_options,
)

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
        explained = explain_neighbours(ctx.library, seed_songs, result.neighbours)
        for item, (seed_id, why) in zip(payload["neighbours"], explained, strict=True):
            item["explanation"] = {"seed": seed_id, **explanation_json(why)}
    return jsonify(
        {"seeds": [song_json(s) for s in seed_songs], "not": negatives, "mode": mode, **payload}
    )
