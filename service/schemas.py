"""What every JSON API route takes and answers, declared once.

Request schemas (``*Query``, ``AddSongs``, ``Upload``) validate each request before its view
runs, and flask-smorest writes them into the OpenAPI document (``GET /api/openapi.json``) with
their limits. The neighbour routes' parameters come from `indexer.recommend.options`, which the
command line builds its options from too.

Answer schemas describe the JSON the views build. The views build it as plain dicts, which
keeps marshmallow's per-object dumping off the neighbour routes (the service's hot path); the
schemathesis test checks every answer it provokes against these schemas, and an answer may
hold no key they do not declare.
"""

from __future__ import annotations

from typing import Any

from flask_smorest.fields import Upload as UploadField
from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates_schema

from indexer.limits import MAX_K, MAX_PAGE, MAX_PATH_STEPS, MAX_PLAYLIST_LENGTH
from indexer.model.spaces import SPACES
from indexer.model.tags import KINDS
from indexer.recommend.candidates import NEGATIVE_WEIGHT, SEED_MODES
from indexer.recommend.explain import GROUPS
from indexer.recommend.options import RERANK, SEEDS, SPACE, K
from indexer.walks.path import DIRECTIONS
from service.query_fields import (
    choice,
    field_for,
    fields_for,
    integer,
    number,
    song_ids,
    tag_names,
    text,
)

MAX_OFFSET = 10**9
PLAYLIST_FORMATS = ("json", "m3u8")
# Why re-ranking may leave a candidate out (indexer.rerank).
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


def _str(**kwargs: Any) -> fields.String:
    return fields.String(required=True, **kwargs)


def _int(**kwargs: Any) -> fields.Integer:
    return fields.Integer(required=True, **kwargs)


def _num(**kwargs: Any) -> fields.Float:
    return fields.Float(required=True, **kwargs)


def _list(item: fields.Field | type[Schema], **kwargs: Any) -> fields.List:
    inner = fields.Nested(item) if isinstance(item, type) else item
    return fields.List(inner, required=True, **kwargs)


# --- errors ---------------------------------------------------------------------------------


class Error(Schema):
    """Every error: a stable code and a message for people."""

    error = _str()
    message = _str()


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


class PathQuery(Schema):
    """``GET /api/path``: from one song to another in at most ``steps`` moves."""

    start = integer("from", "id of the first song", low=0, required=True, data_key="from")
    end = integer("to", "id of the last song", low=0, required=True, data_key="to")
    steps = integer("steps", "most moves (songs - 1)", low=1, high=MAX_PATH_STEPS, default=10)
    direction = choice(
        "direction",
        "keep the raw tempo feature falling or rising along the path",
        DIRECTIONS,
        blank_is_a_value=True,
    )
    space = field_for(SPACE)


class PlaylistFormat(Schema):
    """``POST /api/playlists``: how to answer (``Accept: audio/x-mpegurl`` asks for M3U8 too)."""

    format = choice(
        "format",
        "json, or m3u8 for an M3U8 file of the songs' audio URLs",
        PLAYLIST_FORMATS,
        blank_is_a_value=True,
    )


class PlaylistRequest(Schema):
    """``POST /api/playlists``: seeds to open with, how long, capped how, steered from what."""

    class Meta:
        unknown = EXCLUDE

    seeds = song_ids("seeds", "songs the playlist opens with, in order", required=True)
    length = integer(
        "length",
        "songs in the playlist, seeds included",
        low=1,
        high=MAX_PLAYLIST_LENGTH,
        default=25,
    )
    max_per_artist = integer(
        "max_per_artist",
        "at most this many songs by one artist, seeds included",
        low=1,
        high=MAX_K,
    )
    negatives = song_ids("not", "songs to steer away from (never in the playlist)", data_key="not")
    not_weight = number(
        "not_weight",
        "how hard the 'not' songs push the playlist away (0: not at all)",
        low=0.0,
        high=1.0,
        default=NEGATIVE_WEIGHT,
    )
    space = field_for(SPACE)


class Upload(Schema):
    """A clip to analyse, as the multipart field ``file``."""

    file = UploadField(
        required=True,
        error_messages={"required": "send the audio as a multipart field named 'file'"},
    )


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

    label = _str()
    probability = _num()


