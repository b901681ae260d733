"""The OpenAPI 3 document of the JSON API, built from the app's own routes.

Paths, methods and path parameters come from Flask's URL map, so a route cannot be added
without appearing here; the tables below add what routes cannot say (query parameters, bodies,
response shapes). A route missing from them is still listed, with the error shape only, and a
test fails until it is described.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, Flask, current_app, jsonify

from indexer.model.genre_labels import UNCERTAIN
from indexer.walks.path import DIRECTIONS

bp = Blueprint("openapi", __name__, url_prefix="/api")

OPENAPI_VERSION = "3.0.3"

_NULLABLE_STR = {"type": "string", "nullable": True}
_NULLABLE_NUM = {"type": "number", "nullable": True}

SCHEMAS: dict[str, dict[str, Any]] = {
    "Error": {
        "type": "object",
        "required": ["error", "message"],
        "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
        "additionalProperties": False,
    },
    "Genre": {
        "type": "object",
        "required": ["label", "confidence", "probabilities"],
        "properties": {
            "label": _NULLABLE_STR,
            "confidence": _NULLABLE_NUM,
            "probability": _NULLABLE_NUM,
            "top": {"$ref": "#/components/schemas/TopGenres"},
            "probabilities": {"type": "object", "additionalProperties": {"type": "number"}},
        },
    },
    "TopGenres": {
        "type": "array",
        "items": {
            "type": "object",
            "required": ["label", "probability"],
            "properties": {"label": {"type": "string"}, "probability": {"type": "number"}},
        },
    },
    "Song": {
        "type": "object",
        "required": [
            "id",
            "title",
            "artist",
            "album",
            "duration_s",
            "filename",
            "genre",
            "model_version",
            "audio_url",
        ],
        "properties": {
            "id": {"type": "integer"},
            "title": {"type": "string"},
            "artist": _NULLABLE_STR,
            "album": _NULLABLE_STR,
            "duration_s": {"type": "number"},
            "filename": {"type": "string"},
            "genre": {"$ref": "#/components/schemas/Genre"},
            "model_version": _NULLABLE_STR,
            "audio_url": {"type": "string"},
        },
    },
    "Neighbour": {
        "type": "object",
        "required": ["id", "title", "artist", "album", "score", "genre"],
        "properties": {
            "id": {"type": "integer"},
            "title": {"type": "string"},
            "artist": _NULLABLE_STR,
            "album": _NULLABLE_STR,
            "score": {"type": "number"},
            "explanation": {"$ref": "#/components/schemas/Explanation"},
            "genre": {
                "type": "object",
                "required": ["label", "confidence"],
                "properties": {
                    "label": _NULLABLE_STR,
                    "confidence": _NULLABLE_NUM,
                    "probability": _NULLABLE_NUM,
                    "top": {"$ref": "#/components/schemas/TopGenres"},
                },
            },
        },
    },
    "Explanation": {
        "type": "object",
        "description": "the cosine split over feature groups (Shapley values); parts sum to it",
        "required": ["cosine", "parts", "summary"],
        "properties": {
            "seed": {"type": "integer"},
            "cosine": {"type": "number"},
            "parts": {
                "type": "object",
                "required": ["timbre", "spectral_shape", "rhythm", "harmony", "loudness"],
                "additionalProperties": {"type": "number"},
            },
            "summary": {"type": "string"},
        },
    },
    "Dropped": {
        "type": "array",
        "items": {
            "type": "object",
            "required": ["id", "reason", "detail"],
            "properties": {
                "id": {"type": "integer"},
                "reason": {
                    "type": "string",
                    "enum": [
                        "excluded",
                        "genre",
                        "tempo",
                        "duration",
                        "duplicate",
                        "artist_cap",
                        "album_cap",
                    ],
                },
                "detail": {"type": "string"},
            },
        },
    },
    "SeedSimilar": {
        "type": "object",
        "required": ["seeds", "not", "mode", "neighbours"],
        "properties": {
            "seeds": {"type": "array", "items": {"$ref": "#/components/schemas/Song"}},
            "not": {"type": "array", "items": {"type": "integer"}},
            "mode": {"type": "string", "enum": ["centroid", "union"]},
            "neighbours": {"type": "array", "items": {"$ref": "#/components/schemas/Neighbour"}},
            "dropped": {"$ref": "#/components/schemas/Dropped"},
        },
    },
    "Health": {
        "type": "object",
        "required": ["status", "songs", "indexed", "index_generation", "model_version"],
        "properties": {
            "status": {"type": "string"},
            "songs": {"type": "integer"},
            "indexed": {"type": "integer"},
            "index_generation": {"type": "integer"},
            "model_version": _NULLABLE_STR,
        },
    },
    "SongPage": {
        "type": "object",
        "required": ["items", "total", "limit", "offset", "next_cursor"],
        "properties": {
            "items": {"type": "array", "items": {"$ref": "#/components/schemas/Song"}},
            "total": {"type": "integer"},
            "limit": {"type": "integer"},
            "offset": {"type": "integer"},
            "next_cursor": {
                **_NULLABLE_STR,
                "description": "pass as cursor for the next page; null after the last page",
            },
        },
    },
    "Similar": {
        "type": "object",
        "required": ["song", "neighbours"],
        "properties": {
            "song": {"$ref": "#/components/schemas/Song"},
            "neighbours": {"type": "array", "items": {"$ref": "#/components/schemas/Neighbour"}},
            "dropped": {"$ref": "#/components/schemas/Dropped"},
        },
    },
    "UploadSimilar": {
        "type": "object",
        "required": ["upload", "genre", "neighbours"],
        "properties": {
            "upload": {
                "type": "object",
                "required": ["filename", "duration_s"],
                "properties": {"filename": {"type": "string"}, "duration_s": {"type": "number"}},
            },
            "genre": {"$ref": "#/components/schemas/Genre"},
            "neighbours": {"type": "array", "items": {"$ref": "#/components/schemas/Neighbour"}},
            "dropped": {"$ref": "#/components/schemas/Dropped"},
        },
    },
    "AddReport": {
        "type": "object",
        "required": ["added", "updated", "unchanged", "skipped", "index_generation"],
        "properties": {
            "added": {"type": "integer"},
            "updated": {"type": "integer"},
            "unchanged": {"type": "integer"},
            "skipped": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["path", "reason"],
                    "properties": {"path": {"type": "string"}, "reason": {"type": "string"}},
                },
            },
            "index_generation": {"type": "integer", "nullable": True},
        },
    },
    "Model": {
        "type": "object",
        "required": ["version", "classes", "scores", "metric"],
        "properties": {
            "version": {"type": "string"},
            "classes": {"type": "array", "items": {"type": "string"}},
            "trained_at": _NULLABLE_STR,
            "table_sha256": _NULLABLE_STR,
            "scores": {"type": "object"},
            "temperature": _NULLABLE_NUM,
            "uncertain_below": _NULLABLE_NUM,
            "metric": {
                "type": "object",
                "required": ["kind", "scaler_version"],
                "properties": {"kind": {"type": "string"}, "scaler_version": {"type": "string"}},
            },
        },
    },
    "LibraryStats": {
        "type": "object",
        "required": ["songs", "indexed", "index_generation", "genres"],
        "properties": {
            "songs": {"type": "integer"},
            "indexed": {"type": "integer"},
            "index_generation": {"type": "integer"},
            "synced_at": _NULLABLE_STR,
            "index_written_at": _NULLABLE_STR,
            "model_version": _NULLABLE_STR,
            "max_upload_bytes": {"type": "integer"},
            "genres": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["label", "count"],
                    "properties": {"label": {"type": "string"}, "count": {"type": "integer"}},
                },
            },
        },
    },
    "LibraryMap": {
        "type": "object",
        "required": ["index_generation", "method", "songs", "sampled", "points"],
        "properties": {
            "index_generation": {"type": "integer"},
            "method": {"type": "string"},
            "explained_variance": {"type": "array", "items": {"type": "number"}},
            "songs": {"type": "integer", "description": "songs in the library"},
            "sampled": {
                "type": "boolean",
                "description": "true when the points are an even sample of a larger library",
            },
            "points": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["id", "title", "x", "y"],
                    "properties": {
                        "id": {"type": "integer"},
                        "title": {"type": "string"},
                        "artist": _NULLABLE_STR,
                        "genre": _NULLABLE_STR,
                        "x": {"type": "number"},
                        "y": {"type": "number"},
                    },
                },
            },
        },
    },
    "SongPath": {
        "type": "object",
        "required": ["from", "to", "steps", "direction", "smoothness", "path"],
        "properties": {
            "from": {"type": "integer"},
            "to": {"type": "integer"},
            "steps": {"type": "integer"},
            "direction": {"type": "string", "nullable": True, "enum": [*DIRECTIONS, None]},
            "smoothness": _NULLABLE_NUM,
            "path": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "required": [
                        "id",
                        "title",
                        "artist",
                        "album",
                        "duration_s",
                        "tempo_bpm",
                        "similarity_to_previous",
                        "similarity_to_goal",
                    ],
                    "properties": {
                        "id": {"type": "integer"},
                        "title": {"type": "string"},
                        "artist": _NULLABLE_STR,
                        "album": _NULLABLE_STR,
                        "duration_s": {"type": "number"},
                        "tempo_bpm": {"type": "number"},
                        "similarity_to_previous": _NULLABLE_NUM,
                        "similarity_to_goal": {"type": "number"},
                    },
                },
            },
        },
    },
    "Removed": {
        "type": "object",
        "required": ["removed", "index_generation"],
        "properties": {"removed": {"type": "integer"}, "index_generation": {"type": "integer"}},
    },
}


def _query(
    name: str, schema: dict[str, Any], about: str, *, required: bool = False
) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": required,
        "description": about,
        "schema": schema,
    }


def _int_query(name: str, *, low: int, high: int, default: int, about: str) -> dict[str, Any]:
    schema = {"type": "integer", "minimum": low, "maximum": high, "default": default}
    return _query(name, schema, about)


_SONG_ID = {"type": "integer", "minimum": 0}


def _number(low: float, high: float) -> dict[str, Any]:
    return {"type": "number", "minimum": low, "maximum": high}


def _bool(name: str, about: str) -> dict[str, Any]:
    return _query(name, {"type": "boolean", "default": False}, about)


def _ids(name: str, about: str, *, required: bool = False) -> dict[str, Any]:
    items = {"type": "integer", "minimum": 0, "maximum": 2**31 - 1}
    schema = {"type": "array", "items": items, "maxItems": 100}
    if required:
        schema["minItems"] = 1
    return {**_query(name, schema, about, required=required), "style": "form", "explode": True}


# Re-ranking and explanations, shared by every neighbour route (see indexer/rerank.py).
RERANK_QUERY: list[dict[str, Any]] = [
    _query("genre", {"type": "string"}, "keep only neighbours predicted as this genre"),
    _query("tempo_min_bpm", _number(0, 1000), "keep neighbours at least this fast"),
    _query("tempo_max_bpm", _number(0, 1000), "keep neighbours at most this fast"),
    _query("duration_min_s", _number(0, 1e6), "keep neighbours at least this long"),
    _query("duration_max_s", _number(0, 1e6), "keep neighbours at most this long"),
    _ids("exclude", "song ids never to return"),
    _query(
        "max_per_artist",
        {"type": "integer", "minimum": 1, "maximum": 100},
        "at most this many neighbours by one artist",
    ),
    _query(
        "max_per_album",
        {"type": "integer", "minimum": 1, "maximum": 100},
        "at most this many neighbours from one album",
    ),
    _bool("dedupe", "drop near-duplicates of the query and of each other"),
    _query(
        "mmr_lambda",
        {**_number(0, 1), "default": 1},
        "maximal marginal relevance: 1 ranks by similarity alone, lower values diversify",
    ),
    _bool("hubness", "rank by CSLS, which demotes songs that are near everything"),
    _bool("explain", "split each neighbour's cosine over five feature groups"),
    _bool("explain_drops", "list the candidates re-ranking dropped and why"),
]

# Per endpoint (blueprint.function): summary, query parameters, request body, success response,
# and the error statuses it can answer besides the ones every route shares.
OPERATIONS: dict[str, dict[str, Any]] = {
    "api.health": {"summary": "Liveness and what is loaded", "ok": "Health"},
    "api.list_songs": {
        "summary": "Songs matching q in title, artist or album, paginated",
        "query": [
            _query(
                "q", {"type": "string", "pattern": "^[^\\x00]*$"}, "text in title, artist or album"
            ),
            _int_query("limit", low=1, high=500, default=50, about="page size"),
            _int_query("offset", low=0, high=10**9, default=0, about="rows to skip"),
            _query(
                "cursor",
                {"type": "string"},
                "next_cursor of the previous page (keyset paging; not with offset)",
            ),
        ],
        "ok": "SongPage",
        "errors": [400],
    },
    "api.get_song": {"summary": "One song", "ok": "Song", "errors": [404]},
    "api.similar_songs": {
        "summary": "The k nearest songs by cosine, the song itself excluded",
        "query": [
            _int_query("k", low=1, high=100, default=10, about="neighbours"),
            *RERANK_QUERY,
        ],
        "ok": "Similar",
        "errors": [400, 404],
    },
    "api.song_audio": {
        "summary": "The song's audio file (range requests supported)",
        "ok": "audio",
        "errors": [404],
    },
    "api.similar_upload": {
        "summary": "Genre and nearest songs for an uploaded clip",
        "query": [
            _int_query("k", low=1, high=100, default=10, about="neighbours"),
            *RERANK_QUERY,
        ],
        "body": "upload",
        "ok": "UploadSimilar",
        "errors": [400, 413, 504],
    },
    "recommend_api.similar_to_seeds": {
        "summary": "Songs like a set of seed songs and unlike the 'not' songs",
        "query": [
            _ids("seed", "songs to start from", required=True),
            _ids("not", "songs to steer away from"),
            _query(
                "mode",
                {"type": "string", "enum": ["centroid", "union"], "default": "centroid"},
                "centroid: near the seeds' mean; union: an equal share of places per seed",
            ),
            _query("not_weight", {**_number(0, 1), "default": 0.5}, "push away from 'not'"),
            _int_query("k", low=1, high=100, default=10, about="neighbours"),
            *RERANK_QUERY,
        ],
        "ok": "SeedSimilar",
        "errors": [400, 404],
    },
    "api.add_songs": {
        "summary": "Admin: index files or folders already on the server",
        "body": "paths",
        "ok": "AddReport",
        "errors": [400, 401, 403],
        "admin": True,
    },
    "api.delete_song": {
        "summary": "Admin: remove a song (its file stays)",
        "ok": "Removed",
        "errors": [401, 403, 404],
        "admin": True,
    },
    "api.model_info": {
        "summary": "The genre model's version and measured scores, and the neighbour metric",
        "ok": "Model",
    },
    "library_api.library_stats": {
        "summary": "Songs per genre and the index's state",
        "ok": "LibraryStats",
    },
    "library_api.library_map": {
        "summary": "Songs at their 2-D position (at most 5000, evenly sampled), for the map",
        "ok": "LibraryMap",
    },
    "paths_api.song_path": {
        "summary": "A walk from one song to another, each song more similar to the goal",
        "query": [
            _query("from", _SONG_ID, "id of the first song", required=True),
            _query("to", _SONG_ID, "id of the last song", required=True),
            _int_query("steps", low=1, high=100, default=10, about="most moves (songs - 1)"),
            _query(
                "direction",
                {"type": "string", "enum": list(DIRECTIONS)},
                "keep the raw tempo feature falling or rising along the path",
            ),
        ],
        "ok": "SongPath",
        "errors": [400, 404],
    },
    "openapi.document": {"summary": "This document", "ok": "document"},
}

# Every route can answer these: unknown ids fail routing, and the library may be unavailable.
SHARED_ERRORS = (404, 405, 500, 503)

_RULE_ARG = re.compile(r"<(?:(?P<converter>[a-z]+):)?(?P<name>\w+)>")


def _error_response(status: int) -> dict[str, Any]:
    return {
        "description": f"error {status}",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _ok_response(kind: str | None) -> dict[str, Any]:
    if kind == "audio":
        return {
            "description": "the file, typed by its extension (audio/ogg, audio/flac, …)",
            "content": {
                "audio/*": {"schema": {"type": "string", "format": "binary"}},
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
            },
        }
    if kind == "document":
        return {"description": "OpenAPI 3", "content": {"application/json": {"schema": {}}}}
    schema = {"$ref": f"#/components/schemas/{kind}"} if kind else {}
    return {"description": "success", "content": {"application/json": {"schema": schema}}}


def _request_body(kind: str) -> dict[str, Any]:
    if kind == "upload":
        schema = {
            "type": "object",
            "required": ["file"],
            "properties": {"file": {"type": "string", "format": "binary"}},
        }
        return {"required": True, "content": {"multipart/form-data": {"schema": schema}}}
    schema = {
        "type": "object",
        "required": ["paths"],
        "properties": {"paths": {"type": "array", "minItems": 1, "items": {"type": "string"}}},
    }
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _operation(endpoint: str, path_params: list[dict[str, Any]]) -> dict[str, Any]:
    spec = OPERATIONS.get(endpoint, {})
    responses: dict[str, Any] = {"200": _ok_response(spec.get("ok"))}
    for status in sorted({*spec.get("errors", []), *SHARED_ERRORS}):
        responses[str(status)] = _error_response(status)
    operation: dict[str, Any] = {
        "operationId": endpoint.replace(".", "_"),
        "summary": spec.get("summary", endpoint),
        "parameters": path_params + spec.get("query", []),
        "responses": responses,
    }
    if "body" in spec:
        operation["requestBody"] = _request_body(spec["body"])
    if spec.get("admin"):
        operation["security"] = [{"adminToken": []}]
    return operation


def build_document(app: Flask) -> dict[str, Any]:
    """The OpenAPI 3 document for every ``/api`` route of ``app``.

    The genre model's classes bound the ``genre`` filter, which refuses other values.
    """
    genres = [*app.extensions["soundalike"].library.genre_model.classes, UNCERTAIN]
    paths: dict[str, dict[str, Any]] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if not rule.rule.startswith("/api/") or rule.endpoint == "static":
            continue
        path_params: list[dict[str, Any]] = []
        for match in _RULE_ARG.finditer(rule.rule):
            kind = "integer" if match["converter"] == "int" else "string"
            schema: dict[str, Any] = {"type": kind}
            if kind == "integer":
                schema["minimum"] = 0  # Flask's int converter takes no sign
            path_params.append(
                {"name": match["name"], "in": "path", "required": True, "schema": schema}
            )
        path = _RULE_ARG.sub(lambda m: "{" + m["name"] + "}", rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            operation = _operation(rule.endpoint, path_params)
            # A copy: the parameter tables above are shared by every document.
            operation["parameters"] = [
                {**p, "schema": {"type": "string", "enum": genres}} if p["name"] == "genre" else p
                for p in operation["parameters"]
            ]
            paths.setdefault(path, {})[method.lower()] = operation
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "Soundalike",
            "version": "1",
            "description": "Music similarity: songs, cosine neighbours and genre labels.",
        },
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"adminToken": {"type": "http", "scheme": "bearer"}},
        },
    }


@bp.get("/openapi.json")
def document():  # type: ignore[no-untyped-def]
    """The API's OpenAPI 3 document."""
    return jsonify(build_document(current_app))
