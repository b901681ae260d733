"""The error body and the answer shapes more than one URL area declares.

The ``required_*`` helpers are for answers, whose keys are always present (perhaps null); query
parameters are declared with `service.query_fields`, which adds limits and error messages.
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from indexer.model.spaces import SPACES


def required_str(**kwargs: Any) -> fields.String:
    """A string every answer carries."""
    return fields.String(required=True, **kwargs)


def required_int(**kwargs: Any) -> fields.Integer:
    """An integer every answer carries."""
    return fields.Integer(required=True, **kwargs)


def required_float(**kwargs: Any) -> fields.Float:
    """A number every answer carries."""
    return fields.Float(required=True, **kwargs)


def required_list(item: fields.Field | type[Schema], **kwargs: Any) -> fields.List:
    """A list (of ``item`` fields, or of nested ``item`` schemas) every answer carries."""
    inner = fields.Nested(item) if isinstance(item, type) else item
    return fields.List(inner, required=True, **kwargs)


class Error(Schema):
    """Every error: a stable code and a message for people."""

    error = required_str()
    message = required_str()


class SongHeading(Schema):
    """What names a song in every answer that lists songs: its id, title, artist and album.

    A base for the answer schemas, never an answer of its own; subclasses add their fields
    after these four.
    """

    id = required_int()
    title = required_str()
    artist = required_str(allow_none=True)
    album = required_str(allow_none=True)


def space_field() -> fields.String:
    """The vector space a neighbour or path answer came from."""
    return required_str(
        validate=validate.OneOf(SPACES),
        metadata={"description": "the vector space that answered"},
    )


def space_note_field() -> fields.String:
    """Why that space is not the one the client would expect (absent when it is)."""
    return fields.String(
        metadata={"description": "why the answer comes from another space than expected"}
    )
