"""The library as a whole: ``/api/library/stats``, ``/api/library/map`` and ``/api/tags``."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from indexer.model.tags import KINDS
from service.schemas.common import required_float, required_int, required_list, required_str


class GenreCount(Schema):
    """Songs labelled with one genre."""

    label = required_str()
    count = required_int()


class LibraryStats(Schema):
    """Songs per genre and the index's state."""

    songs = required_int()
    indexed = required_int()
    index_generation = required_int()
    synced_at = fields.String(allow_none=True)
    index_written_at = fields.String(allow_none=True)
    model_version = fields.String(allow_none=True)
    max_upload_bytes = fields.Integer()
    genres = required_list(GenreCount)


class MapPoint(Schema):
    """A song on the 2-D map."""

    id = required_int()
    title = required_str()
    artist = fields.String(allow_none=True)
    genre = fields.String(allow_none=True)
    x = required_float()
    y = required_float()


class LibraryMap(Schema):
    """Songs at their 2-D PCA position."""

    index_generation = required_int()
    method = required_str()
    explained_variance = fields.List(fields.Float())
    songs = required_int(metadata={"description": "songs in the library"})
    sampled = fields.Boolean(
        required=True,
        metadata={"description": "true when the points are an even sample of a larger library"},
    )
    points = required_list(MapPoint)


class TagInfo(Schema):
    """One tag of the networks' vocabulary."""

    tag = required_str()
    kind = required_str(validate=validate.OneOf(KINDS))
    models = required_list(
        fields.String(), metadata={"description": "the networks that predict it"}
    )
    songs = required_int(metadata={"description": "songs that carry it"})


class TagVocabulary(Schema):
    """Every tag the networks predict, with its kind and how many songs carry it."""

    threshold = required_float(
        metadata={"description": "probability at which a song carries a tag"}
    )
    songs_with_tags = required_int()
    kinds = required_list(fields.String())
    tags = required_list(TagInfo)
