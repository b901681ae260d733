"""The blueprint every JSON API area uses: flask-smorest's, reading requests our way.

flask-smorest runs each route's request schema (service/schemas/) through webargs before the
view and records it for the OpenAPI document. This module adds what all routes share:

- A blank query value (``genre=``, as a form left empty sends it) means the parameter is absent;
  only a choice declared with ``blank_is_a_value`` refuses it.
- A list of song ids repeats the parameter (``seed=1&seed=2``) or separates ids by commas.
- A request that fails validation is a 400 in the service's one error shape, never webargs' 422:
  ``bad_parameter`` for the query string, ``bad_body`` for a JSON body, ``missing_file`` for an
  upload, with the first problem as the message.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from http import HTTPStatus
from typing import Any, NoReturn

import flask_smorest
from flask import Request
from marshmallow import Schema, ValidationError, fields
from webargs.flaskparser import FlaskParser

from service.errors import ApiError

ERROR_CODES = {"query": "bad_parameter", "json": "bad_body", "files": "missing_file"}


def first_message(messages: Any) -> str:
    """The first message in marshmallow's nesting of errors (by location, field, list index)."""
    while not isinstance(messages, str):
        messages = next(iter(messages.values())) if isinstance(messages, Mapping) else messages[0]
    return messages


class RequestParser(FlaskParser):
    """webargs' Flask parser with the query-string conventions and error shape above."""

    DEFAULT_VALIDATION_STATUS = HTTPStatus.BAD_REQUEST

    def load_querystring(self, req: Request, schema: Schema) -> dict[str, Any]:
        """The schema's parameters from the query string, blanks dropped, id lists split."""
        values: dict[str, Any] = {}
        for name, field in schema.fields.items():
            key = field.data_key or name
            raw = [value.strip() for value in req.args.getlist(key)]
            if isinstance(field, fields.List):
                items = [item.strip() for value in raw for item in value.split(",")]
                if any(items):
                    values[key] = [item for item in items if item]
                continue
            kept = [v for v in raw if v or field.metadata.get("blank_is_a_value")]
            if kept:
                # A repeated single-valued parameter counts once, as its first value.
                first = kept[0]
                values[key] = first.lower() if isinstance(field, fields.Boolean) else first
        return values

    def handle_error(
        self,
        error: ValidationError,
        req: Request,
        schema: Schema,
        *,
        error_status_code: int | None,
        error_headers: Mapping[str, str] | None,
    ) -> NoReturn:
        """Raise the `ApiError` of the first problem (webargs nests messages by location)."""
        location, problems = next(iter(error.normalized_messages().items()))
        raise ApiError(400, ERROR_CODES.get(location, "bad_request"), first_message(problems))

    def _handle_invalid_json_error(
        self, error: Exception, req: Request, *args: Any, **kwargs: Any
    ) -> NoReturn:
        raise ApiError(400, "bad_body", "the request body is not valid JSON")


class Blueprint(flask_smorest.Blueprint):
    """A JSON API area: routes declare their arguments and answers (service/schemas/)."""

    ARGUMENTS_PARSER = RequestParser()

    def fails_with(self, *statuses: int) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Document the error statuses this route answers (each with the error body).

        Statuses any route may answer (404 for an unknown path, 405, 500, 503) are the
        document's ``default`` response.
        """

        def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
            for status in statuses:
                view = self.alt_response(status, response=HTTPStatus(status).name)(view)
            return view

        return decorator
