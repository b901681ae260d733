"""The OpenAPI 3 document of the JSON API, written by flask-smorest from the routes' declarations.

Why flask-smorest, of the libraries that derive both validation and the document from one
declaration per route: it adds a blueprint class and an extension to our plain Flask app
factory; it writes OpenAPI 3.0.3, which schemathesis reads; webargs reads repeated query
parameters (``seed=1&seed=2``) into lists and multipart uploads as files; its request parser is
ours to subclass, so errors keep their one shape and status 400; it is maintained with
marshmallow and webargs; and it adds 2.6 MiB, all pure Python. APIFlask, on the same
libraries, turns the app into its own Flask subclass and requires pydantic (18 MiB added);
spectree needs pydantic (11 MiB) and writes OpenAPI 3.1 by default.

Each route's schemas are in service/schemas/. This module sets the document up for an app and
serves it at ``GET /api/openapi.json``, with the values ``genre`` accepts filled in from the
genre model the app loaded (loading it at start-up would import XGBoost in every worker).
"""

from __future__ import annotations

import copy
from typing import Any

from flask import Flask, Response, current_app, jsonify
from flask_smorest import Api

from indexer.recommend.options import known_genres
from service.api_blueprint import Blueprint
from service.schemas.common import Error

OPENAPI_VERSION = "3.0.3"

bp = Blueprint("api_document", __name__, url_prefix="/api")


class SoundalikeApi(Api):
    """flask-smorest's extension, documenting errors with the service's one error body."""

    ERROR_SCHEMA = Error


def init_api(app: Flask) -> Api:
    """The extension that collects the blueprints' declarations into the document."""
    app.config.update(API_TITLE="Soundalike", API_VERSION="1", OPENAPI_VERSION=OPENAPI_VERSION)
    api = SoundalikeApi(
        app,
        spec_kwargs={
            "info": {"description": "Music similarity: songs, cosine neighbours and genre labels."}
        },
    )
    api.spec.components.security_scheme("adminToken", {"type": "http", "scheme": "bearer"})
    return api


def document(app: Flask) -> dict[str, Any]:
    """The OpenAPI document of ``app``, its ``genre`` parameters listing the model's labels."""
    api: Api = app.extensions["flask-smorest"]["apis"][""]["ext_obj"]
    # A copy: the spec's own dicts are shared by every document this app serves.
    doc = copy.deepcopy(api.spec.to_dict())
    genres = known_genres(app.extensions["soundalike"].library.genre_model.classes)
    for path_item in doc["paths"].values():
        operations = [v for key, v in path_item.items() if key != "parameters"]
        for operation in operations:
            for parameter in operation.get("parameters", []):
                if parameter["name"] == "genre":
                    parameter["schema"]["enum"] = genres
    return doc


@bp.get("/openapi.json")
@bp.doc(responses={"200": {"description": "OpenAPI 3", "content": {"application/json": {}}}})
def openapi_json() -> Response:
    """The API's OpenAPI 3 document."""
    return jsonify(document(current_app))
