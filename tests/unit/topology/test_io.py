"""JSON and YAML text in and out: round trips, and hostile or broken input."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lab.topology import Topology, TopologyError
from lab.topology.io import (
    MAX_ELEMENTS,
    MAX_TEXT_BYTES,
    MAX_YAML_BYTES,
    dumps,
    export_text,
    import_text,
    loads,
    parse_text,
)

PAIR = {
    "name": "pair",
    "nodes": [
        {"name": "a", "interfaces": [{"name": "eth0", "addresses": ["10.0.0.1/24"]}]},
        {"name": "b", "interfaces": [{"name": "eth0", "addresses": ["10.0.0.2/24"]}]},
    ],
    "links": [{"kind": "veth", "a": "a:eth0", "b": "b:eth0"}],
}


def codes(text: str | bytes, fmt: str) -> list[str]:
    with pytest.raises(TopologyError) as caught:
        loads(text, fmt)
    return [i.code for i in caught.value.issues]


def test_dumps_is_short_and_round_trips() -> None:
    t = loads(json.dumps(PAIR), "json")
    text = dumps(t, "json")
    assert "schema_version" not in text and "addressing" not in text and "mtu" not in text
    assert '"a": "a:eth0"' in text
    assert loads(text, "json") == t
    yaml_text = dumps(t, "yaml")
    assert yaml_text.startswith("name: pair\n")
    assert loads(yaml_text, "yaml") == t


def test_yaml_must_be_a_mapping() -> None:
    assert codes("- a\n- b\n", "yaml") == ["schema.not_an_object"]
    assert codes("", "yaml") == ["schema.not_an_object"]
    assert codes("just text", "yaml") == ["schema.not_an_object"]


def test_syntax_errors_say_where() -> None:
    with pytest.raises(TopologyError) as caught:
        loads('{"name": "x",\n "nodes": [}', "json")
    [issue] = caught.value.issues
    assert issue.code == "syntax.json" and "line 2" in issue.message
    with pytest.raises(TopologyError) as caught:
        loads("name: x\nnodes: [a, b\n", "yaml")
    assert caught.value.issues[0].code == "syntax.yaml"
    assert "line" in caught.value.issues[0].message


def test_yaml_python_tags_are_refused() -> None:
    assert codes("name: !!python/object/apply:os.system ['true']\n", "yaml") == ["syntax.yaml"]


def test_deep_documents_are_refused_without_a_traceback() -> None:
    assert codes("[" * 5000 + "]" * 5000, "json") == ["syntax.too_deep"]
    assert codes("a:\n" + "".join(" " * i + "- \n" for i in range(1, 60)), "yaml") == [
        "syntax.too_deep"
    ]
    assert codes("[" * 100_000 + "]" * 100_000, "yaml") == ["syntax.too_deep"]


def test_huge_documents_are_refused() -> None:
    assert codes(" " * (MAX_TEXT_BYTES + 1), "json") == ["syntax.too_large"]
    assert codes(" " * (MAX_YAML_BYTES + 1), "yaml") == ["syntax.too_large"]
    many = json.dumps({"name": "x", "description": [0] * (MAX_ELEMENTS + 1)})
    assert codes(many, "json") == ["syntax.too_large"]


def test_yaml_alias_bomb_is_refused() -> None:
    lines = ['a0: &a0 ["x","x","x","x","x","x","x","x","x","x"]']
    for i in range(1, 9):
        refs = ",".join([f"*a{i - 1}"] * 10)
        lines.append(f"a{i}: &a{i} [{refs}]")
    # Refused while composing, when the aliases add up: never expanded.
    assert codes("\n".join(lines) + "\n", "yaml") == ["syntax.yaml_alias"]


def test_bytes_must_be_utf8() -> None:
    assert codes(b"name: \xff\xfe\n", "yaml") == ["syntax.encoding"]
    assert loads(json.dumps(PAIR).encode(), "json").name == "pair"


def test_unknown_format() -> None:
    with pytest.raises(TopologyError) as caught:
        parse_text("{}", "toml")
    assert caught.value.issues[0].code == "syntax.unknown_format"
    with pytest.raises(TopologyError):
        dumps(Topology(name="x"), "toml")


def test_import_and_export_text_dispatch() -> None:
    t, warnings = import_text(json.dumps(PAIR), "json")
    assert warnings == []
    clab_text = export_text(t, "clab")
    assert "kind: linux" in clab_text
    again, _ = import_text(clab_text, "clab")
    assert again.node("a") is not None
    assert export_text(t, "yaml") == dumps(t, "yaml")


def test_semantic_errors_come_through_loads() -> None:
    bad = {**PAIR, "links": [{"kind": "veth", "a": "a:eth0", "b": "c:eth0"}]}
    assert codes(json.dumps(bad), "json") == ["endpoint.unknown_node"]


# -- property: random small valid topologies survive dump -> load ------------

printable = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    max_size=20,
)


@st.composite
def topologies(draw: st.DrawFn) -> Topology:
    count = draw(st.integers(min_value=1, max_value=5))
    kinds = [draw(st.sampled_from(["host", "router", "switch"])) for _ in range(count)]
    free: list[list[str]] = [[] for _ in range(count)]
    ifaces: list[list[dict[str, Any]]] = [[] for _ in range(count)]
    links: list[dict[str, Any]] = []
    for index in range(draw(st.integers(min_value=0, max_value=6))):
        a = draw(st.integers(min_value=0, max_value=count - 1))
        b = draw(st.integers(min_value=0, max_value=count - 1))
        ends = []
        for host, last in ((a, 1), (b, 2)):
            name = f"eth{len(ifaces[host])}"
            iface: dict[str, Any] = {"name": name}
            if kinds[host] != "switch":
                six = draw(st.booleans())
                iface["addresses"] = [
                    f"2001:db8:{index}::{last}/64" if six else f"10.{index}.0.{last}/24"
                ]
            if draw(st.booleans()):
                iface["mtu"] = draw(st.integers(min_value=1280, max_value=9000))
            ifaces[host].append(iface)
            ends.append(f"n{host}:{name}")
        link: dict[str, Any] = {"kind": "veth", "a": ends[0], "b": ends[1]}
        if draw(st.booleans()):
            link["rate_mbit"] = draw(st.integers(min_value=1, max_value=1000))
        links.append(link)
    for host in range(count):  # some declared, unused interfaces
        free[host] = [f"spare{k}" for k in range(draw(st.integers(min_value=0, max_value=2)))]
    nodes = []
    for i in range(count):
        node: dict[str, Any] = {
            "name": f"n{i}",
            "kind": kinds[i],
            "interfaces": ifaces[i] + [{"name": s} for s in free[i]],
            "description": draw(printable),
        }
        if kinds[i] == "switch":
            node["stp"] = True  # parallel links between switches are loops
        if draw(st.booleans()):
            node["position"] = {
                "x": draw(st.floats(allow_nan=False, allow_infinity=False)),
                "y": draw(st.floats(allow_nan=False, allow_infinity=False)),
            }
        nodes.append(node)
    doc = {
        "name": draw(st.from_regex(r"[a-z][a-z0-9-]{0,15}", fullmatch=True)),
        "description": draw(printable),
        "nodes": nodes,
        "links": links,
    }
    return loads(json.dumps(doc), "json")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(topologies(), st.sampled_from(["json", "yaml"]))
def test_random_topologies_round_trip(t: Topology, fmt: str) -> None:
    assert loads(dumps(t, fmt), fmt) == t


@pytest.mark.parametrize(
    "text", ["\x85", "a\u2028b", "tab\there", "bell\x07", "line\nbreak", "é ü 中"]
)
def test_yaml_keeps_odd_characters(text: str) -> None:
    t = Topology(name="odd", description=text)
    assert loads(dumps(t, "yaml"), "yaml").description == text
