"""The fields query parameters are declared with, and how a shared `Parameter` becomes one.

Each helper returns a marshmallow field whose limits validate the request and appear in the
OpenAPI document (apispec reads ``Range`` as minimum/maximum, ``OneOf`` as an enum), and whose
error messages name the parameter, so a refused request says what to fix:
``{"error": "bad_parameter", "message": "k must be between 1 and 100"}``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from marshmallow import ValidationError, fields, validate

from indexer.limits import MAX_IDS
from indexer.model.tags import TAG_VOCABULARY
from indexer.recommend.options import Parameter, known_genres
from service.state import state

# Ids are 32-bit integers in PostgreSQL. A larger id is well formed but names no song, so the
# routes answer 404 for it; the document still tells clients where ids end.
MAX_SONG_ID = 2**31 - 1


def integer(
    name: str,
    about: str,
    *,
    low: int,
    high: int | None = None,
    default: int | None = None,
    required: bool = False,
    data_key: str | None = None,
) -> fields.Integer:
    """An integer in ``[low, high]`` (no upper bound when ``high`` is None)."""
    bounds = f"at least {low}" if high is None else f"between {low} and {high}"
    return fields.Integer(
        **_presence(required=required, default=default),
        data_key=data_key,
        validate=validate.Range(min=low, max=high, error=f"{name} must be {bounds}"),
        error_messages={
            "invalid": f"{name} must be an integer",
            "too_large": f"{name} must be {bounds}",
            "required": f"{name} is required",
        },
        metadata={"description": about},
    )


def number(
    name: str,
    about: str,
    *,
    low: float,
    high: float | None,
    default: float | None = None,
    data_key: str | None = None,
) -> fields.Float:
    """A finite number in ``[low, high]`` (no upper bound when ``high`` is None)."""
    bounds = f"at least {low:g}" if high is None else f"between {low:g} and {high:g}"
    return fields.Float(
        **_presence(required=False, default=default),
        data_key=data_key,
        validate=validate.Range(min=low, max=high, error=f"{name} must be {bounds}"),
        error_messages={
            "invalid": f"{name} must be a number",
            "too_large": f"{name} must be {bounds}",
            "special": f"{name} must be a finite number",
        },
        metadata={"description": about},
    )


def flag(name: str, about: str, *, data_key: str | None = None) -> fields.Boolean:
    """``true`` or ``false`` (also 1/0, yes/no, in any case); absent is false."""
    return fields.Boolean(
        load_default=False,
        data_key=data_key,
        truthy={"true", "1", "yes"},
        falsy={"false", "0", "no"},
        error_messages={"invalid": f"{name} must be true or false"},
        metadata={"description": about},
    )


def song_ids(
    name: str, about: str, *, required: bool = False, data_key: str | None = None
) -> fields.List:
    """Song ids, by repeating the parameter (``seed=1&seed=2``) or separated by commas."""
    item = fields.Integer(
        validate=validate.Range(min=0, error=f"{name} must be song ids"),
        error_messages={"invalid": f"{name} must be song ids"},
        metadata={"maximum": MAX_SONG_ID},
    )
    lengths = validate.Length(
        min=1 if required else None, max=MAX_IDS, error=f"give 1 to {MAX_IDS} values of {name}"
    )
    return fields.List(
        item,
        **_presence(required=required, default=list),
        data_key=data_key,
        validate=lengths,
        error_messages={"required": f"give at least one {name}"},
        metadata={"description": about},
    )


def choice(
    name: str,
    about: str,
    choices: Sequence[str],
    *,
    default: str | None = None,
    blank_is_a_value: bool = False,
    data_key: str | None = None,
) -> fields.String:
    """One of ``choices``. With ``blank_is_a_value`` an empty value is refused, not absent."""
    return fields.String(
        **_presence(required=False, default=default),
        data_key=data_key,
        validate=validate.OneOf(choices, error=f"{name} must be one of {', '.join(choices)}"),
        metadata={"description": about, "blank_is_a_value": blank_is_a_value},
    )


def text(
    name: str,
    about: str,
    *,
    validators: Sequence[Callable[[str], Any]] = (),
    data_key: str | None = None,
) -> fields.String:
    """Free text (checked by ``validators``, if any)."""
    return fields.String(
        data_key=data_key,
        validate=list(validators),
        metadata={"description": about},
    )


MAX_TAGS = 10
UNKNOWN_TAG_HINT = "GET /api/tags lists the known tags"


class TagName(fields.String):
    """A tag name as the vocabulary spells it: case and runs of spaces do not matter."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        return " ".join(super()._deserialize(value, attr, data, **kwargs).split()).lower()


def tag_names(
    name: str, about: str, *, required: bool = False, data_key: str | None = None
) -> fields.List:
    """Tag names, by repeating the parameter (``tag=chill&tag=piano``) or separated by commas.

    The document lists the vocabulary as the items' enum, so clients can offer it.
    """
    item = TagName(
        validate=validate.OneOf(
            TAG_VOCABULARY, error=f"unknown tag {{input!r}} in {name}; {UNKNOWN_TAG_HINT}"
        ),
    )
    lengths = validate.Length(
        min=1 if required else None, max=MAX_TAGS, error=f"give 1 to {MAX_TAGS} values of {name}"
    )
    return fields.List(
        item,
        **_presence(required=required, default=list),
        data_key=data_key,
        validate=lengths,
        error_messages={"required": f"give at least one {name}"},
        metadata={"description": about},
    )


def _presence(*, required: bool, default: Any) -> dict[str, Any]:
    # marshmallow refuses a default for a required field; a parameter without a default stays
    # out of the parsed values when absent, so the document does not call it nullable.
    if required:
        return {"required": True}
    return {} if default is None else {"load_default": default}


def _known_genre(genre: str) -> None:
    # The genre model's labels are known once the app has loaded its model, not at import.
    if genre not in known_genres(state().library.genre_model.classes):
        raise ValidationError(f"unknown genre {genre!r}")


def field_for(parameter: Parameter) -> fields.Field:
    """The field of a parameter declared in `indexer.recommend.options`, with its limits.

    The field goes by the parameter's Python name; its HTTP name is the data key.
    """
    name, about, default = parameter.name, parameter.help, parameter.default
    data_key = name if parameter.dest else None
    match parameter.kind:
        case "int":
            low = int(parameter.low or 0)
            high = None if parameter.high is None else int(parameter.high)
            return integer(name, about, low=low, high=high, default=default, data_key=data_key)
        case "number":
            low_f, high_f = parameter.low or 0.0, parameter.high
            return number(name, about, low=low_f, high=high_f, default=default, data_key=data_key)
        case "flag":
            return flag(name, about, data_key=data_key)
        case "ids":
            return song_ids(name, about, data_key=data_key)
        case "choice":
            return choice(name, about, parameter.choices, default=default, data_key=data_key)
        case "genre":
            return text(name, about, validators=[_known_genre], data_key=data_key)
        case "tags":
            return tag_names(name, about, data_key=data_key)
    raise AssertionError(f"no field for parameter kind {parameter.kind!r}")


def fields_for(parameters: Sequence[Parameter]) -> dict[str, fields.Field]:
    """Fields keyed by each parameter's Python name."""
    return {p.key: field_for(p) for p in parameters}
