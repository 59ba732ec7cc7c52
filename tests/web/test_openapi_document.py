"""The OpenAPI description behind /api/docs parses as Swagger UI parses it.

Swagger UI reads the document as YAML, which refuses a duplicated key: a router that
keys a status by int (200) and the common errors that add it by str ("401") made
`{"401": ..., "401": ...}` and the docs page showed only "Parser error".
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from django.test import Client

from lab.api.errors import document_common_errors

pytestmark = pytest.mark.django_db


def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    dupes = sorted({k for k in keys if keys.count(k) > 1})
    assert not dupes, f"duplicated keys {dupes} among {keys}"
    return dict(pairs)


def test_served_openapi_document_has_no_duplicated_key() -> None:
    response = Client().get("/api/openapi.json")
    assert response.status_code == 200
    doc = json.loads(response.content, object_pairs_hook=no_duplicates)
    # As Swagger UI reads it: YAML (a superset of JSON) with the same result.
    assert yaml.safe_load(response.content) == doc
    assert doc["paths"], "the description lists the endpoints"


def test_int_keyed_statuses_merge_with_the_common_errors() -> None:
    op = {
        "security": [{"session": []}],
        "responses": {200: {"description": "ok"}, 401: {"description": "mine"}},
    }
    schema = document_common_errors({"paths": {"/x": {"post": op}}})
    responses = schema["paths"]["/x"]["post"]["responses"]
    assert set(responses) == {"200", "400", "401", "403"}
    # The operation's own description of a status wins over the common one.
    assert responses["401"] == {"description": "mine"}
