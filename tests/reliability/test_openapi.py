"""The OpenAPI document describes every route, and schemathesis finds no 5xx or schema drift."""

from __future__ import annotations

import gc
import warnings

import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from service.api_document import document

# Per operation and database; with ten operations, about 500 cases in all.
MAX_EXAMPLES = 25
CASES: list[str] = []
UPLOAD = "POST /api/similar"
SEEDS = "GET /api/similar"
AUDIO = "GET /api/songs/{song_id}/audio"


def test_document_lists_every_api_route(filled_app: Flask) -> None:
    served = filled_app.test_client().get("/api/openapi.json").get_json()
    assert served["openapi"].startswith("3.")
    assert served == document(filled_app)
    documented = {
        (path, method) for path, operations in served["paths"].items() for method in operations
    }
    for rule in filled_app.url_map.iter_rules():
        if not rule.rule.startswith("/api/"):
            continue
        path = rule.rule.replace("<int:song_id>", "{song_id}")
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
            assert (path, method.lower()) in documented, "declare routes with api_blueprint"
    assert "/api/songs/{song_id}/similar" in served["paths"]
    assert set(served["paths"]["/api/songs/{song_id}"]) == {"get", "delete", "parameters"}
    similar = served["paths"]["/api/songs/{song_id}/similar"]["get"]["parameters"]
    genre = next(p for p in similar if p["name"] == "genre")
    classes = filled_app.extensions["soundalike"].library.genre_model.classes
    assert genre["schema"]["enum"] == [*classes, "uncertain"]


def test_api_conforms_to_its_document(filled_app: Flask) -> None:
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", filled_app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 8
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
        def check(case: schemathesis.Case) -> None:
            label = case.operation.label
            CASES.append(label)
            # A schema cannot say "decodable audio", "a cursor this service returned" or "seed
            # or tags, at least one": random bytes, random cursors and a seed query with
            # neither are rightly refused with 400.
            query = case.query or {}
            refusable = (
                label == UPLOAD
                or bool(query.get("cursor"))
                or (label == SEEDS and not query.get("seed") and not query.get("tags"))
            )
            excluded = [positive_data_acceptance] if refusable else []
            with warnings.catch_warnings():
                if label == AUDIO:
                    # schemathesis reads a WSGI response's body but never closes it, so the
                    # audio file the service opened is closed by the garbage collector, with a
                    # ResourceWarning. (test_api's range requests close their responses, so a
                    # file the service itself left open would fail there.)
                    warnings.simplefilter("ignore", ResourceWarning)
                response = case.call_and_validate(excluded_checks=excluded)
                if label == AUDIO:
                    gc.collect()
            assert response.status_code < 500

        check()
    print(f"schemathesis cases so far: {len(CASES)}")  # the README's figure (run with -s)
