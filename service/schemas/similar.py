"""The neighbour routes: ``GET /api/songs/<id>/similar``, ``POST /api/similar`` (an upload)
and ``GET /api/similar`` (seed songs or a tag profile).

Their parameters come from `indexer.recommend.options`, the declaration the command line's
options come from too, so both share one set of limits. The three answers end alike (the space,
its note, the neighbours, what re-ranking left out): `neighbour_answer` declares that once.
"""

from __future__ import annotations

from typing import Any

from flask_smorest.fields import Upload as UploadField
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from indexer.recommend.candidates import SEED_MODES
from indexer.recommend.explain import GROUPS
from indexer.recommend.options import RERANK, SEEDS, SPACE, K
from service.query_fields import fields_for, song_ids, tag_names
from service.schemas.common import (
    SongHeading,
    required_float,
    required_int,
    required_list,
    required_str,
    space_field,
    space_note_field,
)
from service.schemas.songs import Genre, NeighbourGenre, Song, Tag

# Why re-ranking may leave a candidate out (indexer.recommend.rerank).
DROP_REASONS = (
    "excluded",
    "genre",
    "tempo",
    "duration",
    "tag",
    "duplicate",
    "artist_cap",
    "album_cap",
)


# --- requests -------------------------------------------------------------------------------


SimilarQuery = Schema.from_dict(fields_for((K, SPACE, *RERANK)), name="SimilarQuery")

_SeedFields = Schema.from_dict(
    {
        "seed": song_ids("seed", "songs to start from (or give tags)"),
        "profile": tag_names(
            "tags",
            "start from the songs that best match these tags (or give seed songs)",
            data_key="tags",
        ),
    }
    | fields_for((K, SPACE, *SEEDS, *RERANK)),
    name="SeedFields",
)


class SeedQuery(_SeedFields):
    """``GET /api/similar``: seed songs, a tag profile, or both."""

    @validates_schema
    def _something_to_start_from(self, data: dict[str, Any], **_: Any) -> None:
        if not data.get("seed") and not data.get("profile"):
            raise ValidationError("give at least one seed (song id) or tags (tag names)")


class Upload(Schema):
    """A clip to analyse, as the multipart field ``file``."""

    file = UploadField(
        required=True,
        error_messages={"required": "send the audio as a multipart field named 'file'"},
    )


# --- answers --------------------------------------------------------------------------------


ExplanationParts = Schema.from_dict(
    {group: required_float() for group in GROUPS}, name="ExplanationParts"
)


class Explanation(Schema):
    """The cosine split over feature groups (Shapley values); the parts sum to it."""

    seed = fields.Integer(metadata={"description": "the seed explained against (seed queries)"})
    cosine = required_float()
    parts = fields.Nested(ExplanationParts, required=True)
    summary = required_str()
    shared_tags = fields.List(
        fields.String(), metadata={"description": "top tags the two songs have in common"}
    )


class Neighbour(SongHeading):
    """A song near the query, with its cosine score."""

    score = required_float()
    explanation = fields.Nested(Explanation)
    genre = fields.Nested(NeighbourGenre, required=True)
    tags = required_list(Tag)


class Dropped(Schema):
    """A candidate re-ranking left out, and why."""

    id = required_int()
    reason = required_str(validate=validate.OneOf(DROP_REASONS))
    detail = required_str()


def neighbour_answer() -> dict[str, fields.Field]:
    """The fields every neighbour answer ends with, for a schema's ``Meta.include``.

    ``include`` places them after the schema's own fields, so each answer lists what it is
    about first (the song, the seeds, the upload) and then its neighbours.
    """
    return {
        "space": space_field(),
        "space_note": space_note_field(),
        "neighbours": required_list(Neighbour),
        "dropped": fields.List(fields.Nested(Dropped)),
    }


class Similar(Schema):
    """A song and its neighbours."""

    class Meta:
        include = neighbour_answer()

    song = fields.Nested(Song, required=True)


class SeedSimilar(Schema):
    """Songs like the seeds and unlike the ``not`` songs."""

    class Meta:
        include = neighbour_answer()

    seeds = required_list(Song)
    profile = fields.List(
        fields.String(),
        data_key="tags",
        metadata={"description": "the tag profile the seeds were chosen by, when one was given"},
    )
    negatives = required_list(fields.Integer(), data_key="not")
    mode = required_str(validate=validate.OneOf(SEED_MODES))


class UploadInfo(Schema):
    """The uploaded clip."""

    filename = required_str()
    duration_s = required_float()


class UploadSimilar(Schema):
    """An uploaded clip's genre and nearest songs."""

    class Meta:
        include = neighbour_answer()

    upload = fields.Nested(UploadInfo, required=True)
    genre = fields.Nested(Genre, required=True)
