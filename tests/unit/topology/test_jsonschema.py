"""The JSON Schema the editor uses."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from lab.topology import LINK_KINDS, load_topology
from lab.topology.io import to_data
from lab.topology.jsonschema import SCHEMA_ID, topology_json_schema


def test_schema_has_identity_and_all_link_kinds() -> None:
    schema = topology_json_schema()
    assert schema["$id"] == SCHEMA_ID
    assert schema["title"] == "Topolab topology"
    assert schema["type"] == "object" and "name" in schema["required"]
    text = json.dumps(schema)
    for kind in LINK_KINDS:
        assert f'"const": "{kind}"' in text or f'"enum": ["{kind}"]' in text, kind


def test_endpoint_accepts_the_shorthand() -> None:
    endpoint = topology_json_schema()["$defs"]["Endpoint"]
    assert {"type": "string"}.items() <= endpoint["anyOf"][0].items()
    assert endpoint["anyOf"][1]["type"] == "object"


def test_callers_get_a_fresh_copy() -> None:
    schema = topology_json_schema()
    schema["title"] = "changed"
    assert topology_json_schema()["title"] == "Topolab topology"


VALID = sorted(
    (Path(__file__).resolve().parents[2] / "fixtures" / "topologies" / "valid").glob("*.json")
)


VALIDATOR = jsonschema.Draft202012Validator(topology_json_schema())


@pytest.mark.parametrize("path", VALID, ids=[p.stem for p in VALID])
def test_valid_fixtures_match_the_schema(path: Path) -> None:
    document = json.loads(path.read_text())
    for link in document.get("links", []):
        link.setdefault("kind", "veth")  # the one shorthand the schema cannot express
    VALIDATOR.validate(document)
    # ... and what Topolab writes back matches it too.
    VALIDATOR.validate(to_data(load_topology(document)))


def test_schema_refuses_what_load_refuses() -> None:
    for bad in (
        {"nodes": []},
        {"name": "x", "nodes": [{"name": "a", "colour": "red"}]},
        {"name": "x", "links": [{"kind": "gre", "a": "a:e", "b": "b:e"}]},
        {"name": "x", "nodes": [{"name": "a", "kind": "firewall"}]},
    ):
        assert not VALIDATOR.is_valid(bad), bad
