"""Placement, partition and VNI allocation (pure: lab/placement.py)."""

from __future__ import annotations

from typing import Any

import pytest

from lab.placement import (
    STITCH_VNI_MIN,
    VXLAN_OVERHEAD,
    HostInfo,
    PlacementError,
    allocate_vnis,
    part_topology,
    place,
    vni_pairs,
)
from lab.topology.schema import Topology, VethLink, VxlanLink

KINDS = frozenset({"veth", "bridge", "vxlan", "macvlan", "tap", "tun"})


def host(name: str, capacity: int = 100, load: int = 0, kinds: frozenset[str] = KINDS) -> HostInfo:
    return HostInfo(
        name=name,
        underlay=f"10.9.0.{ord(name[-1]) % 200}",
        capacity=capacity,
        load=load,
        kinds=kinds,
    )


def topo(nodes: list[dict[str, Any]], links: list[dict[str, Any]]) -> Topology:
    return Topology.model_validate({"name": "t", "nodes": nodes, "links": links})


def chain(n: int) -> Topology:
    nodes = [
        {"name": f"n{i}", "interfaces": [{"name": "eth0"}, {"name": "eth1"}]} for i in range(n)
    ]
    links = [{"a": f"n{i}:eth1", "b": f"n{i + 1}:eth0"} for i in range(n - 1)]
    return topo(nodes, links)


def test_whole_lab_goes_to_the_host_with_most_room() -> None:
    p = place(chain(4), [host("a", 10, load=8), host("b", 10, load=2), host("c", 3)])
    assert set(p.nodes.values()) == {"b"}
    assert not p.is_split and p.cut == ()


def test_host_lacking_a_kind_is_skipped_and_none_fitting_names_the_missing_kind() -> None:
    t = topo(
        [{"name": "h", "interfaces": [{"name": "tap0"}]}], [{"kind": "tap", "endpoint": "h:tap0"}]
    )
    p = place(t, [host("a", kinds=frozenset({"veth"})), host("b")])
    assert p.nodes == {"h": "b"}
    with pytest.raises(PlacementError) as exc:
        place(t, [host("a", kinds=frozenset({"veth"}))])
    assert exc.value.code == "placement.kinds" and "tap" in exc.value.message


def test_no_hosts_is_an_error() -> None:
    with pytest.raises(PlacementError) as exc:
        place(chain(2), [])
    assert exc.value.code == "placement.no_hosts"


def test_a_chain_too_big_for_one_host_is_cut_once() -> None:
    p = place(chain(10), [host("a", 6), host("b", 6)])
    assert p.is_split
    assert len(p.cut) == 1
    counts = {h: list(p.nodes.values()).count(h) for h in ("a", "b")}
    assert sum(counts.values()) == 10 and max(counts.values()) <= 6


def test_two_triangles_joined_by_one_link_are_cut_there() -> None:
    nodes = [{"name": n} for n in ("a1", "a2", "a3", "b1", "b2", "b3")]
    links = []
    for grp in ("a", "b"):
        links += [
            {"a": f"{grp}1:e1", "b": f"{grp}2:e1"},
            {"a": f"{grp}2:e2", "b": f"{grp}3:e2"},
            {"a": f"{grp}3:e3", "b": f"{grp}1:e3"},
        ]
    links.append({"a": "a1:x", "b": "b1:x"})
    p = place(topo(nodes, links), [host("h1", 3), host("h2", 3)])
    assert len(p.cut) == 1
    assert {p.nodes["a1"], p.nodes["a2"], p.nodes["a3"]} != {p.nodes["b1"]}
    assert len({p.nodes[n] for n in ("a1", "a2", "a3")}) == 1


def test_hints_split_a_small_lab_and_the_cut_link_is_reported() -> None:
    t = topo(
        [{"name": "h1", "host": "A"}, {"name": "h2", "host": "B"}],
        [{"a": "h1:eth0", "b": "h2:eth0"}],
    )
    p = place(t, [host("A"), host("B")])
    assert p.nodes == {"h1": "A", "h2": "B"}
    assert [(c.a.node, c.b.node, c.pair) for c in p.cut] == [("h1", "h2", ("A", "B"))]


def test_unknown_hinted_host_is_refused() -> None:
    t = topo([{"name": "h1", "host": "nowhere"}], [])
    with pytest.raises(PlacementError) as exc:
        place(t, [host("A")])
    assert exc.value.code == "placement.unknown_host" and "nowhere" in exc.value.message


