"""Golden fixtures: every valid document loads; every invalid one gives exactly its issues."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from lab.topology import TopologyError, load_topology
from lab.topology import validate as validate_module
from lab.topology.addressing import auto_address, effective_topology
from lab.topology.io import dumps, loads
from lab.topology.validate import CODES, validate

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "topologies"
VALID = sorted((FIXTURES / "valid").glob("*.json"))
INVALID = sorted(p for p in (FIXTURES / "invalid").glob("*.json") if ".expected" not in p.name)


def test_there_are_enough_fixtures() -> None:
    assert len(VALID) >= 15
    assert len(INVALID) >= 30
    for doc in INVALID:
        assert doc.with_name(f"{doc.stem}.expected.json").exists(), doc.name


@pytest.mark.parametrize("path", VALID, ids=[p.stem for p in VALID])
def test_valid_fixture_loads(path: Path) -> None:
    topology = load_topology(json.loads(path.read_text()))
    assert topology.name
    # Both text formats give the same document back.
    for fmt in ("json", "yaml"):
        assert loads(dumps(topology, fmt), fmt) == topology
    # What the engine builds (auto-addressed when asked) is valid too.
    assert validate(effective_topology(topology)) == []
    assert validate(auto_address(topology)) == []


@pytest.mark.parametrize("path", INVALID, ids=[p.stem for p in INVALID])
def test_invalid_fixture_reports_exactly_its_issues(path: Path) -> None:
    expected = json.loads(path.with_name(f"{path.stem}.expected.json").read_text())
    with pytest.raises(TopologyError) as caught:
        load_topology(json.loads(path.read_text()))
    got = {(issue.path, issue.code) for issue in caught.value.issues}
    assert got == {(e["path"], e["code"]) for e in expected}
    for issue in caught.value.issues:
        assert issue.message, issue
        if not issue.code.startswith("schema."):
            # Semantic issues are sentences with a way out.
            assert issue.hint, issue
            assert issue.message[0].islower() or issue.message[0].isupper()


def test_auto_addressing_fixture_gets_addresses() -> None:
    topology = load_topology(json.loads((FIXTURES / "valid" / "auto-addressing.json").read_text()))
    built = effective_topology(topology)
    h1 = built.node("h1")
    assert h1 is not None and [str(a) for a in h1.interfaces[0].addresses] == ["10.50.0.1/31"]
    assert h1.gateway is not None and str(h1.gateway) == "10.50.0.0"


def _codes_in_validate_source() -> set[str]:
    """Every constant code passed to ``_Validator.add`` in validate.py."""
    tree = ast.parse(Path(validate_module.__file__).read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "add"
            and len(node.args) >= 2
        ):
            code = node.args[1]
            if isinstance(code, ast.Constant) and isinstance(code.value, str):
                found.add(code.value)
            elif isinstance(code, ast.JoinedStr):  # f"{kind}.unknown_parent"
                found.update({"vlan.unknown_parent", "macsec.unknown_parent"})
    return found


def test_every_code_is_catalogued_and_exercised() -> None:
    emitted = _codes_in_validate_source() | {"name.too_long", "name.invalid_chars", "name.empty"}
    assert emitted <= set(CODES), emitted - set(CODES)
    assert set(CODES) <= emitted, set(CODES) - emitted  # no stale entries
    exercised: set[str] = set()
    for doc in INVALID:
        expected = json.loads(doc.with_name(f"{doc.stem}.expected.json").read_text())
        exercised |= {e["code"] for e in expected}
    assert {c for c in exercised if not c.startswith("schema.")} <= set(CODES)
    # Limits are covered in test_load.py; an empty name cannot pass the schema; a file
    # over the size bound (test_node_software.py) would make a fixture of a megabyte.
    untested = set(CODES) - exercised
    assert untested == {
        "limit.too_many_nodes",
        "limit.too_many_links",
        "limit.too_many_interfaces",
        "name.empty",
        "file.too_large",
    }