class NeighbourGenre(Schema):
    """A genre label (``uncertain`` below the model's threshold), its probability, the top 3."""

    label = _str(allow_none=True)
    confidence = _num(allow_none=True)
    probability = fields.Float(allow_none=True)
    top = fields.List(fields.Nested(TopGenre))


class Genre(NeighbourGenre):
    """As for a neighbour, with every genre's probability."""

    probabilities = fields.Dict(keys=fields.String(), values=fields.Float(), required=True)


class Tag(Schema):
    """One of a song's top tags and its probability (the network's, merged over both)."""

    tag = _str()
    probability = _num()


class Song(Schema):
    """The public view of a song: never its path on the server."""

    id = _int()
    title = _str()
    artist = _str(allow_none=True)
    album = _str(allow_none=True)
    duration_s = _num()
    filename = _str()
    genre = fields.Nested(Genre, required=True)
    model_version = _str(allow_none=True)
    audio_url = _str()
    tags = _list(Tag, metadata={"description": "top tags; empty until the network has run"})


ExplanationParts = Schema.from_dict({group: _num() for group in GROUPS}, name="ExplanationParts")


class Explanation(Schema):
    """The cosine split over feature groups (Shapley values); the parts sum to it."""

    seed = fields.Integer(metadata={"description": "the seed explained against (seed queries)"})
    cosine = _num()
    parts = fields.Nested(ExplanationParts, required=True)
    summary = _str()
    shared_tags = fields.List(
        fields.String(), metadata={"description": "top tags the two songs have in common"}
    )


class Neighbour(Schema):
    """A song near the query, with its cosine score."""

    id = _int()
    title = _str()
    artist = _str(allow_none=True)
    album = _str(allow_none=True)
    score = _num()
    explanation = fields.Nested(Explanation)
    genre = fields.Nested(NeighbourGenre, required=True)
    tags = _list(Tag)


class Dropped(Schema):
    """A candidate re-ranking left out, and why."""

    id = _int()
    reason = _str(validate=validate.OneOf(DROP_REASONS))
    detail = _str()


def _space() -> fields.String:
    return _str(
        validate=validate.OneOf(SPACES),
        metadata={"description": "the vector space that answered"},
    )


def _space_note() -> fields.String:
    return fields.String(
        metadata={"description": "why the answer comes from another space than expected"}
    )


class Similar(Schema):
    """A song and its neighbours."""

    song = fields.Nested(Song, required=True)
    space = _space()
    space_note = _space_note()
    neighbours = _list(Neighbour)
    dropped = fields.List(fields.Nested(Dropped))


class SeedSimilar(Schema):
    """Songs like the seeds and unlike the ``not`` songs."""

    seeds = _list(Song)
    profile = fields.List(
        fields.String(),
        data_key="tags",
        metadata={"description": "the tag profile the seeds were chosen by, when one was given"},
    )
    negatives = _list(fields.Integer(), data_key="not")
    mode = _str(validate=validate.OneOf(SEED_MODES))
    space = _space()
    space_note = _space_note()
    neighbours = _list(Neighbour)
    dropped = fields.List(fields.Nested(Dropped))


class UploadInfo(Schema):
    """The uploaded clip."""

    filename = _str()
    duration_s = _num()


class UploadSimilar(Schema):
    """An uploaded clip's genre and nearest songs."""

    upload = fields.Nested(UploadInfo, required=True)
    genre = fields.Nested(Genre, required=True)
    space = _space()
    space_note = _space_note()
    neighbours = _list(Neighbour)
    dropped = fields.List(fields.Nested(Dropped))


class SoundSpace(Schema):
    """Whether every song has the network's sound description (``soundalike backfill`` adds it)."""

    complete = fields.Boolean(required=True)
    missing = _int(metadata={"description": "Songs without the current sound description."})


class Health(Schema):
    """Liveness and what is loaded."""

    status = _str()
    songs = _int()
    indexed = _int()
    index_generation = _int()
    model_version = _str(allow_none=True)
    sound_space = fields.Nested(SoundSpace, required=True)


class SongPage(Schema):
    """A page of the song listing."""

    items = _list(Song)
    total = _int()
    limit = _int()
    offset = _int()
    next_cursor = _str(
        allow_none=True,
        metadata={"description": "pass as cursor for the next page; null after the last page"},
    )