def test_switch_segments_stay_together() -> None:
    nodes = [{"name": "s1", "kind": "switch"}, {"name": "s2", "kind": "switch"}]
    nodes += [{"name": f"h{i}"} for i in range(4)]
    links = [{"a": "s1:p0", "b": "s2:p0"}]
    links += [{"a": f"h{i}:eth0", "b": f"s{1 + i % 2}:p{i + 1}"} for i in range(4)]
    p = place(topo(nodes, links), [host("A", 4), host("B", 4)])
    assert p.nodes["s1"] == p.nodes["s2"]
    assert all(not (c.a.node.startswith("s") and c.b.node.startswith("s")) for c in p.cut)


def test_macvlan_child_stays_with_its_parent() -> None:
    nodes = [{"name": "p", "host": "A"}, {"name": "c"}, {"name": "x", "host": "B"}]
    links = [
        {"kind": "macvlan", "endpoint": "c:mv0", "parent": "p:eth9"},
        {"a": "c:eth0", "b": "x:eth0"},
    ]
    p = place(topo(nodes, links), [host("A"), host("B")])
    assert p.nodes["c"] == "A"


def test_conflicting_hints_in_one_group_are_refused() -> None:
    nodes = [
        {"name": "s1", "kind": "switch", "host": "A"},
        {"name": "s2", "kind": "switch", "host": "B"},
    ]
    with pytest.raises(PlacementError) as exc:
        place(topo(nodes, [{"a": "s1:p0", "b": "s2:p0"}]), [host("A"), host("B")])
    assert exc.value.code == "placement.conflicting_hints"


def test_not_enough_room_anywhere_is_refused() -> None:
    with pytest.raises(PlacementError) as exc:
        place(chain(10), [host("a", 4), host("b", 4)])
    assert exc.value.code == "placement.capacity"


def test_vnis_never_collide_on_a_host() -> None:
    wanted = [(0, "A", "B"), (1, "A", "C"), (2, "B", "C"), (3, "A", "B")]
    got = allocate_vnis(wanted, {"A": {STITCH_VNI_MIN}, "C": {STITCH_VNI_MIN + 1}})
    per_host: dict[str, list[int]] = {}
    for index, ha, hb in wanted:
        per_host.setdefault(ha, []).append(got[index])
        per_host.setdefault(hb, []).append(got[index])
    for h, vnis in per_host.items():
        assert len(vnis) == len(set(vnis)), h
    assert STITCH_VNI_MIN not in per_host["A"]
    assert STITCH_VNI_MIN + 1 not in per_host["C"]


def test_part_topology_replaces_the_cut_end_with_a_vxlan_and_lowers_the_mtu() -> None:
    t = topo(
        [
            {
                "name": "h1",
                "host": "A",
                "interfaces": [{"name": "eth0", "addresses": ["10.0.0.1/24"]}],
            },
            {
                "name": "h2",
                "host": "B",
                "interfaces": [{"name": "eth0", "addresses": ["10.0.0.2/24"]}],
            },
            {"name": "h3", "host": "A"},
        ],
        [{"a": "h1:eth0", "b": "h2:eth0"}, {"a": "h1:eth1", "b": "h3:eth1"}],
    )
    p = place(t, [host("A"), host("B")])
    vnis = allocate_vnis(vni_pairs(p), {})
    part, stitches = part_topology(t, p, "A", {"A": "10.9.0.1", "B": "10.9.0.2"}, vnis)
    assert {n.name for n in part.nodes} == {"h1", "h3"}
    vx = [lk for lk in part.links if isinstance(lk, VxlanLink)]
    assert len(vx) == 1 and str(vx[0].endpoint) == "h1:eth0"
    assert (str(vx[0].local), str(vx[0].remote), vx[0].vni) == ("10.9.0.1", "10.9.0.2", vnis[0])
    assert [str(lk.a) for lk in part.links if isinstance(lk, VethLink)] == ["h1:eth1"]
    h1 = part.node("h1")
    assert h1 is not None and h1.interface("eth0") is not None
    assert h1.interface("eth0").mtu == 1500 - VXLAN_OVERHEAD  # type: ignore[union-attr]
    assert len(stitches) == 1 and "mtu 1450" in stitches[0].describe()
    other, _ = part_topology(t, p, "B", {"A": "10.9.0.1", "B": "10.9.0.2"}, vnis)
    vx_b = [lk for lk in other.links if isinstance(lk, VxlanLink)]
    assert (str(vx_b[0].local), str(vx_b[0].remote), vx_b[0].vni) == (
        "10.9.0.2",
        "10.9.0.1",
        vnis[0],
    )
