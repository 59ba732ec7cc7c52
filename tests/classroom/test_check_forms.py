"""The checks builder's forms come from the check specs themselves (pure)."""

from __future__ import annotations

from typing import Any

from lab.classroom.check_forms import check_forms
from lab.classroom.checks import CHECK_KINDS, load_checks


def _form(kind: str) -> dict[str, Any]:
    return next(f for f in check_forms() if f["kind"] == kind)


def test_every_check_kind_has_a_form_with_typed_fields() -> None:
    assert [f["kind"] for f in check_forms()] == list(CHECK_KINDS)
    reach = {f["name"]: f for f in _form("reach")["fields"]}
    assert reach["src"]["type"] == "node" and reach["src"]["required"]
    assert reach["dst"]["type"] == "text" and reach["dst"]["formats"] == ["ipv4", "ipv6"]
    assert reach["expect"] == {**reach["expect"], "type": "choice", "choices": ["reach", "refuse"]}
    assert reach["count"]["type"] == "integer" and (
        reach["count"]["min"],
        reach["count"]["max"],
    ) == (1, 10)
    assert [f["name"] for f in _form("reach")["fields"]][-2:] == ["title", "hint"]
    mtu = {f["name"]: f for f in _form("mtu")["fields"]}
    assert mtu["interface"]["type"] == "interface" and mtu["mtu"]["min"] == 68
    route = {f["name"]: f for f in _form("route")["fields"]}
    assert route["dst"]["suggestions"] == ["default", "default6"] and not route["via"]["required"]
    assert _form("forwarding")["fields"][1]["type"] == "boolean"
    capture = {f["name"]: f for f in _form("capture")["fields"]}
    assert capture["probe_src"]["type"] == "node" and capture["vni"]["type"] == "integer"
    assert "``" not in _form("capture")["description"]


def test_a_form_filled_with_its_required_fields_is_a_valid_check() -> None:
    # What the builder sends for each kind when an instructor fills only the required
    # fields (the page leaves out empty optional ones) validates as a check spec.
    sample = {"node": "h1", "src": "h1", "probe_src": "h1", "interface": "eth0"}
    by_format = {"ipv4": "10.0.0.1", "ipv4interface": "10.0.0.1/24", "ipv4network": "10.0.0.0/24"}
    specs = []
    for form in check_forms():
        spec: dict[str, Any] = {"kind": form["kind"]}
        for field in form["fields"]:
            if not field["required"]:
                continue
            if field["type"] in ("node", "interface"):
                spec[field["name"]] = sample[field["name"]]
            elif field["type"] == "integer":
                spec[field["name"]] = field["min"]
            elif field["type"] == "choice":
                spec[field["name"]] = field["choices"][0]
            else:
                spec[field["name"]] = by_format[field["formats"][0]]
        specs.append(spec)
    assert [s.kind for s in load_checks(specs)] == list(CHECK_KINDS)
