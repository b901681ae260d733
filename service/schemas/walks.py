"""The walks through the library: ``GET /api/path`` and ``POST /api/playlists``."""

from __future__ import annotations

from marshmallow import EXCLUDE, Schema, fields, validate

from indexer.limits import MAX_K, MAX_PATH_STEPS, MAX_PLAYLIST_LENGTH
from indexer.model.spaces import SPACES
from indexer.recommend.candidates import NEGATIVE_WEIGHT
from indexer.recommend.options import SPACE
from indexer.walks.path import DIRECTIONS
from service.query_fields import choice, field_for, integer, number, song_ids
from service.schemas.common import (
    SongHeading,
    required_float,
    required_int,
    required_list,
    required_str,
    space_field,
    space_note_field,
)

PLAYLIST_FORMATS = ("json", "m3u8")


# --- paths ----------------------------------------------------------------------------------


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


class PathStep(SongHeading):
    """One song of a path, its tempo and its cosines to the previous song and the goal."""

    duration_s = required_float()
    tempo_bpm = required_float()
    similarity_to_previous = required_float(allow_none=True)
    similarity_to_goal = required_float()


class SongPath(Schema):
    """A walk from one song to another."""

    start = required_int(data_key="from")
    end = required_int(data_key="to")
    steps = required_int()
    direction = required_str(allow_none=True, validate=validate.OneOf(DIRECTIONS))
    space = space_field()
    space_note = space_note_field()
    smoothness = required_float(allow_none=True)
    path = required_list(PathStep, validate=validate.Length(min=1))


# --- playlists ------------------------------------------------------------------------------


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


class PlaylistSong(SongHeading):
    """One song of a playlist, with its cosines to the previous song and to the seeds (mean)."""

    duration_s = required_float()
    audio_url = required_str()
    seed = fields.Boolean(required=True)
    similarity_to_previous = required_float(allow_none=True)
    similarity_to_seeds = required_float()


class Playlist(Schema):
    """A playlist grown from seed songs."""

    seeds = required_list(fields.Integer())
    negatives = required_list(fields.Integer(), data_key="not")
    length = required_int()
    max_per_artist = required_int(allow_none=True)
    space = required_str(validate=validate.OneOf(SPACES))
    space_note = fields.String(metadata={"description": "why the space is not the one expected"})
    smoothness = required_float(allow_none=True)
    songs = required_list(PlaylistSong, validate=validate.Length(min=1))
