"""The tags the networks predict: ``GET /api/tags``, the vocabulary ``tag=`` and ``tags=`` take."""

from __future__ import annotations

from flask import Response, jsonify

from indexer.model.tags import KINDS, TAG_KINDS, TAG_THRESHOLD, TAG_VOCABULARY, tag_models
from service.api_blueprint import Blueprint
from service.schemas import library as library_schemas
from service.state import state

bp = Blueprint("tags", __name__, url_prefix="/api")


@bp.get("/tags")
@bp.response(200, library_schemas.TagVocabulary)
def list_tags() -> Response:
    """Every tag, its kind (genre, mood, era, …), the networks that predict it, and how many
    songs carry it (merged probability at least ``threshold``), in the networks' order."""
    tagged, counts = state().library.tag_counts()
    return jsonify(
        {
            "threshold": TAG_THRESHOLD,
            "songs_with_tags": tagged,
            "kinds": list(KINDS),
            "tags": [
                {
                    "tag": tag,
                    "kind": TAG_KINDS[tag],
                    "models": list(tag_models(tag)),
                    "songs": counts[tag],
                }
                for tag in TAG_VOCABULARY
            ],
        }
    )
