"""One JSON error shape for every failure: ``{"error": code, "message": text}``."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException

from indexer.errors import (
    FileError,
    MissingVectorError,
    ModelError,
    NotFoundError,
    StoreError,
    UnreachableError,
)

log = logging.getLogger(__name__)


class ApiError(Exception):
    """A client error with its HTTP status and a stable code."""

    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message


def json_error(status: int, error: str, message: str) -> tuple[Response, int]:
    """The response body every error uses."""
    return jsonify({"error": error, "message": message}), status


def register(app: Flask) -> None:
    """Turn each error family into the JSON shape with the right status."""

    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError) -> tuple[Response, int]:
        return json_error(exc.status, exc.error, exc.message)

    @app.errorhandler(MissingVectorError)
    def _no_vector(exc: MissingVectorError) -> tuple[Response, int]:
        return json_error(404, "no_vector", str(exc))

    @app.errorhandler(NotFoundError)
    def _not_found(exc: NotFoundError) -> tuple[Response, int]:
        return json_error(404, "not_found", str(exc))

    @app.errorhandler(UnreachableError)
    def _unreachable(exc: UnreachableError) -> tuple[Response, int]:
        # The songs exist but no walk between them meets the request: nothing found there.
        return json_error(404, "unreachable", str(exc))

    @app.errorhandler(FileError)
    def _bad_audio(exc: FileError) -> tuple[Response, int]:
        return json_error(400, "bad_audio", f"cannot analyse the upload: {exc.reason}")

    @app.errorhandler(ModelError)
    @app.errorhandler(StoreError)
    def _unavailable(exc: Exception) -> tuple[Response, int]:
        log.error("library unavailable: %s", exc)
        return json_error(503, "unavailable", str(exc))

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> tuple[Response, int]:
        code = (exc.name or "error").lower().replace(" ", "_")
        if exc.code == 413:
            limit = app.config.get("MAX_CONTENT_LENGTH")
            return json_error(413, "too_large", f"upload larger than {limit} bytes")
        return json_error(exc.code or 500, code, exc.description or exc.name)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> tuple[Response, int]:
        # Log the trace for the operator; the client gets no internals.
        log.exception("unhandled error")
        return json_error(500, "internal_error", "internal error; see the server log")
