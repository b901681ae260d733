"""``/api/songs`` (list, get, add, delete), ``/api/health`` and ``/api/model``.

`Song`, its `Genre` and its `Tag` list are also what the neighbour answers (`similar`) show of
a seed or a neighbour.
"""

from __future__ import annotations

from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates_schema

from indexer.limits import MAX_PAGE
from service.query_fields import integer, text
from service.schemas.common import (
    SongHeading,
    required_float,
    required_int,
    required_list,
    required_str,
)

MAX_OFFSET = 10**9


# --- requests -------------------------------------------------------------------------------


class SongListQuery(Schema):
    """``GET /api/songs``: search and one of two ways to page."""

    q = text(
        "q",
        "text in title, artist or album",
        # PostgreSQL text cannot hold NUL: refused here rather than failing in the database.
        validators=[validate.Regexp(r"^[^\x00]*$", error="q must not contain NUL characters")],
    )
    limit = integer("limit", "page size", low=1, high=MAX_PAGE, default=50)
    offset = integer("offset", "rows to skip", low=0, high=MAX_OFFSET, default=0)
    cursor = text("cursor", "next_cursor of the previous page (keyset paging; not with offset)")

    @validates_schema
    def _one_way_to_page(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("cursor") and data.get("offset"):
            raise ValidationError("use either cursor or offset, not both")


class AddSongs(Schema):
    """Files or folders already on the server, to index."""

    class Meta:
        unknown = EXCLUDE

    # marshmallow formats its messages, hence the doubled braces.
    _how = 'send JSON {{"paths": ["/music/a.flac", ...]}}'
    paths = fields.List(
        fields.String(error_messages={"invalid": _how}),
        required=True,
        validate=validate.Length(min=1, error=_how),
        error_messages={"required": _how, "invalid": _how},
    )


# --- answers --------------------------------------------------------------------------------


class TopGenre(Schema):
    """One of a song's most probable genres."""

    label = required_str()
    probability = required_float()


class NeighbourGenre(Schema):
    """A genre label (``uncertain`` below the model's threshold), its probability, the top 3."""

    label = required_str(allow_none=True)
    confidence = required_float(allow_none=True)
    probability = fields.Float(allow_none=True)
    top = fields.List(fields.Nested(TopGenre))


class Genre(NeighbourGenre):
    """As for a neighbour, with every genre's probability."""

    probabilities = fields.Dict(keys=fields.String(), values=fields.Float(), required=True)


class Tag(Schema):
    """One of a song's top tags and its probability (the network's, merged over both)."""

    tag = required_str()
    probability = required_float()


class Song(SongHeading):
    """The public view of a song: never its path on the server."""

    duration_s = required_float()
    filename = required_str()
    genre = fields.Nested(Genre, required=True)
    model_version = required_str(allow_none=True)
    audio_url = required_str()
    tags = required_list(Tag, metadata={"description": "top tags; empty until the network has run"})


class SongPage(Schema):
    """A page of the song listing."""

    items = required_list(Song)
    total = required_int()
    limit = required_int()
    offset = required_int()
    next_cursor = required_str(
        allow_none=True,
        metadata={"description": "pass as cursor for the next page; null after the last page"},
    )


class Skipped(Schema):
    """A file that was not indexed, and why."""

    path = required_str()
    reason = required_str()


class AddReport(Schema):
    """What indexing the given paths did."""

    added = required_int()
    updated = required_int()
    unchanged = required_int()
    skipped = required_list(Skipped)
    index_generation = required_int(allow_none=True)


class Removed(Schema):
    """The song removed and the index generation without it."""

    removed = required_int()
    index_generation = required_int()


class SoundSpace(Schema):
    """Whether every song has the network's sound description (``soundalike backfill`` adds it)."""

    complete = fields.Boolean(required=True)
    missing = required_int(metadata={"description": "Songs without the current sound description."})


class Health(Schema):
    """Liveness and what is loaded."""

    status = required_str()
    songs = required_int()
    indexed = required_int()
    index_generation = required_int()
    model_version = required_str(allow_none=True)
    sound_space = fields.Nested(SoundSpace, required=True)


class Metric(Schema):
    """The neighbour metric in use."""

    kind = required_str()
    scaler_version = required_str()


class Model(Schema):
    """The genre model's version and measured scores, and the neighbour metric."""

    version = required_str()
    classes = required_list(fields.String())
    trained_at = fields.String(allow_none=True)
    table_sha256 = fields.String(allow_none=True)
    scores = fields.Dict(required=True)
    temperature = fields.Float(allow_none=True)
    uncertain_below = fields.Float(allow_none=True)
    metric = fields.Nested(Metric, required=True)
