"""The planner: a pure function from (desired topology, actual kernel state, host facts) to ops.

``plan(desired, actual, facts)`` returns only the difference: a node or link
that already exists as drawn is not touched (its counters keep counting). The
order: deletions, namespaces, sysctls, bridges, veths and tun/taps, devices
that need a parent (macvlan, vxlan), MTU/MAC fixes, bridge ports, up,
addresses, routes.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from lab.topology import naming
from lab.topology.schema import (
    Interface,
    MacvlanLink,
    MacvtapLink,
    Node,
    TapLink,
    Topology,
    TunLink,
    VethLink,
    VxlanLink,
)
from worker.facts import HostFacts
from worker.ops import (
    DeleteAddress,
    DeleteLink,
    DeleteNamespace,
    DeleteRoute,
    EngineError,
    MakeBridge,
    MakeMacvlan,
    MakeNamespace,
    MakeTuntap,
    MakeVeth,
    MakeVxlan,
    Op,
    ReplaceAddress,
    ReplaceRoute,
    SetMac,
    SetMaster,
    SetMtu,
    SetRate,
    SetSysctl,
    SetUp,
    UnsupportedKindError,
    op_from_json,
)
from worker.state import FORWARDING_SYSCTLS, LabState, LinkState, NamespaceState, RouteState


@dataclass(frozen=True)
class Plan:
    """An ordered list of ops for one lab; data, stored on the deployment."""

    lab: str
    ops: tuple[Op, ...] = ()

    def describe(self) -> list[str]:
        """Return one line per op."""
        return [op.describe() for op in self.ops]

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-able dict."""
        return {"lab": self.lab, "ops": [op.to_json() for op in self.ops]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Plan:
        """Rebuild a plan from ``to_json()``.

        Raises:
            EngineError: the data does not describe a plan.
        """
        try:
            return cls(lab=str(data["lab"]), ops=tuple(op_from_json(o) for o in data["ops"]))
        except (KeyError, TypeError) as exc:
            raise EngineError(f"not a plan: {exc}") from None

    def __len__(self) -> int:
        return len(self.ops)


@dataclass
class _Device:
    """One interface the topology wants, and how to make it."""

    ns: str
    name: str
    make: Op
    master: str | None = None
    addresses: tuple[str, ...] = ()
    mtu: int | None = None
    mac: str | None = None
    rate_mbit: int | None = None
    phase: int = 0  # 0 bridges, 1 veth/tun/tap, 2 needs a parent


@dataclass
class _Desired:
    namespaces: dict[str, Node] = field(default_factory=dict)
    devices: dict[tuple[str, str], _Device] = field(default_factory=dict)
    routes: dict[str, list[RouteState]] = field(default_factory=dict)


def check_supported(topology: Topology, facts: HostFacts) -> None:
    """Refuse, before any change, a topology using a kind this host lacks.

    Raises:
        UnsupportedKindError: naming the kind and the kernel module it needs.
    """
    for kind in sorted(topology.link_kinds()):
        module = facts.missing_module(kind)
        if module is not None:
            raise UnsupportedKindError(kind, module)


def _iface(node: Node, name: str) -> Interface:
    return node.interface(name) or Interface(name=name)


def _addrs(iface: Interface) -> tuple[str, ...]:
    return tuple(sorted(str(a) for a in iface.addresses))


def _desired(topology: Topology, lab: str, facts: HostFacts) -> _Desired:
    want = _Desired()
    nodes = {n.name: n for n in topology.nodes}

    def ns_of(node: str) -> str:
        return naming.namespace_name(lab, node)

    def add(node_name: str, iface_name: str, make: Op, phase: int, **extra: Any) -> None:
        node = nodes[node_name]
        iface = _iface(node, iface_name)
        want.devices[(ns_of(node_name), iface_name)] = _Device(
            ns=ns_of(node_name),
            name=iface_name,
            make=make,
            master=node.bridge_of(iface),
            addresses=_addrs(iface),
            mtu=iface.mtu,
            mac=iface.mac.lower() if iface.mac else None,
            phase=phase,
            **extra,
        )

    for node in topology.nodes:
        ns = ns_of(node.name)
        want.namespaces[ns] = node
        for bridge in node.all_bridges():
            declared = node.interface(bridge.name)
            addresses = set(str(a) for a in bridge.addresses)
            if declared is not None:
                addresses.update(str(a) for a in declared.addresses)
            want.devices[(ns, bridge.name)] = _Device(
                ns=ns,
                name=bridge.name,
                make=MakeBridge(ns, bridge.name, lab, bridge.stp, bridge.mtu),
                addresses=tuple(sorted(addresses)),
                mtu=bridge.mtu,
                phase=0,
            )
        routes: list[RouteState] = []
        if node.gateway is not None:
            routes.append(RouteState("0.0.0.0/0", str(node.gateway)))
        if node.gateway6 is not None:
            routes.append(RouteState("::/0", str(node.gateway6)))
        for route in node.routes:
            dst = {"default": "0.0.0.0/0", "default6": "::/0"}.get(str(route.dst), str(route.dst))
            routes.append(
                RouteState(dst, str(route.via) if route.via else None, route.dev, route.metric)
            )
        want.routes[ns] = routes

    make: Op
    for link in topology.links:
        if isinstance(link, VethLink):
            a_node, b_node = nodes[link.a.node], nodes[link.b.node]
            a_if, b_if = _iface(a_node, link.a.interface), _iface(b_node, link.b.interface)
            mtu = link.mtu or a_if.mtu or b_if.mtu
            make = MakeVeth(
                ns_of(link.a.node),
                link.a.interface,
                ns_of(link.b.node),
                link.b.interface,
                lab,
                mtu,
                a_if.mac.lower() if a_if.mac else None,
                b_if.mac.lower() if b_if.mac else None,
            )
            add(link.a.node, link.a.interface, make, 1, rate_mbit=link.rate_mbit)
            add(link.b.node, link.b.interface, make, 1, rate_mbit=link.rate_mbit)
        elif isinstance(link, VxlanLink):
            ep = link.endpoint
            make = MakeVxlan(
                ns_of(ep.node),
                ep.interface,
                lab,
                link.vni,
                link.dstport,
                str(link.local) if link.local else None,
                str(link.remote) if link.remote else None,
                str(link.group) if link.group else None,
                link.underlay,
                link.ttl,
                link.learning,
                _iface(nodes[ep.node], ep.interface).mtu,
            )
            add(ep.node, ep.interface, make, 2)
        elif isinstance(link, MacvlanLink | MacvtapLink):
            ep = link.endpoint
            iface = _iface(nodes[ep.node], ep.interface)
            make = MakeMacvlan(
                ns_of(ep.node),
                ep.interface,
                lab,
                ns_of(link.parent.node),
                link.parent.interface,
                link.mode,
                isinstance(link, MacvtapLink),
                link.source_macs if isinstance(link, MacvlanLink) else (),
                iface.mtu,
                iface.mac.lower() if iface.mac else None,
            )
            add(ep.node, ep.interface, make, 2)
        elif isinstance(link, TapLink | TunLink):
            ep = link.endpoint
            make = MakeTuntap(ns_of(ep.node), ep.interface, lab, link.kind, facts.lab_uid)
            add(ep.node, ep.interface, make, 1)
        else:  # pragma: no cover - check_supported refused it
            raise UnsupportedKindError(link.kind, link.kind)
    return want


def _compatible(dev: _Device, have: LinkState, actual_ns: dict[str, NamespaceState]) -> bool:
    """Whether an existing interface already is the device we would make."""
    make = dev.make
    if isinstance(make, MakeVeth):
        if have.kind != "veth":
            return False
        if (dev.ns, dev.name) == (make.ns, make.name):
            other_ns, other_name = make.peer_ns, make.peer
        else:
            other_ns, other_name = make.ns, make.name
        other_state = actual_ns.get(other_ns)
        other = other_state.link(other_name) if other_state else None
        return (
            other is not None
            and other.kind == "veth"
            and other.peer_ifindex == have.ifindex
            and have.peer_ifindex == other.ifindex
        )
    if isinstance(make, MakeBridge):
        return have.kind == "bridge" and have.get("stp") in (None, "1" if make.stp else "0")
    if isinstance(make, MakeVxlan):
        return (
            have.kind == "vxlan"
            and have.get("vni") == str(make.vni)
            and have.get("port") in (None, str(make.port))
        )
    if isinstance(make, MakeMacvlan):
        return have.kind == ("macvtap" if make.tap else "macvlan") and have.get("mode") in (
            None,
            make.mode,
        )
    if isinstance(make, MakeTuntap):
        return have.kind == make.mode
    return False


def _route_matches(want: RouteState, have: RouteState) -> bool:
    return (
        want.dst == have.dst
        and want.via == have.via
        and (want.dev is None or want.dev == have.dev)
        and (want.metric is None or want.metric == have.metric)
    )


def plan(
    desired: Topology, actual: LabState, host_facts: HostFacts, lab: str | None = None
) -> Plan:
    """Return the ops that turn ``actual`` into ``desired`` (only the difference).

    ``desired`` is a validated (and, if asked for, auto-addressed) topology;
    ``actual`` is ``state.discover(lab)``; ``lab`` defaults to ``actual.lab``.

    Raises:
        UnsupportedKindError: the topology needs a module the host lacks (nothing planned).
    """
    lab = lab or actual.lab
    check_supported(desired, host_facts)
    want = _desired(desired, lab, host_facts)
    actual_ns = {ns.name: ns for ns in actual.namespaces if ns.lab == lab}
    owner = naming.owner_alias(lab)

    deletes_ns: list[Op] = []
    deletes: list[Op] = []
    make_ns: list[Op] = []
    sysctls: list[Op] = []
    makes: dict[int, list[Op]] = {0: [], 1: [], 2: []}
    fixes: list[Op] = []
    masters: list[Op] = []
    ups: list[Op] = []
    rates: list[Op] = []
    addresses: list[Op] = []
    routes: list[Op] = []

    for name in sorted(actual_ns):
        if name not in want.namespaces:
            deletes_ns.append(DeleteNamespace(name))

    for ns, node in want.namespaces.items():
        have_ns = actual_ns.get(ns)
        if have_ns is None:
            make_ns.append(MakeNamespace(ns, lab, node.name))
        for key in FORWARDING_SYSCTLS:
            value = "1" if node.forwards else "0"
            current = have_ns.sysctl(key) if have_ns else "0"
            if current is not None and current != value:
                sysctls.append(SetSysctl(ns, key, value))

    # Interfaces: keep what matches, replace what does not, delete what is not wanted.
    made: set[Op] = set()
    fresh: set[tuple[str, str]] = set()
    for dkey, dev in want.devices.items():
        have_ns = actual_ns.get(dev.ns)
        have = have_ns.link(dev.name) if have_ns else None
        if have is not None and _compatible(dev, have, actual_ns):
            continue
        if have is not None:
            deletes.append(DeleteLink(dev.ns, dev.name))
        fresh.add(dkey)
        if dev.make not in made:
            made.add(dev.make)
            makes[dev.phase].append(dev.make)
    # A veth is made once for both ends: if one end is fresh, so is the other.
    for dev in want.devices.values():
        veth = dev.make
        if isinstance(veth, MakeVeth) and veth in made:
            for end in ((veth.ns, veth.name), (veth.peer_ns, veth.peer)):
                if end not in fresh:
                    fresh.add(end)
                    other_ns = actual_ns.get(end[0])
                    if other_ns is not None and other_ns.link(end[1]) is not None:
                        deletes.append(DeleteLink(*end))
    for ns_name, have_ns in sorted(actual_ns.items()):
        if ns_name not in want.namespaces:
            continue
        for link in have_ns.links:
            if link.alias == owner and (ns_name, link.name) not in want.devices:
                deletes.append(DeleteLink(ns_name, link.name))

    for dkey, dev in want.devices.items():
        have_ns = actual_ns.get(dev.ns)
        have = None if dkey in fresh or have_ns is None else have_ns.link(dev.name)
        if have is None:
            if dev.master is not None:
                masters.append(SetMaster(dev.ns, dev.name, dev.master))
            ups.append(SetUp(dev.ns, dev.name))
            if dev.rate_mbit is not None:
                rates.append(SetRate(dev.ns, dev.name, dev.rate_mbit))
            addresses.extend(ReplaceAddress(dev.ns, dev.name, a) for a in dev.addresses)
            continue
        if dev.mtu is not None and have.mtu != dev.mtu:
            fixes.append(SetMtu(dev.ns, dev.name, dev.mtu))
        if dev.mac is not None and have.mac.lower() != dev.mac:
            fixes.append(SetMac(dev.ns, dev.name, dev.mac))
        if have.master != dev.master:
            masters.append(SetMaster(dev.ns, dev.name, dev.master))
        if not have.up:
            ups.append(SetUp(dev.ns, dev.name))
        have_addrs = set(have.addresses)
        for a in sorted(have_addrs - set(dev.addresses)):
            if not _is_auto_address(a):
                deletes.append(DeleteAddress(dev.ns, dev.name, a))
        addresses.extend(
            ReplaceAddress(dev.ns, dev.name, a) for a in dev.addresses if a not in have_addrs
        )

    for ns, wanted_routes in want.routes.items():
        have_ns = actual_ns.get(ns)
        have_routes: Sequence[RouteState] = have_ns.routes if have_ns else ()
        for r in wanted_routes:
            if not any(_route_matches(r, h) for h in have_routes):
                routes.append(ReplaceRoute(ns, r.dst, r.via, r.dev, r.metric))
        for h in have_routes:
            if not any(_route_matches(r, h) for r in wanted_routes):
                deletes.insert(0, DeleteRoute(ns, h.dst, h.via, h.dev, h.metric))

    ops: list[Op] = [
        *deletes_ns,
        *deletes,
        *make_ns,
        *sysctls,
        *makes[0],
        *makes[1],
        *makes[2],
        *fixes,
        *masters,
        *ups,
        *rates,
        *addresses,
        *routes,
    ]
    return Plan(lab=lab, ops=tuple(ops))


def _is_auto_address(address: str) -> bool:
    """Addresses the kernel adds by itself (loopback), which the planner leaves alone."""
    return ipaddress.ip_interface(address).ip.is_loopback
