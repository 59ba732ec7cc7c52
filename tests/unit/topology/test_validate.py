"""Semantic validation: messages, segments, loops, and things fixtures do not show."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from lab.demos.catalog import DEMOS
from lab.topology import Topology
from lab.topology.validate import UnionFind, segments, validate


def topo(data: dict[str, Any]) -> Topology:
    return Topology.model_validate(data)


def by_code(t: Topology) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for issue in validate(t):
        out.setdefault(issue.code, []).append(issue.message)
    return out


def star(extra_links: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "name": "star",
        "nodes": [
            {"name": "sw", "kind": "switch", "interfaces": [{"name": f"p{i}"} for i in range(4)]},
            *(
                {
                    "name": f"h{i}",
                    "interfaces": [{"name": "eth0", "addresses": [f"10.0.0.{i + 1}/24"]}],
                }
                for i in range(3)
            ),
        ],
        "links": [{"kind": "veth", "a": f"h{i}:eth0", "b": f"sw:p{i}"} for i in range(3)]
        + (extra_links or []),
    }


@pytest.mark.parametrize("demo", DEMOS, ids=[d.slug for d in DEMOS])
def test_every_demo_is_valid(demo: Any) -> None:
    assert validate(topo(demo.topology)) == []


def test_in_two_links_message_names_both_links() -> None:
    data = star([{"kind": "veth", "a": "h0:eth0", "b": "sw:p3"}])
    [issue] = validate(topo(data))
    assert issue.path == "links[3].a"
    assert issue.message.startswith(
        "interface eth0 of node h0 is used by links[0].a and links[3].a"
    )
    assert "h0" in issue.hint


def test_unknown_node_lists_known_nodes_in_hint() -> None:
    data = star([{"kind": "veth", "a": "h9:eth0", "b": "sw:p3"}])
    [issue] = validate(topo(data))
    assert issue.code == "endpoint.unknown_node"
    assert "h9" in issue.message and "h0, h1, h2, sw" in issue.hint


def test_segments_join_veths_and_bridges() -> None:
    t = topo(star())
    uf = segments(t)
    roots = {uf.find(("if", f"h{i}", "eth0")) for i in range(3)}
    assert len(roots) == 1
    assert uf.find(("br", "sw", "br0")) in roots


def test_same_address_on_different_segments_is_fine() -> None:
    data = {
        "name": "two",
        "nodes": [
            {"name": n, "interfaces": [{"name": "eth0", "addresses": [f"10.0.0.{k}/24"]}]}
            for n, k in (("a", 1), ("b", 2), ("c", 1), ("d", 2))
        ],
        "links": [
            {"kind": "veth", "a": "a:eth0", "b": "b:eth0"},
            {"kind": "veth", "a": "c:eth0", "b": "d:eth0"},
        ],
    }
    assert validate(topo(data)) == []


def test_duplicate_across_a_vxlan_overlay() -> None:
    data = next(d for d in DEMOS if d.slug == "vxlan-overlay").topology
    data = {**data, "nodes": [dict(n) for n in data["nodes"]]}
    data["nodes"][3] = {
        "name": "g2",
        "interfaces": [{"name": "eth0", "addresses": ["10.10.0.1/24"], "mtu": 1450}],
    }
    found = by_code(topo(data))
    assert list(found) == ["address.duplicate"]
    assert "g1" in found["address.duplicate"][0] and "g2" in found["address.duplicate"][0]


def test_subnet_mismatch_blames_the_odd_one_out() -> None:
    data = star()
    data["nodes"][1]["interfaces"][0]["addresses"] = ["10.0.0.1/16"]
    issues = validate(topo(data))
    assert [(i.path, i.code) for i in issues] == [
        ("nodes[1].interfaces[0].addresses[0]", "address.subnet_mismatch")
    ]
    assert "10.0.0.1/24" in issues[0].hint


def test_stp_on_every_bridge_allows_a_loop() -> None:
    data: dict[str, Any] = {
        "name": "ring",
        "nodes": [
            {
                "name": f"s{i}",
                "kind": "switch",
                "stp": True,
                "interfaces": [{"name": "a"}, {"name": "b"}],
            }
            for i in range(4)
        ],
        "links": [{"kind": "veth", "a": f"s{i}:b", "b": f"s{(i + 1) % 4}:a"} for i in range(4)],
    }
    assert validate(topo(data)) == []
    data["nodes"][2]["stp"] = False
    [issue] = validate(topo(data))
    assert issue.code == "switch.loop_without_stp" and issue.path == "links[3]"
    assert "bridge br0 of node s2 has STP off" in issue.message


def test_loop_through_host_bridges() -> None:
    nodes = [
        {
            "name": n,
            "bridges": [{"name": "br0"}],
            "interfaces": [{"name": "x", "bridge": "br0"}, {"name": "y", "bridge": "br0"}],
        }
        for n in ("a", "b")
    ]
    data = {
        "name": "hb",
        "nodes": nodes,
        "links": [
            {"kind": "veth", "a": "a:x", "b": "b:x"},
            {"kind": "veth", "a": "a:y", "b": "b:y"},
        ],
    }
    assert [i.code for i in validate(topo(data))] == ["switch.loop_without_stp"]


def test_vxlan_ipv6_underlay_needs_70_bytes() -> None:
    data = {
        "name": "v6",
        "nodes": [
            {
                "name": n,
                "interfaces": [
                    {"name": "eth0", "addresses": [f"2001:db8::{k}/64"]},
                    {"name": "vx0", "mtu": mtu},
                ],
            }
            for n, k, mtu in (("a", 1, 1430), ("b", 2, 1450))
        ],
        "links": [
            {"kind": "veth", "a": "a:eth0", "b": "b:eth0"},
            {
                "kind": "vxlan",
                "endpoint": "a:vx0",
                "vni": 7,
                "remote": "2001:db8::2",
                "underlay": "eth0",
            },
            {
                "kind": "vxlan",
                "endpoint": "b:vx0",
                "vni": 7,
                "remote": "2001:db8::1",
                "underlay": "eth0",
            },
        ],
    }
    issues = validate(topo(data))
    assert [(i.path, i.code) for i in issues] == [("nodes[1].interfaces[1].mtu", "vxlan.mtu")]
    assert "1430" in issues[0].hint


def test_macvlan_on_bridge_port_is_refused() -> None:
    data = star([{"kind": "macvlan", "endpoint": "h2:eth1", "parent": "sw:p0", "mode": "bridge"}])
    data["nodes"][3]["interfaces"].append({"name": "eth1"})
    assert [i.code for i in validate(topo(data))] == ["link.parent_is_bridge_port"]


def test_multicast_mac_and_duplicate_mac() -> None:
    data = star()
    data["nodes"][1]["interfaces"][0]["mac"] = "01:00:5e:00:00:01"
    data["nodes"][2]["interfaces"][0]["mac"] = "02:00:00:00:00:01"
    data["nodes"][3]["interfaces"][0]["mac"] = "02:00:00:00:00:01"
    assert {(i.path, i.code) for i in validate(topo(data))} == {
        ("nodes[1].interfaces[0].mac", "mac.multicast"),
        ("nodes[3].interfaces[0].mac", "mac.duplicate"),
    }


def test_route_without_next_hop_and_duplicates() -> None:
    data = star()
    data["nodes"][1]["routes"] = [{"dst": "10.9.0.0/24"}, {"dst": "10.8.0.0/24", "via": "10.0.0.2"}]
    data["nodes"][1]["routes"].append({"dst": "10.8.0.0/24", "via": "10.0.0.3"})
    assert {(i.path, i.code) for i in validate(topo(data))} == {
        ("nodes[1].routes[0]", "route.no_next_hop"),
        ("nodes[1].routes[2].dst", "route.duplicate"),
    }


def test_union_find() -> None:
    uf: UnionFind[int] = UnionFind()
    assert uf.union(1, 2) and uf.union(3, 4) and uf.union(2, 4)
    assert not uf.union(1, 3)
    assert uf.find(1) == uf.find(4)
    assert sorted(len(g) for g in uf.groups().values()) == [4]
    uf.add(9)
    assert sorted(len(g) for g in uf.groups().values()) == [1, 4]


# -- property: validate never crashes, whatever the references ---------------


REACHED: list[int] = []
NODES = ["a", "b", "c"]
IFACES = ["eth0", "eth1", "x"]
endpoint = st.builds(
    lambda n, i: f"{n}:{i}", st.sampled_from([*NODES, "zz"]), st.sampled_from(IFACES)
)
address = st.sampled_from(
    ["10.0.0.1/24", "10.0.0.1/16", "10.0.0.0/24", "10.0.0.255/24", "2001:db8::1/64", "fe80::1/64"]
)
link = st.one_of(
    st.fixed_dictionaries({"kind": st.just("veth"), "a": endpoint, "b": endpoint}),
    st.fixed_dictionaries(
        {
            "kind": st.just("vxlan"),
            "endpoint": endpoint,
            "vni": st.integers(-5, 2**25),
            "dstport": st.integers(-1, 70000),
        },
        optional={
            "remote": st.sampled_from(["10.0.0.2", "239.1.1.1", "2001:db8::2"]),
            "group": st.sampled_from(["239.1.1.1", "10.0.0.9"]),
            "local": st.sampled_from(["10.0.0.1", "2001:db8::1"]),
            "underlay": st.sampled_from([*IFACES, "vx"]),
        },
    ),
    st.fixed_dictionaries(
        {
            "kind": st.sampled_from(["macvlan", "macvtap", "ipvlan"]),
            "endpoint": endpoint,
            "parent": endpoint,
        }
    ),
    st.fixed_dictionaries(
        {
            "kind": st.just("vlan"),
            "endpoint": endpoint,
            "parent": st.sampled_from(IFACES),
            "vlan_id": st.integers(-1, 5000),
        }
    ),
    st.fixed_dictionaries(
        {
            "kind": st.just("bond"),
            "endpoint": endpoint,
            "members": st.lists(st.sampled_from(IFACES), max_size=3),
        }
    ),
    st.fixed_dictionaries({"kind": st.sampled_from(["tap", "tun", "vcan"]), "endpoint": endpoint}),
)
node = st.fixed_dictionaries(
    {
        "name": st.sampled_from(NODES),
        "kind": st.sampled_from(["host", "router", "switch"]),
        "interfaces": st.lists(
            st.fixed_dictionaries(
                {"name": st.sampled_from(IFACES)},
                optional={
                    "addresses": st.lists(address, max_size=2),
                    "bridge": st.sampled_from(["br0", "br1"]),
                    "mtu": st.integers(1000, 9000),
                },
            ),
            max_size=3,
        ),
    },
    optional={
        "gateway": st.sampled_from(["10.0.0.1", "10.9.9.9"]),
        "gateway6": st.sampled_from(["fe80::1", "2001:db8::9"]),
        "bridges": st.lists(
            st.fixed_dictionaries({"name": st.sampled_from(["br0", "br1"]), "stp": st.booleans()}),
            max_size=2,
        ),
        "routes": st.lists(
            st.fixed_dictionaries(
                {"dst": st.sampled_from(["default", "default6", "10.9.0.0/24", "2001:db8:9::/64"])},
                optional={
                    "via": st.sampled_from(["10.0.0.2", "2001:db8::2", "fe80::2"]),
                    "dev": st.sampled_from([*IFACES, "br0"]),
                },
            ),
            max_size=2,
        ),
    },
)


@settings(max_examples=300, deadline=None)
@given(st.lists(node, max_size=4), st.lists(link, max_size=6))
def test_validate_never_crashes(nodes: list[dict[str, Any]], links: list[dict[str, Any]]) -> None:
    try:
        t = Topology.model_validate({"name": "fuzz", "nodes": nodes, "links": links})
    except ValidationError:
        return
    REACHED.append(1)
    issues = validate(t)
    for issue in issues:
        assert issue.path.startswith(("nodes", "links")), issue
        assert issue.message and issue.hint, issue


def test_fuzz_reached_validation() -> None:
    # The property above must exercise validate(), not only the schema.
    if not REACHED:
        test_validate_never_crashes()
    assert len(REACHED) > 50