class Skipped(Schema):
    """A file that was not indexed, and why."""

    path = _str()
    reason = _str()


class AddReport(Schema):
    """What indexing the given paths did."""

    added = _int()
    updated = _int()
    unchanged = _int()
    skipped = _list(Skipped)
    index_generation = _int(allow_none=True)


class Removed(Schema):
    """The song removed and the index generation without it."""

    removed = _int()
    index_generation = _int()


class Metric(Schema):
    """The neighbour metric in use."""

    kind = _str()
    scaler_version = _str()


class Model(Schema):
    """The genre model's version and measured scores, and the neighbour metric."""

    version = _str()
    classes = _list(fields.String())
    trained_at = fields.String(allow_none=True)
    table_sha256 = fields.String(allow_none=True)
    scores = fields.Dict(required=True)
    temperature = fields.Float(allow_none=True)
    uncertain_below = fields.Float(allow_none=True)
    metric = fields.Nested(Metric, required=True)


class GenreCount(Schema):
    """Songs labelled with one genre."""

    label = _str()
    count = _int()


class LibraryStats(Schema):
    """Songs per genre and the index's state."""

    songs = _int()
    indexed = _int()
    index_generation = _int()
    synced_at = fields.String(allow_none=True)
    index_written_at = fields.String(allow_none=True)
    model_version = fields.String(allow_none=True)
    max_upload_bytes = fields.Integer()
    genres = _list(GenreCount)


class MapPoint(Schema):
    """A song on the 2-D map."""

    id = _int()
    title = _str()
    artist = fields.String(allow_none=True)
    genre = fields.String(allow_none=True)
    x = _num()
    y = _num()


class LibraryMap(Schema):
    """Songs at their 2-D PCA position."""

    index_generation = _int()
    method = _str()
    explained_variance = fields.List(fields.Float())
    songs = _int(metadata={"description": "songs in the library"})
    sampled = fields.Boolean(
        required=True,
        metadata={"description": "true when the points are an even sample of a larger library"},
    )
    points = _list(MapPoint)


class PathStep(Schema):
    """One song of a path, its tempo and its cosines to the previous song and the goal."""

    id = _int()
    title = _str()
    artist = _str(allow_none=True)
    album = _str(allow_none=True)
    duration_s = _num()
    tempo_bpm = _num()
    similarity_to_previous = _num(allow_none=True)
    similarity_to_goal = _num()


class SongPath(Schema):
    """A walk from one song to another."""

    start = _int(data_key="from")
    end = _int(data_key="to")
    steps = _int()
    direction = _str(allow_none=True, validate=validate.OneOf(DIRECTIONS))
    space = _space()
    space_note = _space_note()
    smoothness = _num(allow_none=True)
    path = _list(PathStep, validate=validate.Length(min=1))


class TagInfo(Schema):
    """One tag of the networks' vocabulary."""

    tag = _str()
    kind = _str(validate=validate.OneOf(KINDS))
    models = _list(fields.String(), metadata={"description": "the networks that predict it"})
    songs = _int(metadata={"description": "songs that carry it"})


class TagVocabulary(Schema):
    """Every tag the networks predict, with its kind and how many songs carry it."""

    threshold = _num(metadata={"description": "probability at which a song carries a tag"})
    songs_with_tags = _int()
    kinds = _list(fields.String())
    tags = _list(TagInfo)


class PlaylistSong(Schema):
    """One song of a playlist, with its cosines to the previous song and to the seeds (mean)."""

    id = _int()
    title = _str()
    artist = _str(allow_none=True)
    album = _str(allow_none=True)
    duration_s = _num()
    audio_url = _str()
    seed = fields.Boolean(required=True)
    similarity_to_previous = _num(allow_none=True)
    similarity_to_seeds = _num()


class Playlist(Schema):
    """A playlist grown from seed songs."""

    seeds = _list(fields.Integer())
    negatives = _list(fields.Integer(), data_key="not")
    length = _int()
    max_per_artist = _int(allow_none=True)
    space = _str(validate=validate.OneOf(SPACES))
    space_note = fields.String(metadata={"description": "why the space is not the one expected"})
    smoothness = _num(allow_none=True)
    songs = _list(PlaylistSong, validate=validate.Length(min=1))
