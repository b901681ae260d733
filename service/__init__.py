"""Soundalike's web service: a JSON API and a small page over one library."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask
from flask.json.provider import DefaultJSONProvider

from indexer.library import Library
from indexer.settings import load_settings
from service.state import ServiceState


class _InsertionOrderJSON(DefaultJSONProvider):
    """JSON bodies keep their keys in the order the code builds them; Flask would sort them."""

    sort_keys = False


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app: defaults, then the environment, then ``config`` (settings field names)."""
    settings = load_settings(overrides=config)
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_upload_bytes
    app.json = _InsertionOrderJSON(app)
    library = Library(settings)
    app.extensions["soundalike"] = ServiceState.open(settings, library)

    from service import (
        api_document,
        errors,
        library,
        pages,
        paths,
        playlists,
        similar,
        songs,
        subsonic,
        tags,
    )

    # The JSON API's areas are documented as they are registered (GET /api/openapi.json).
    api = api_document.init_api(app)
    for area in (songs, similar, paths, playlists, library, tags, api_document):
        api.register_blueprint(area.bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(subsonic.bp)
    # After flask-smorest's, whose own error handler these replace.
    errors.register(app)
    return app
