"""The editor's notes and shapes (issue 15, feature 3) travel in the topology document.

They round-trip through JSON and YAML, are bounded like every other list, refuse what a
page could be tricked into drawing (a colour that is CSS, fields nobody knows), and a
containerlab export says it leaves them out instead of dropping them silently.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from lab.topology import load_topology
from lab.topology.clab import dumps_clab, export_clab, import_clab
from lab.topology.errors import TopologyError
from lab.topology.io import dumps, export_text, import_text, loads
from lab.topology.schema import ANNOTATION_TEXT_MAX, ANNOTATIONS_MAX
from tests.conftest import ROOT

FIXTURE = ROOT / "tests" / "fixtures" / "topologies" / "valid" / "annotations.json"


def doc_with(*annotations: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": "notes",
        "nodes": [{"name": "h1", "interfaces": [{"name": "eth0"}]}],
        "annotations": list(annotations),
    }


def codes(data: dict[str, Any]) -> set[tuple[str, str]]:
    with pytest.raises(TopologyError) as info:
        load_topology(data)
    return {(i.path, i.code) for i in info.value.issues}


NOTE = {"kind": "note", "position": {"x": 1, "y": 2}, "text": "r1 routes"}
BOX = {"kind": "rect", "position": {"x": 0, "y": 0}, "width": 100, "height": 60}


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_annotations_round_trip_in_order(fmt: str) -> None:
    topology = load_topology(json.loads(FIXTURE.read_text()))
    assert [a.kind for a in topology.annotations] == ["note", "rect", "rect", "ellipse"]
    again = loads(dumps(topology, fmt), fmt)
    assert again == topology
    assert again.annotations[1].text == "LAN A 10.0.1.0/24"
    assert again.annotations[1].color == "#2563eb"
    # The import path the API and the CLI use gives the same document.
    imported, _ = import_text(export_text(topology, fmt), fmt)
    assert imported.annotations == topology.annotations


def test_a_document_without_annotations_writes_none() -> None:
    topology = load_topology(doc_with())
    assert topology.annotations == ()
    assert "annotations" not in json.loads(dumps(topology))


def test_annotations_change_nothing_the_engine_builds() -> None:
    plain = load_topology({**json.loads(FIXTURE.read_text()), "annotations": []})
    drawn = load_topology(json.loads(FIXTURE.read_text()))
    assert drawn.nodes == plain.nodes and drawn.links == plain.links
    assert drawn.link_kinds() == plain.link_kinds()


def test_containerlab_export_names_the_annotations_it_leaves_out() -> None:
    topology = load_topology(json.loads(FIXTURE.read_text()))
    _, warnings = export_clab(topology)
    assert [(w.path, w.code) for w in warnings if w.path == "annotations"] == [
        ("annotations", "clab.not_carried")
    ]
    text = dumps_clab(topology)
    assert "# not carried: annotations: the editor's 4 notes and shapes" in text
    # The exported file still imports, with the network intact.
    back, _ = import_clab(text)
    assert [n.name for n in back.nodes] == ["h1", "r1", "h2"] and len(back.links) == 2
    assert back.annotations == ()


def test_a_colour_must_be_a_hex_colour_not_css() -> None:
    # The page puts the colour into a style: only #rrggbb gets there.
    for colour in ("red; background: url(https://evil.example/x)", "#12345", "url(x)", "#2563eb "):
        assert codes(doc_with({**BOX, "color": colour})) == {
            ("annotations[0].color", "schema.string_pattern_mismatch")
        }
    assert load_topology(doc_with({**BOX, "color": "#A1b2C3"})).annotations[0].color == "#A1b2C3"


def test_annotations_are_bounded_in_number_and_size() -> None:
    assert len(load_topology(doc_with(*[NOTE] * ANNOTATIONS_MAX)).annotations) == ANNOTATIONS_MAX
    assert codes(doc_with(*[NOTE] * (ANNOTATIONS_MAX + 1))) == {("annotations", "schema.too_long")}
    long_text = {**NOTE, "text": "x" * (ANNOTATION_TEXT_MAX + 1)}
    assert codes(doc_with(long_text)) == {("annotations[0].text", "schema.string_too_long")}
    huge = {**BOX, "width": 1e9}
    assert codes(doc_with(huge)) == {("annotations[0].width", "schema.less_than_equal")}
    nan = {**NOTE, "position": {"x": float("nan"), "y": 0}}
    assert codes(doc_with(nan)) == {("annotations[0].position.x", "schema.finite_number")}


def test_every_problem_of_every_annotation_is_reported_at_once() -> None:
    bad = [
        {"kind": "note", "position": {"x": 0, "y": 0}, "text": "  "},
        {"kind": "ellipse", "position": {"x": 0, "y": 0}},
        {"kind": "arrow", "position": {"x": 0, "y": 0}},
        {**NOTE, "script": "alert(1)"},
    ]
    assert codes(doc_with(*bad)) == {
        ("annotations[0]", "schema.value_error"),
        ("annotations[1]", "schema.value_error"),
        ("annotations[2].kind", "schema.literal_error"),
        ("annotations[3].script", "schema.extra_forbidden"),
    }
