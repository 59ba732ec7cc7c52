"""Automatic addressing and routes, checked by walking packets hop by hop."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Interface, IPv4Network, ip_network
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lab.topology import Topology
from lab.topology.addressing import PoolExhausted, auto_address
from lab.topology.validate import iface_port, segments, validate
from tests.unit.topology.test_io import topologies


def chain_doc(routers: int = 5, **addressing: Any) -> dict[str, Any]:
    """h1 - r1 - r2 - ... - rN - h5, plus a switch with two hosts hanging off the middle router."""
    nodes: list[dict[str, Any]] = [{"name": "h1", "interfaces": [{"name": "eth0"}]}]
    links: list[dict[str, Any]] = [{"kind": "veth", "a": "h1:eth0", "b": "r1:eth0"}]
    for i in range(1, routers + 1):
        ifaces = [{"name": "eth0"}, {"name": "eth1"}]
        if i == 3:
            ifaces.append({"name": "lan0"})
        nodes.append({"name": f"r{i}", "kind": "router", "interfaces": ifaces})
        if i < routers:
            links.append({"kind": "veth", "a": f"r{i}:eth1", "b": f"r{i + 1}:eth0"})
    links.append({"kind": "veth", "a": f"r{routers}:eth1", "b": "h5:eth0"})
    nodes.append({"name": "h5", "interfaces": [{"name": "eth0"}]})
    nodes.append(
        {"name": "sw", "kind": "switch", "interfaces": [{"name": f"p{i}"} for i in range(3)]}
    )
    links.append({"kind": "veth", "a": "r3:lan0", "b": "sw:p0"})
    for k in (1, 2):
        nodes.append({"name": f"s{k}", "interfaces": [{"name": "eth0"}]})
        links.append({"kind": "veth", "a": f"s{k}:eth0", "b": f"sw:p{k}"})
    return {
        "name": "chain",
        "addressing": {"auto": True, **addressing},
        "nodes": nodes,
        "links": links,
    }


# The last topology walked and its segments (holding the object keeps its id unique).
_CACHE: list[Any] = [None, None, None]


def walk(t: Topology, src: str, dst: IPv4Address) -> list[str]:
    """Follow longest-prefix-match lookups from ``src`` until a node owns ``dst``."""
    if _CACHE[0] is not t:
        uf = segments(t)
        owners: dict[IPv4Address, list[tuple[str, Any]]] = {}
        for node in t.nodes:
            for iface in node.interfaces:
                for addr in iface.addresses:
                    if isinstance(addr, IPv4Interface):
                        owners.setdefault(addr.ip, []).append(
                            (node.name, uf.find(iface_port(node.name, iface.name)))
                        )
        _CACHE[:] = [t, uf, owners]
    _, uf, owners = _CACHE
    here = src
    path = [here]
    while True:
        node = t.node(here)
        assert node is not None
        mine = [
            (a, iface)
            for iface in node.interfaces
            for a in iface.addresses
            if isinstance(a, IPv4Interface)
        ]
        if any(a.ip == dst for a, _ in mine):
            return path
        # (prefix, next-hop address or None for on-link, outgoing interface)
        table: list[tuple[IPv4Network, IPv4Address | None]] = [(a.network, None) for a, _ in mine]
        for route in node.routes:
            if isinstance(route.dst, IPv4Network) and isinstance(route.via, IPv4Address):
                table.append((route.dst, route.via))
        if node.gateway is not None:
            table.append((ip_network("0.0.0.0/0"), node.gateway))  # type: ignore[arg-type]
        matches = [entry for entry in table if dst in entry[0]]
        assert matches, f"{here} has no route to {dst} (path {path})"
        _net, via = max(matches, key=lambda e: e[0].prefixlen)
        target = dst if via is None else via
        out_ifaces = [iface for a, iface in mine if target in a.network]
        assert out_ifaces, f"{here}: next hop {target} is not on link"
        seg = uf.find(iface_port(here, out_ifaces[0].name))
        nxt = [n for n, s in owners.get(target, []) if s == seg]
        assert len(nxt) == 1, f"{here}: {target} not unique on the segment"
        here = nxt[0]
        assert here not in path, f"routing loop: {[*path, here]}"
        path.append(here)


def all_addresses(t: Topology) -> dict[IPv4Address, str]:
    return {
        a.ip: n.name
        for n in t.nodes
        for i in n.interfaces
        for a in i.addresses
        if isinstance(a, IPv4Interface)
    }


def test_chain_of_five_routers_every_node_reaches_every_address() -> None:
    t = auto_address(Topology.model_validate(chain_doc()))
    assert validate(t) == []
    addresses = all_addresses(t)
    # 6 point-to-point links and one switch segment with r3, s1, s2.
    assert len(addresses) == 6 * 2 + 3
    for node in t.nodes:
        if node.kind == "switch":
            continue
        for ip, owner in addresses.items():
            path = walk(t, node.name, ip)
            assert path[-1] == owner
    assert walk(t, "h1", next(ip for ip, o in addresses.items() if o == "h5")) == [
        "h1",
        "r1",
        "r2",
        "r3",
        "r4",
        "r5",
        "h5",
    ]


def test_prefix_sizes_and_router_gets_first_address() -> None:
    t = auto_address(Topology.model_validate(chain_doc(pool="10.20.0.0/16", p2p_prefix=31)))
    h1 = t.node("h1")
    r1 = t.node("r1")
    r3 = t.node("r3")
    assert h1 is not None and r1 is not None and r3 is not None
    assert h1.interfaces[0].addresses[0].network.prefixlen == 31
    assert r1.interfaces[0].addresses[0].network.prefixlen == 31
    lan = r3.interfaces[2].addresses[0]
    assert lan.network.prefixlen == 24 and lan.ip == lan.network.network_address + 1
    s1 = t.node("s1")
    assert s1 is not None and s1.gateway == lan.ip
    assert all(ip in IPv4Network("10.20.0.0/16") for ip in all_addresses(t))


def test_existing_addresses_and_subnets_are_kept() -> None:
    doc = chain_doc(routes=False)
    doc["nodes"][0]["interfaces"][0]["addresses"] = ["10.0.0.2/30"]  # h1 on the first /30
    t = auto_address(Topology.model_validate(doc))
    h1, r1 = t.node("h1"), t.node("r1")
    assert h1 is not None and r1 is not None
    assert [str(a) for a in h1.interfaces[0].addresses] == ["10.0.0.2/30"]
    assert [str(a) for a in r1.interfaces[0].addresses] == ["10.0.0.1/30"]
    nets = [a.network for a in all_addresses_with_prefix(t)]
    assert nets.count(IPv4Network("10.0.0.0/30")) == 2  # nobody else got that subnet
    assert all(not n.routes and n.gateway is None for n in t.nodes)
    assert validate(t) == []


def all_addresses_with_prefix(t: Topology) -> list[IPv4Interface]:
    return [
        a
        for n in t.nodes
        for i in n.interfaces
        for a in i.addresses
        if isinstance(a, IPv4Interface)
    ]


def test_auto_address_is_pure_and_idempotent() -> None:
    original = Topology.model_validate(chain_doc())
    once = auto_address(original)
    assert all(not i.addresses for n in original.nodes for i in n.interfaces)
    assert auto_address(once) == once


def test_pool_exhausted() -> None:
    with pytest.raises(PoolExhausted, match=r"10\.0\.0\.0/29"):
        auto_address(Topology.model_validate(chain_doc(pool="10.0.0.0/29")))


# -- properties ----------------------------------------------------------------


@st.composite
def router_trees(draw: st.DrawFn) -> Topology:
    """A random tree of routers, some hosts on each, some of them behind a switch."""
    count = draw(st.integers(min_value=1, max_value=7))
    nodes: list[dict[str, Any]] = []
    links: list[dict[str, Any]] = []
    ifaces: dict[str, list[dict[str, str]]] = {}

    def port(node: str) -> str:
        name = f"e{len(ifaces[node])}"
        ifaces[node].append({"name": name})
        return f"{node}:{name}"

    for i in range(count):
        ifaces[f"r{i}"] = []
        nodes.append({"name": f"r{i}", "kind": "router", "interfaces": ifaces[f"r{i}"]})
        if i:
            parent = draw(st.integers(min_value=0, max_value=i - 1))
            links.append({"kind": "veth", "a": port(f"r{parent}"), "b": port(f"r{i}")})
        for k in range(draw(st.integers(min_value=0, max_value=2))):
            host = f"h{i}x{k}"
            ifaces[host] = []
            nodes.append({"name": host, "interfaces": ifaces[host]})
            links.append({"kind": "veth", "a": port(host), "b": port(f"r{i}")})
        if draw(st.booleans()):
            sw = f"s{i}"
            ifaces[sw] = []
            nodes.append({"name": sw, "kind": "switch", "interfaces": ifaces[sw]})
            links.append({"kind": "veth", "a": port(f"r{i}"), "b": port(sw)})
            for k in range(draw(st.integers(min_value=1, max_value=3))):
                host = f"h{i}s{k}"
                ifaces[host] = []
                nodes.append({"name": host, "interfaces": ifaces[host]})
                links.append({"kind": "veth", "a": port(host), "b": port(sw)})
    prefix = draw(st.sampled_from([30, 31]))
    return Topology.model_validate(
        {
            "name": "tree",
            "addressing": {"auto": True, "p2p_prefix": prefix},
            "nodes": nodes,
            "links": links,
        }
    )


@settings(max_examples=40, deadline=None)
@given(router_trees())
def test_random_router_trees_reach_everything(t: Topology) -> None:
    done = auto_address(t)
    assert validate(done) == []
    addresses = all_addresses(done)
    for node in done.nodes:
        if node.kind == "switch":
            continue
        for ip, owner in addresses.items():
            assert walk(done, node.name, ip)[-1] == owner


@settings(max_examples=40, deadline=None)
@given(topologies())
def test_auto_address_keeps_random_topologies_valid(t: Topology) -> None:
    assert validate(auto_address(t)) == []
