"""The OpenAPI document describes every route, and schemathesis finds no 5xx or schema drift."""

from __future__ import annotations

import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from service.openapi import OPERATIONS, build_document

# Per operation and database; with ten operations, about 500 cases in all.
MAX_EXAMPLES = 25
CASES: list[str] = []
UPLOAD = "POST /api/similar"


def test_document_lists_every_api_route(filled_app: Flask) -> None:
    document = filled_app.test_client().get("/api/openapi.json").get_json()
    assert document["openapi"].startswith("3.")
    assert document == build_document(filled_app)
    endpoints = {r.endpoint for r in filled_app.url_map.iter_rules() if r.rule.startswith("/api/")}
    assert endpoints <= set(OPERATIONS), "describe new routes in service/openapi.py"
    assert "/api/songs/{song_id}/similar" in document["paths"]
    assert set(document["paths"]["/api/songs/{song_id}"]) == {"get", "delete"}


def test_api_conforms_to_its_document(filled_app: Flask) -> None:
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", filled_app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 8
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
        def check(case) -> None:  # type: ignore[no-untyped-def]
            label = case.operation.label
            CASES.append(label)
            # A schema cannot say "decodable audio" or "a cursor this service returned": random
            # bytes and random cursors are rightly refused with 400.
            refusable = label == UPLOAD or bool((case.query or {}).get("cursor"))
            excluded = [positive_data_acceptance] if refusable else []
            response = case.call_and_validate(excluded_checks=excluded)
            assert response.status_code < 500

        check()
    print(f"schemathesis cases so far: {len(CASES)}")  # the README's figure (run with -s)
