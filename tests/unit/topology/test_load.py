"""load_topology: the one door, with document paths users can read."""

from __future__ import annotations

from typing import Any

import pytest

from lab.topology import Limits, TopologyError, load_topology
from lab.topology.load import format_path


def chain() -> dict[str, Any]:
    return {
        "name": "t",
        "nodes": [
            {"name": "a", "interfaces": [{"name": "eth0"}]},
            {"name": "b", "interfaces": [{"name": "eth0"}, {"name": "eth1"}]},
            {"name": "c", "interfaces": [{"name": "eth0"}, {"name": "eth1"}]},
        ],
        "links": [
            {"kind": "veth", "a": "a:eth0", "b": "b:eth0"},
            {"kind": "veth", "a": "b:eth1", "b": "c:eth0"},
            {"kind": "veth", "a": {"node": "c"}, "b": "c:eth1"},
        ],
    }


def issues_of(data: Any, limits: Limits | None = None) -> list[tuple[str, str]]:
    with pytest.raises(TopologyError) as caught:
        load_topology(data, limits)
    return [(i.path, i.code) for i in caught.value.issues]


def test_format_path() -> None:
    assert format_path(("links", 2, "a", "node")) == "links[2].a.node"
    assert format_path(()) == ""


def test_missing_endpoint_field_path_has_no_union_tag() -> None:
    assert issues_of(chain()) == [("links[2].a.interface", "schema.missing")]


def test_wrong_type_inside_endpoint() -> None:
    data = chain()
    data["links"][2]["a"] = {"node": 5, "interface": "eth1"}
    data["links"][2]["b"] = "c:eth1"
    assert issues_of(data) == [("links[2].a.node", "schema.string_type")]


def test_link_without_kind_is_a_veth() -> None:
    data = chain()
    data["links"][2] = {"a": "c:eth1", "b": "a:eth0"}
    data["nodes"][0]["interfaces"].append({"name": "eth1"})
    data["links"][2]["b"] = "a:eth1"
    assert load_topology(data).links[2].kind == "veth"


def test_not_an_object() -> None:
    assert issues_of([1, 2]) == [("$", "schema.not_an_object")]


def test_ip_union_reports_once() -> None:
    data = chain()
    data["nodes"][0]["interfaces"][0]["addresses"] = ["nonsense"]
    data["links"][2]["a"] = "c:eth1"
    data["links"][2]["b"] = "b:eth0"
    got = issues_of(data)
    assert ("nodes[0].interfaces[0].addresses[0]", "schema.ip_interface") in got
    assert len([g for g in got if g[1] == "schema.ip_interface"]) == 1


def test_too_many_nodes() -> None:
    data = {"name": "big", "nodes": [{"name": f"n{i}"} for i in range(4)]}
    assert issues_of(data, Limits(max_nodes=3)) == [("nodes", "limit.too_many_nodes")]
    assert len(load_topology(data, Limits(max_nodes=4)).nodes) == 4


def test_too_many_links_and_interfaces() -> None:
    data = chain()
    data["links"] = data["links"][:2]
    got = issues_of(data, Limits(max_links=1, max_interfaces_per_node=1))
    assert set(got) == {
        ("links", "limit.too_many_links"),
        ("nodes[1].interfaces", "limit.too_many_interfaces"),
        ("nodes[2].interfaces", "limit.too_many_interfaces"),
    }


def _star_switch(ports: int) -> dict[str, object]:
    return {
        "name": "star",
        "nodes": [
            {"name": "s", "kind": "switch", "interfaces": [{"name": f"p{i}"} for i in range(ports)]}
        ],
    }


def test_default_switch_takes_a_star_of_the_largest_lab() -> None:
    # 499 hosts on one switch: the largest lab the default node limit allows, as a star.
    assert len(load_topology(_star_switch(499)).nodes[0].interfaces) == 499


def test_default_interfaces_stop_at_the_bridge_port_limit() -> None:
    # A Linux bridge takes at most 1024 ports; one more is refused at validation.
    assert len(load_topology(_star_switch(1024)).nodes[0].interfaces) == 1024
    assert issues_of(_star_switch(1025)) == [("nodes[0].interfaces", "limit.too_many_interfaces")]
