"""The planner: a pure function from (desired topology, actual kernel state, host facts) to ops.

``plan(desired, actual, facts)`` returns only the difference: a node or link
that already exists as drawn is not touched (its counters keep counting). The
order: deletions, namespaces, sysctls, bridges, then every other device after
what it needs (a veth before the vlan, macsec or ipvlan on it, members before
their bond or team), MTU/MAC fixes, bridge/bond/team ports, team active ports,
port VLANs, up, MACsec peers, rates, addresses, routes.

A device that lives on another (vlan, macvlan, ipvlan, macsec on their parent)
is made again when its parent is, since the kernel removes it with the parent;
the ports of a bridge, bond or team that is made again are enslaved again.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, assert_never

from lab.topology import naming
from lab.topology.schema import (
    BondLink,
    DummyLink,
    Interface,
    IpvlanLink,
    IpvtapLink,
    MacsecKey,
    MacsecLink,
    MacvlanLink,
    MacvtapLink,
    Node,
    TapLink,
    TeamLink,
    Topology,
    TunLink,
    VcanLink,
    VethLink,
    VlanLink,
    VxcanLink,
    VxlanLink,
)
from worker.facts import HostFacts
from worker.ops import (
    DeleteAddress,
    DeleteLink,
    DeleteNamespace,
    DeleteRoute,
    EngineError,
    MakeBond,
    MakeBridge,
    MakeDummy,
    MakeIpvlan,
    MakeMacsec,
    MakeMacvlan,
    MakeNamespace,
    MakeTeam,
    MakeTuntap,
    MakeVcan,
    MakeVeth,
    MakeVlan,
    MakeVxcan,
    MakeVxlan,
    Op,
    ReplaceAddress,
    ReplaceRoute,
    SetMac,
    SetMacsecRx,
    SetMaster,
    SetMtu,
    SetPortVlans,
    SetShaping,
    SetSysctl,
    SetTeamPorts,
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


Key = tuple[str, str]  # (namespace, interface)
MACSEC_KEYID_LEN = 16


@dataclass(kw_only=True)
class _Device:
    """One interface the topology wants, and how to make it."""

    ns: str
    name: str
    make: Op
    master: str | None = None
    addresses: tuple[str, ...] = ()
    mtu: int | None = None
    mac: str | None = None
    # What its root qdisc does, and its administrative state (applied live).
    shaping: SetShaping | None = None
    up: bool = True
    # The device this one lives on: the kernel removes it with that one.
    lower: Key | None = None
    # Devices to make first (a bond's members: its primary is named by ifindex).
    after: tuple[Key, ...] = ()
    floor: int = 1  # 0 bridges; 2 for vxlan and macvlan as before
    # On a port of a VLAN-filtering bridge: what it carries (None: left as it is).
    vlans: tuple[int, ...] | None = None
    pvid: int | None = None


@dataclass(frozen=True)
class _Rx:
    """A MACsec peer a device accepts, and what discovery shows once it does."""

    op: SetMacsecRx
    peer_port: int


@dataclass
class _Desired:
    namespaces: dict[str, Node] = field(default_factory=dict)
    devices: dict[Key, _Device] = field(default_factory=dict)
    routes: dict[str, list[RouteState]] = field(default_factory=dict)
    teams: dict[Key, SetTeamPorts] = field(default_factory=dict)
    macsec_rx: list[_Rx] = field(default_factory=list)


def check_supported(topology: Topology, facts: HostFacts) -> None:
    """Refuse, before any change, a topology using a kind this host lacks.

    Raises:
        UnsupportedKindError: naming the kind and the kernel module it needs.
    """
    for kind in sorted(topology.link_kinds()):
        module = facts.missing_module(kind)
        if module is not None:
            raise UnsupportedKindError(kind, module)
    team = facts.missing_team_mode(topology)
    if team is not None:  # the team module is there, one of its runners is not
        raise UnsupportedKindError(*team)


def _addrs(iface: Interface) -> tuple[str, ...]:
    return tuple(sorted(str(a) for a in iface.addresses))


def macsec_key_id(key: MacsecKey) -> str:
    """Return the 16-byte key id (hex) of an SA: the given one padded, or a digest of the key.

    The kernel never gives a key back, but it does give key ids: a key id derived from
    the key lets discovery see that a key was edited.
    """
    if key.key_id is not None:
        return key.key_id.lower().ljust(2 * MACSEC_KEYID_LEN, "0")
    return hashlib.sha256(bytes.fromhex(key.key)).hexdigest()[: 2 * MACSEC_KEYID_LEN]


def _desired(
    topology: Topology, lab: str, facts: HostFacts, stitched: frozenset[tuple[str, str]]
) -> _Desired:
    want = _Desired()
    nodes = {n.name: n for n in topology.nodes}
    # Node.interface() searches a list: with it a 500-port switch was quadratic.
    by_name = {(n.name, i.name): i for n in topology.nodes for i in n.interfaces}

    def _iface(node: Node, name: str) -> Interface:
        return by_name.get((node.name, name)) or Interface(name=name)

    def ns_of(node: str) -> str:
        return naming.namespace_name(lab, node)

    # Members of a bond or team have it as their master (as a port has its bridge).
    aggregate: dict[tuple[str, str], str] = {}
    for link in topology.links:
        if isinstance(link, BondLink | TeamLink):
            for member in link.members:
                aggregate[(link.endpoint.node, member)] = link.endpoint.interface
    filtering = {
        (node.name, b.name)
        for node in topology.nodes
        for b in node.all_bridges()
        if b.vlan_filtering
    }

    def add(node_name: str, iface_name: str, make: Op, **extra: Any) -> None:
        node = nodes[node_name]
        iface = _iface(node, iface_name)
        master = aggregate.get((node_name, iface_name)) or node.bridge_of(iface)
        port_vlans: dict[str, Any] = {}
        if master is not None and (node_name, master) in filtering and (iface.vlans or iface.pvid):
            port_vlans = {"vlans": tuple(sorted(iface.vlans)), "pvid": iface.pvid}
        link_rate = extra.pop("rate_mbit", None)
        netem = iface.netem
        shaping = SetShaping(
            ns=ns_of(node_name),
            name=iface_name,
            rate_mbit=iface.rate_mbit or link_rate,
            **(netem.model_dump() if netem is not None else {}),
        )
        want.devices[(ns_of(node_name), iface_name)] = _Device(
            ns=ns_of(node_name),
            name=iface_name,
            make=make,
            master=master,
            addresses=_addrs(iface),
            mtu=extra.pop("mtu", None) or iface.mtu,
            mac=iface.mac.lower() if iface.mac else None,
            shaping=shaping,
            up=iface.up,
            **port_vlans,
            **extra,
        )

    for node in topology.nodes:
        ns = ns_of(node.name)
        want.namespaces[ns] = node
        for bridge in node.all_bridges():
            declared = by_name.get((node.name, bridge.name))
            addresses = set(str(a) for a in bridge.addresses)
            if declared is not None:
                addresses.update(str(a) for a in declared.addresses)
            want.devices[(ns, bridge.name)] = _Device(
                ns=ns,
                name=bridge.name,
                make=MakeBridge(
                    ns, bridge.name, lab, bridge.stp, bridge.mtu, bridge.vlan_filtering
                ),
                addresses=tuple(sorted(addresses)),
                mtu=bridge.mtu,
                floor=0,
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

    macsec_ports = {
        (m.endpoint.node, m.endpoint.interface): m.port
        for m in topology.links
        if isinstance(m, MacsecLink)
    }
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
            # The link's MTU and rate apply to both ends (and follow edits of a running lab).
            add(link.a.node, link.a.interface, make, rate_mbit=link.rate_mbit, mtu=link.mtu)
            add(link.b.node, link.b.interface, make, rate_mbit=link.rate_mbit, mtu=link.mtu)
        elif isinstance(link, VxlanLink):
            ep = link.endpoint
            make = MakeVxlan(
                ns=ns_of(ep.node),
                name=ep.interface,
                lab=lab,
                vni=link.vni,
                port=link.dstport,
                local=str(link.local) if link.local else None,
                remote=str(link.remote) if link.remote else None,
                group=str(link.group) if link.group else None,
                dev=link.underlay,
                ttl=link.ttl,
                learning=link.learning,
                mtu=_iface(nodes[ep.node], ep.interface).mtu,
                # A cut link's side: made in the host's underlay namespace, then moved in.
                underlay=(ep.node, ep.interface) in stitched,
            )
            under = ((ns_of(ep.node), link.underlay),) if link.underlay else ()
            add(ep.node, ep.interface, make, floor=2, after=under)
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
            lower = (ns_of(link.parent.node), link.parent.interface)
            add(ep.node, ep.interface, make, floor=2, lower=lower)
        elif isinstance(link, TapLink | TunLink):
            ep = link.endpoint
            make = MakeTuntap(ns_of(ep.node), ep.interface, lab, link.kind, facts.lab_uid)
            add(ep.node, ep.interface, make)
        elif isinstance(link, DummyLink | VcanLink):
            ep, ns = link.endpoint, ns_of(link.endpoint.node)
            if isinstance(link, DummyLink):
                make = MakeDummy(ns, ep.interface, lab, _iface(nodes[ep.node], ep.interface).mtu)
            else:
                make = MakeVcan(ns, ep.interface, lab)
            add(ep.node, ep.interface, make)
        elif isinstance(link, VxcanLink):
            make = MakeVxcan(
                ns=ns_of(link.a.node),
                name=link.a.interface,
                peer_ns=ns_of(link.b.node),
                peer=link.b.interface,
                lab=lab,
            )
            add(link.a.node, link.a.interface, make)
            add(link.b.node, link.b.interface, make)
        elif isinstance(link, VlanLink):
            ep, ns = link.endpoint, ns_of(link.endpoint.node)
            make = MakeVlan(
                ns=ns,
                name=ep.interface,
                lab=lab,
                parent=link.parent,
                vlan_id=link.vlan_id,
                protocol=link.protocol,
                mtu=_iface(nodes[ep.node], ep.interface).mtu,
            )
            add(ep.node, ep.interface, make, lower=(ns, link.parent))
        elif isinstance(link, BondLink):
            ep, ns = link.endpoint, ns_of(link.endpoint.node)
            make = MakeBond(
                ns=ns,
                name=ep.interface,
                lab=lab,
                mode=link.mode,
                miimon=link.miimon,
                primary=link.primary,
                mtu=_iface(nodes[ep.node], ep.interface).mtu,
            )
            add(ep.node, ep.interface, make, after=tuple((ns, m) for m in link.members))
        elif isinstance(link, TeamLink):
            ep, ns = link.endpoint, ns_of(link.endpoint.node)
            add(
                ep.node,
                ep.interface,
                MakeTeam(ns, ep.interface, lab, link.runner),
                after=tuple((ns, m) for m in link.members),
            )
            active = None
            if link.runner == "activebackup" and link.members:
                # The kernel's activebackup mode sends on no port until one is named.
                active = link.primary or link.members[0]
            want.teams[(ns, ep.interface)] = SetTeamPorts(ns, ep.interface, link.members, active)
        elif isinstance(link, IpvlanLink | IpvtapLink):
            ep = link.endpoint
            make = MakeIpvlan(
                ns=ns_of(ep.node),
                name=ep.interface,
                lab=lab,
                parent_ns=ns_of(link.parent.node),
                parent=link.parent.interface,
                mode=link.mode,
                tap=isinstance(link, IpvtapLink),
                mtu=_iface(nodes[ep.node], ep.interface).mtu,
            )
            add(ep.node, ep.interface, make, lower=(make.parent_ns, make.parent))
        elif isinstance(link, MacsecLink):
            ep, ns = link.endpoint, ns_of(link.endpoint.node)
            tx = link.tx
            make = MakeMacsec(
                ns=ns,
                name=ep.interface,
                lab=lab,
                parent=link.parent,
                port=link.port,
                cipher=link.cipher,
                encrypt=link.encrypt,
                tx_an=tx.an if tx else None,
                tx_pn=tx.pn if tx else 1,
                tx_key=tx.key.lower() if tx else None,
                tx_key_id=macsec_key_id(tx) if tx else None,
                mtu=_iface(nodes[ep.node], ep.interface).mtu,
            )
            add(ep.node, ep.interface, make, lower=(ns, link.parent))
            for rx in link.rx:
                peer_port = macsec_ports.get((rx.peer.node, rx.peer.interface), 1)
                op = SetMacsecRx(
                    ns=ns,
                    name=ep.interface,
                    peer_ns=ns_of(rx.peer.node),
                    peer=rx.peer.interface,
                    peer_port=peer_port,
                    an=rx.key.an,
                    pn=rx.key.pn,
                    key=rx.key.key.lower(),
                    key_id=macsec_key_id(rx.key),
                )
                want.macsec_rx.append(_Rx(op, peer_port))
        else:  # every kind of the schema's union is handled above (mypy checks it)
            assert_never(link)
    return want


def _phases(devices: dict[Key, _Device]) -> dict[Key, int]:
    """Return when each device is made: after its lower device and what it comes after."""
    phase: dict[Key, int] = {}

    def of(key: Key, seen: frozenset[Key]) -> int:
        if key in phase:
            return phase[key]
        dev = devices[key]
        deps = [d for d in (dev.lower, *dev.after) if d is not None and d in devices]
        value = dev.floor
        for dep in deps:
            if dep not in seen:  # a cycle is refused by validation; never loop here
                value = max(value, of(dep, seen | {key}) + 1)
        phase[key] = value
        return value

    for key in devices:
        of(key, frozenset({key}))
    return phase


def _pair(make: MakeVeth | MakeVxcan, dev: _Device) -> tuple[Key, Key]:
    """Return (this end, the other end) of a pair device."""
    ends = ((make.ns, make.name), (make.peer_ns, make.peer))
    return (ends[0], ends[1]) if (dev.ns, dev.name) == ends[0] else (ends[1], ends[0])


def _compatible(dev: _Device, have: LinkState, actual_ns: dict[str, NamespaceState]) -> bool:
    """Whether an existing interface already is the device we would make."""
    make = dev.make
    if isinstance(make, MakeVeth | MakeVxcan):
        if have.kind != ("veth" if isinstance(make, MakeVeth) else "vxcan"):
            return False
        _, (other_ns, other_name) = _pair(make, dev)
        other_state = actual_ns.get(other_ns)
        other = other_state.link(other_name) if other_state else None
        return (
            other is not None
            and other.kind == have.kind
            and other.peer_ifindex == have.ifindex
            and have.peer_ifindex == other.ifindex
        )
    if isinstance(make, MakeBridge):
        return (
            have.kind == "bridge"
            and have.get("stp") in (None, "1" if make.stp else "0")
            and have.get("vlan_filtering") in (None, "1" if make.vlan_filtering else "0")
        )
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
    if isinstance(make, MakeDummy | MakeVcan):
        return have.kind == ("dummy" if isinstance(make, MakeDummy) else "vcan")
    if isinstance(make, MakeVlan):
        ns_state = actual_ns.get(make.ns)
        parent = ns_state.link(make.parent) if ns_state else None
        return (
            have.kind == "vlan"
            and have.get("vlan_id") == str(make.vlan_id)
            and have.get("protocol") == make.protocol
            and parent is not None
            and have.peer_ifindex == parent.ifindex
        )
    if isinstance(make, MakeBond):
        return (
            have.kind == "bond"
            and have.get("mode") == make.mode
            and have.get("miimon") == str(make.miimon)
            and have.get("primary") == make.primary
        )
    if isinstance(make, MakeTeam):
        return have.kind == "team" and have.get("runner") == make.runner
    if isinstance(make, MakeIpvlan):
        return have.kind == ("ipvtap" if make.tap else "ipvlan") and have.get("mode") == make.mode
    if isinstance(make, MakeMacsec):
        tx = {v for k, v in have.info if k == "tx"}
        return (
            have.kind == "macsec"
            and have.get("port") == str(make.port)
            and have.get("cipher") == make.cipher
            and have.get("encrypt") == ("1" if make.encrypt else "0")
            and (
                make.tx_key_id is None
                or (have.get("tx_an") == str(make.tx_an) and f"{make.tx_an}:{make.tx_key_id}" in tx)
            )
        )
    return False


def _rx_item(peer: LinkState | None, rx: _Rx) -> str | None:
    """Return the discovery item a device shows once it accepts ``rx`` (None: peer unknown)."""
    if peer is None or not peer.mac:
        return None
    channel = peer.mac.replace(":", "").lower() + f"{rx.peer_port:04x}"
    return f"{channel}:{rx.op.an}:{rx.op.key_id}"


def _route_matches(want: RouteState, have: RouteState) -> bool:
    return (
        want.dst == have.dst
        and want.via == have.via
        and (want.dev is None or want.dev == have.dev)
        and (want.metric is None or want.metric == have.metric)
    )


def plan(
    desired: Topology,
    actual: LabState,
    host_facts: HostFacts,
    lab: str | None = None,
    stitched: frozenset[tuple[str, str]] = frozenset(),
    scope: EditScope | None = None,
) -> Plan:
    """Return the ops that turn ``actual`` into ``desired`` (only the difference).

    ``desired`` is a validated (and, if asked for, auto-addressed) topology;
    ``actual`` is ``state.discover(lab)``; ``lab`` defaults to ``actual.lab``;
    ``stitched`` names the ``(node, interface)`` of the vxlan links that stand for
    cut links of a split lab (made from the host's underlay namespace).
    ``scope`` (``edit_scope``): plan only the nodes an edit touches; ``actual``
    then needs only ``scope.read`` (``state.discover(lab, nodes=scope.read)``), and
    whatever else it holds is left alone.

    Raises:
        UnsupportedKindError: the topology needs a module the host lacks (nothing planned).
    """
    lab = lab or actual.lab
    check_supported(desired, host_facts)
    built = scope.wanted(desired, lab, host_facts, stitched) if scope is not None else None
    want = built if built is not None else _desired(desired, lab, host_facts, stitched)
    actual_ns = {ns.name: ns for ns in actual.namespaces if ns.lab == lab}
    wanted_keys = set(want.devices)  # a device not among them is deleted
    edited: set[str] | None = None  # the namespaces whose extra devices may go
    if scope is not None:
        read = {naming.namespace_name(lab, n) for n in scope.read}
        edited = {naming.namespace_name(lab, n) for n in scope.touched}
        want = _scoped(want, scope, lab)
        actual_ns = {name: ns for name, ns in actual_ns.items() if name in read}
    owner = naming.owner_alias(lab)
    phase = _phases(want.devices)

    deletes_ns: list[Op] = []
    deletes: list[Op] = []
    make_ns: list[Op] = []
    sysctls: list[Op] = []
    makes: dict[int, list[Op]] = {}
    fixes: list[Op] = []
    masters: list[Op] = []
    actives: list[Op] = []
    port_vlans: list[Op] = []
    ups: list[Op] = []
    peers: list[Op] = []
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

    def existing(key: Key) -> LinkState | None:
        have_ns = actual_ns.get(key[0])
        return have_ns.link(key[1]) if have_ns else None

    # Interfaces: keep what matches, replace what does not, delete what is not wanted.
    made: set[Op] = set()
    fresh: set[Key] = set()

    def renew(dkey: Key) -> None:
        dev = want.devices[dkey]
        fresh.add(dkey)
        if existing(dkey) is not None:
            deletes.append(DeleteLink(*dkey))
        if dev.make not in made:
            made.add(dev.make)
            makes.setdefault(phase[dkey], []).append(dev.make)

    for dkey, dev in want.devices.items():
        have = existing(dkey)
        if have is None or not _compatible(dev, have, actual_ns):
            renew(dkey)
    # A pair is made once for both ends, and a device goes with the one it lives on:
    # follow both until nothing more is renewed.
    changed = True
    while changed:
        changed = False
        for dkey, dev in want.devices.items():
            if dkey in fresh:
                continue
            pair = dev.make if isinstance(dev.make, MakeVeth | MakeVxcan) else None
            other = _pair(pair, dev)[1] if pair is not None else None
            if (other is not None and other in fresh) or (
                dev.lower is not None and dev.lower in fresh
            ):
                renew(dkey)
                changed = True
    for ns_name, have_ns in sorted(actual_ns.items()):
        if ns_name not in want.namespaces or (edited is not None and ns_name not in edited):
            continue
        for link in have_ns.links:
            if link.alias == owner and (ns_name, link.name) not in wanted_keys:
                deletes.append(DeleteLink(ns_name, link.name))

    for dkey, dev in want.devices.items():
        have = None if dkey in fresh else existing(dkey)
        master_renewed = dev.master is not None and (dev.ns, dev.master) in fresh
        if have is None:
            if dev.master is not None:
                masters.append(SetMaster(dev.ns, dev.name, dev.master))
            if dev.vlans is not None:
                port_vlans.append(SetPortVlans(dev.ns, dev.name, dev.vlans, dev.pvid))
            if dev.up:
                ups.append(SetUp(dev.ns, dev.name))
            if dev.shaping is not None and dev.shaping.shaping.text():
                rates.append(dev.shaping)
            addresses.extend(ReplaceAddress(dev.ns, dev.name, a) for a in dev.addresses)
            continue
        if dev.mtu is not None and have.mtu != dev.mtu:
            fixes.append(SetMtu(dev.ns, dev.name, dev.mtu))
        if dev.mac is not None and have.mac.lower() != dev.mac:
            fixes.append(SetMac(dev.ns, dev.name, dev.mac))
        if have.master != dev.master or master_renewed:
            masters.append(SetMaster(dev.ns, dev.name, dev.master))
        if dev.vlans is not None and (
            master_renewed
            or have.get("vlans") != ",".join(str(v) for v in dev.vlans)
            or have.get("pvid") != (str(dev.pvid) if dev.pvid is not None else None)
        ):
            port_vlans.append(SetPortVlans(dev.ns, dev.name, dev.vlans, dev.pvid))
        if have.up != dev.up:
            ups.append(SetUp(dev.ns, dev.name, dev.up))
        want_shaping = dev.shaping.shaping.text() if dev.shaping is not None else ""
        if dev.shaping is not None and (have.get("shaping") or "") != want_shaping:
            rates.append(dev.shaping)
        have_addrs = set(have.addresses)
        for a in sorted(have_addrs - set(dev.addresses)):
            if not _is_auto_address(a):
                deletes.append(DeleteAddress(dev.ns, dev.name, a))
        addresses.extend(
            ReplaceAddress(dev.ns, dev.name, a) for a in dev.addresses if a not in have_addrs
        )

    for tkey, team_op in want.teams.items():
        team = None if tkey in fresh else existing(tkey)
        ports = [None if (tkey[0], p) in fresh else existing((tkey[0], p)) for p in team_op.ports]
        if (
            team is None
            or team.get("active") != team_op.active
            or any(p is None or p.mac != team.mac for p in ports)
        ):
            actives.append(team_op)

    for rx in want.macsec_rx:
        me, peer_key = (rx.op.ns, rx.op.name), (rx.op.peer_ns, rx.op.peer)
        have = None if me in fresh else existing(me)
        item = None if peer_key in fresh else _rx_item(existing(peer_key), rx)
        if have is None or item is None or ("rx", item) not in have.info:
            peers.append(rx.op)

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
        *(op for p in sorted(makes) for op in makes[p]),
        *fixes,
        *masters,
        *actives,
        *port_vlans,
        *ups,
        *peers,
        *rates,
        *addresses,
        *routes,
    ]
    return Plan(lab=lab, ops=tuple(ops))


@dataclass(frozen=True)
class EditScope:
    """The nodes an edit changes, and the nodes discovery must read to plan them.

    ``touched``: nodes whose wanted namespace, devices, routes or forwarding differ
    between the running topology and the edited one (made, removed or changed).
    ``devices``: the changed devices, the other ends of their pairs (a veth is
    compared, and made again, by both ends) and what lives on or is a port of those.
    ``read``: ``touched`` plus the nodes of ``devices``.
    """

    touched: frozenset[str]
    read: frozenset[str]
    # (node, interface) of the devices to plan: the changed ones and their closure.
    devices: frozenset[tuple[str, str]] = frozenset()
    # What the edited topology wants, as edit_scope built it, so plan() need not build
    # it again (the one step whose cost grows with the lab): (topology, lab, facts,
    # stitched, wanted); used only for that very topology object.
    _want: tuple[Topology, str, HostFacts, frozenset[tuple[str, str]], _Desired] | None = field(
        default=None, compare=False, repr=False
    )

    def wanted(
        self, topology: Topology, lab: str, facts: HostFacts, stitched: frozenset[tuple[str, str]]
    ) -> _Desired | None:
        """The wanted state edit_scope built, if it was built from exactly these inputs."""
        if self._want is None:
            return None
        t, key, f, st, want = self._want
        return want if (t is topology and key == lab and f == facts and st == stitched) else None


def _per_namespace(want: _Desired) -> dict[str, list[object]]:
    """What the planner wants of each namespace itself (not its devices), comparable."""
    out: dict[str, list[object]] = {ns: [node.forwards] for ns, node in want.namespaces.items()}
    for ns, routes in want.routes.items():
        out.setdefault(ns, []).append(routes)
    for (ns, _name), team in want.teams.items():
        out.setdefault(ns, []).append(team)
    for rx in want.macsec_rx:
        out.setdefault(rx.op.ns, []).append(rx)
    return out


def _closure(want: _Desired, seeds: set[Key]) -> set[Key]:
    """``seeds``, the other ends of their pairs, and what lives on or is a port of those."""
    keys = {key for key in seeds if key in want.devices}
    changed = True
    while changed:
        changed = False
        for key, dev in want.devices.items():
            if key in keys:
                if isinstance(dev.make, MakeVeth | MakeVxcan):
                    other = _pair(dev.make, dev)[1]
                    if other in want.devices and other not in keys:
                        keys.add(other)
                        changed = True
            elif (
                (dev.lower is not None and dev.lower in keys)
                or (dev.master is not None and (dev.ns, dev.master) in keys)
                or any(a in keys for a in dev.after)
            ):
                keys.add(key)
                changed = True
    return keys


def _scoped(want: _Desired, scope: EditScope, lab: str) -> _Desired:
    """``want`` cut down to an edit: the changed devices and their closure."""
    keys = {(naming.namespace_name(lab, node), name) for node, name in scope.devices}
    read = {naming.namespace_name(lab, n) for n in scope.read}
    return _Desired(
        namespaces={ns: node for ns, node in want.namespaces.items() if ns in read},
        devices={key: dev for key, dev in want.devices.items() if key in keys},
        routes={ns: routes for ns, routes in want.routes.items() if ns in read},
        teams={key: team for key, team in want.teams.items() if key in keys},
        macsec_rx=[rx for rx in want.macsec_rx if (rx.op.ns, rx.op.name) in keys],
    )


def edit_scope(
    desired: Topology,
    previous: Topology,
    host_facts: HostFacts,
    lab: str,
    stitched: frozenset[tuple[str, str]] = frozenset(),
) -> EditScope:
    """Return what an edit from ``previous`` (running) to ``desired`` touches. Pure.

    Both topologies are the ones the engine builds (auto-addressed). Planning with
    the result (``plan(..., scope=...)`` on ``state.discover(lab, nodes=scope.read)``)
    costs the size of the change, not of the lab: what the edit leaves alone is
    trusted to be as the running topology had it (a full apply, or ``verify``
    without a scope, still reconciles everything).
    """
    new = _desired(desired, lab, host_facts, stitched)
    old = _desired(previous, lab, host_facts, stitched)
    changed = {key for key, dev in new.devices.items() if old.devices.get(key) != dev}
    removed = set(old.devices) - set(new.devices)
    before, after = _per_namespace(old), _per_namespace(new)
    touched = {ns for ns in before.keys() | after.keys() if before.get(ns) != after.get(ns)}
    touched |= {key[0] for key in changed | removed}
    devices = _closure(new, changed)
    read = touched | {key[0] for key in devices}
    # A MACsec peer's port is read from the peer's device.
    read |= {rx.op.peer_ns for rx in new.macsec_rx if (rx.op.ns, rx.op.name) in devices}
    prefix = naming.namespace_name(lab, "")

    def node(name: str) -> str:
        return name[len(prefix) :]

    return EditScope(
        touched=frozenset(node(n) for n in touched),
        read=frozenset(node(n) for n in read),
        devices=frozenset((node(ns), name) for ns, name in devices),
        _want=(desired, lab, host_facts, stitched, new),
    )


def _is_auto_address(address: str) -> bool:
    """Addresses the kernel adds by itself (loopback), which the planner leaves alone."""
    return ipaddress.ip_interface(address).ip.is_loopback
