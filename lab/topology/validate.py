"""Semantic validation of a topology: every problem at once, each with a path.

The schema (``schema.py``) has already checked shapes and types; this module
checks meaning: that links name nodes and interfaces that exist, that no
interface is used twice, that names fit the kernel, that addresses agree on
each Layer 2 segment, that gateways and next hops are reachable, that ranges
the kernel enforces are respected and that bridges do not loop without STP.

Nothing here stops at the first problem. Each check appends ``Issue`` values
whose ``path`` names the element to fix (``links[3].b``,
``nodes[2].interfaces[0].addresses[1]``) and whose message is a sentence
naming the object, because the error text is what the user reads.
"""

from __future__ import annotations

import posixpath
from collections import defaultdict, deque
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Interface, IPv6Address, IPv6Interface
from typing import Generic, TypeVar

from .errors import Issue
from .limits import Limits
from .naming import IFNAMSIZ, check_ifname, check_node_name
from .schema import (
    BOND_MODES_WITH_PRIMARY,
    FRR_DAEMONS,
    NODE_FILE_MAX_BYTES,
    NODE_FILES_TOTAL_MAX_BYTES,
    BondLink,
    Endpoint,
    Interface,
    IpvlanLink,
    IpvtapLink,
    Link,
    MacsecKey,
    MacsecLink,
    MacvlanLink,
    MacvtapLink,
    Node,
    TeamLink,
    Topology,
    TunLink,
    VethLink,
    VlanLink,
    VxcanLink,
    VxlanLink,
)

# Children that hang on a parent interface's wire (the kernel's macvlan/ipvlan ports).
ChildLink = MacvlanLink | MacvtapLink | IpvlanLink | IpvtapLink
Aggregate = BondLink | TeamLink

VNI_MAX = 16_777_215
DEFAULT_MTU = 1500
# Outer Ethernet(14) + IP + UDP(8) + VXLAN(8) headers; the kernel uses the same figures.
VXLAN_OVERHEAD_V4 = 50
VXLAN_OVERHEAD_V6 = 70

# Every code ``validate`` can return, with what it means. Clients branch on
# the code; the tests check this list is complete and exercised.
CODES: dict[str, str] = {
    "limit.too_many_nodes": "more nodes than this server allows",
    "limit.too_many_links": "more links than this server allows",
    "limit.too_many_interfaces": "a node has more interfaces than this server allows",
    "name.duplicate": "two nodes, interfaces, bridges or bond/team members share a name",
    "name.too_long": "a name is longer than the kernel allows (15 bytes for devices)",
    "name.invalid_chars": "a name holds characters the kernel or Topolab refuses",
    "name.empty": "a name is empty",
    "interface.unknown_bridge": "an interface names a bridge its node does not have",
    "interface.address_on_bridge_port": "a bridge port has addresses (they belong on the bridge)",
    "interface.in_two_links": "one interface is an end of two links",
    "mac.multicast": "a MAC address is a multicast address",
    "mac.duplicate": "two interfaces on one segment share a MAC address",
    "address.duplicate": "an address is used twice on one interface or one segment",
    "address.not_unicast": "an address is multicast or unspecified",
    "address.network_or_broadcast": "an address is its subnet's network or broadcast address",
    "address.subnet_mismatch": "addresses on one segment overlap with different prefix lengths",
    "endpoint.unknown_node": "a link names a node the topology does not have",
    "endpoint.unknown_interface": "a link names an interface its node does not declare",
    "link.parent_is_endpoint": "a child device names itself as its parent",
    "link.parent_not_created": "a parent or member interface is made by no link",
    "link.parent_is_bridge_port": "a macvlan/macvtap/ipvlan/ipvtap parent is enslaved to a bridge",
    "link.parent_conflict": "ipvlan and macvlan children share one parent",
    "link.rx_handler_busy": "an interface would be taken by two uppers (bridge, bond, team, "
    "macsec, macvlan or ipvlan): the kernel gives each device one",
    "link.parent_on_other_host": "a child and its parent are placed on different lab hosts",
    "macvlan.source_without_macs": "a source-mode macvlan lists no source MACs",
    "macvlan.passthru_shared": "a passthru child shares its parent with other children",
    "vxlan.vni_range": "a VNI is outside 1..16777215",
    "vxlan.port_range": "a VXLAN UDP port is outside 1..65535",
    "vxlan.remote_or_group": "a vxlan has both or neither of remote and group",
    "vxlan.remote_multicast": "a vxlan remote is a multicast address",
    "vxlan.group_not_multicast": "a vxlan group is not a multicast address",
    "vxlan.group_needs_underlay": "a multicast vxlan names no underlay interface",
    "vxlan.family_mismatch": "a vxlan mixes IPv4 and IPv6 underlay addresses",
    "vxlan.local_not_on_node": "a vxlan local address is not an address of its node",
    "vxlan.unknown_underlay": "a vxlan underlay is not an interface of its node",
    "vxlan.mtu": "a vxlan MTU does not leave room for the encapsulation on its underlay",
    "vxlan.vni_in_use": "a node has two vxlans with the same VNI, port and underlay",
    "vlan.id_range": "a VLAN id is outside 1..4094",
    "vlan.unknown_parent": "a vlan parent is not an interface of its node",
    "macsec.unknown_parent": "a macsec parent is not an interface of its node",
    "macsec.key_length": "a MACsec key's length does not fit the cipher",
    "macsec.unknown_peer": "a MACsec rx peer is not the endpoint of a macsec link",
    "bond.unknown_member": "a bond or team member is not an interface of its node",
    "bond.member_in_two_bonds": "an interface is a member of two bonds or teams",
    "bond.primary_not_member": "a bond or team primary is not one of its members",
    "bond.primary_in_mode": "a bond primary is set in a mode without one",
    "interface.vlans_without_filtering": "VLANs are set on a port of no VLAN-filtering bridge",
    "netem.needs_delay": "netem jitter or reordering is asked for without a delay",
    "tun.bridge_port": "a tun device (Layer 3) is made a bridge port",
    "gateway.unreachable": "a gateway is on none of the node's subnets",
    "gateway.is_own_address": "a gateway is the node's own address",
    "gateway.link_local_ambiguous": "a link-local gateway6 on a node with several interfaces",
    "route.unreachable_via": "a route's next hop is not on a connected subnet",
    "route.family_mismatch": "a route's next hop is of another address family",
    "route.unknown_dev": "a route names a device its node does not have",
    "route.no_next_hop": "a route has neither via nor dev",
    "route.link_local_needs_dev": "a route via a link-local address names no device",
    "route.duplicate": "two routes (or a route and the gateway) for one destination",
    "switch.loop_without_stp": "bridges joined in a loop where some bridge has STP off",
    "addressing.pool_exhausted": "automatic addressing needs more subnets than the pool holds",
    "file.bad_path": "a node file's path is not a clean absolute path",
    "file.not_allowed": "a node file lives where a node cannot have its own files",
    "file.duplicate": "a node has two files at one path",
    "file.too_large": "a node file, or a node's files together, are larger than allowed",
    "exec.empty_line": "a node's exec line names no program",
    "service.duplicate": "a node lists one service twice",
    "service.option": "a service sets an option its kind does not take",
    "service.frr_daemons_file": "an FRR daemons file a node carries cannot be read",
}

K = TypeVar("K", bound=Hashable)


class UnionFind(Generic[K]):
    """Disjoint sets over hashable keys (path halving, union by size)."""

    def __init__(self) -> None:
        self._parent: dict[K, K] = {}
        self._size: dict[K, int] = {}

    def add(self, key: K) -> None:
        """Make ``key`` a set of its own unless it is known already."""
        if key not in self._parent:
            self._parent[key] = key
            self._size[key] = 1

    def find(self, key: K) -> K:
        """Return the representative of the set holding ``key`` (adding it if new)."""
        self.add(key)
        while self._parent[key] != key:
            self._parent[key] = self._parent[self._parent[key]]
            key = self._parent[key]
        return key

    def union(self, a: K, b: K) -> bool:
        """Join the sets of ``a`` and ``b``; return False when they were one set already."""
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return False
        if self._size[ra] < self._size[rb]:
            ra, rb = rb, ra
        self._parent[rb] = ra
        self._size[ra] += self._size[rb]
        return True

    def groups(self) -> dict[K, list[K]]:
        """Return every set as representative -> members (in insertion order)."""
        out: dict[K, list[K]] = defaultdict(list)
        for key in self._parent:
            out[self.find(key)].append(key)
        return dict(out)


# A Layer 2 element of the lab: an interface or a bridge of a node.
Port = tuple[str, str, str]  # ("if" | "br", node, name)


def iface_port(node: str, name: str) -> Port:
    """Return the union-find key of interface ``name`` of ``node``."""
    return ("if", node, name)


def bridge_port(node: str, name: str) -> Port:
    """Return the union-find key of bridge ``name`` of ``node``."""
    return ("br", node, name)


def describe_port(port: Port) -> str:
    """Return ``interface eth0 of node h1`` or ``bridge br0 of node s1``."""
    what = "interface" if port[0] == "if" else "bridge"
    return f"{what} {port[2]} of node {port[1]}"


def link_endpoints(link: Link) -> list[tuple[str, Endpoint]]:
    """Return ``(field, endpoint)`` for every node interface ``link`` realizes."""
    if isinstance(link, VethLink | VxcanLink):
        return [("a", link.a), ("b", link.b)]
    return [("endpoint", link.endpoint)]


def segments(topology: Topology) -> UnionFind[Port]:
    """Group interfaces and bridges into Layer 2 segments.

    A segment is what one broadcast reaches: veth and vxcan pairs join their
    ends, a bridge joins its ports, VXLAN devices with the same VNI and port
    join each other, macvlan/macvtap/ipvlan/ipvtap children join their parent's
    wire and a bond or team joins its members. VLAN sub-interfaces (and the VLANs
    of a VLAN-filtering bridge, which are not told apart here) are a segment of
    their own.
    """
    uf: UnionFind[Port] = UnionFind()
    for node in topology.nodes:
        for bridge in node.all_bridges():
            uf.add(bridge_port(node.name, bridge.name))
        for iface in node.interfaces:
            uf.add(iface_port(node.name, iface.name))
            owner = node.bridge_of(iface)
            if owner is not None and any(b.name == owner for b in node.all_bridges()):
                uf.union(iface_port(node.name, iface.name), bridge_port(node.name, owner))
    for link in topology.links:
        if isinstance(link, VethLink | VxcanLink):
            uf.union(
                iface_port(link.a.node, link.a.interface), iface_port(link.b.node, link.b.interface)
            )
        elif isinstance(link, VxlanLink):
            uf.union(
                iface_port(link.endpoint.node, link.endpoint.interface),
                ("vxlan", str(link.dstport), str(link.vni)),
            )
        elif isinstance(link, ChildLink):
            uf.union(
                iface_port(link.endpoint.node, link.endpoint.interface),
                iface_port(link.parent.node, link.parent.interface),
            )
        elif isinstance(link, Aggregate):
            for member in link.members:
                uf.union(
                    iface_port(link.endpoint.node, link.endpoint.interface),
                    iface_port(link.endpoint.node, member),
                )
    return uf


@dataclass(frozen=True, slots=True)
class _Address:
    port: Port
    path: str
    value: IPv4Interface | IPv6Interface


class _Validator:
    """One validation run; ``issues`` collects everything found."""

    def __init__(self, topology: Topology, limits: Limits) -> None:
        self.t = topology
        self.limits = limits
        self.issues: list[Issue] = []
        self.nodes: dict[str, tuple[int, Node]] = {}
        self.ifaces: dict[tuple[str, str], tuple[str, Interface]] = {}
        # (node, interface) -> paths of the link fields that realize it
        self.used: dict[tuple[str, str], list[str]] = defaultdict(list)
        for i, node in enumerate(topology.nodes):
            self.nodes.setdefault(node.name, (i, node))
        for name, (i, node) in self.nodes.items():
            for j, iface in enumerate(node.interfaces):
                self.ifaces.setdefault((name, iface.name), (f"nodes[{i}].interfaces[{j}]", iface))

    def add(self, path: str, code: str, message: str, hint: str = "") -> None:
        self.issues.append(Issue(path, code, message, hint))

    # -- limits and names ---------------------------------------------------

    def check_limits(self) -> None:
        t, lim = self.t, self.limits
        if len(t.nodes) > lim.max_nodes:
            self.add(
                "nodes",
                "limit.too_many_nodes",
                f"{len(t.nodes)} nodes is more than the limit of {lim.max_nodes}",
                "split the lab or ask an admin to raise the limit",
            )
        if len(t.links) > lim.max_links:
            self.add(
                "links",
                "limit.too_many_links",
                f"{len(t.links)} links is more than the limit of {lim.max_links}",
                "split the lab or ask an admin to raise the limit",
            )
        for i, node in enumerate(t.nodes):
            if len(node.interfaces) > lim.max_interfaces_per_node:
                self.add(
                    f"nodes[{i}].interfaces",
                    "limit.too_many_interfaces",
                    f"node {node.name} has {len(node.interfaces)} interfaces, more than the "
                    f"limit of {lim.max_interfaces_per_node}",
                    "spread the interfaces over more nodes",
                )

    def check_names(self) -> None:
        first_node: dict[str, int] = {}
        for i, node in enumerate(self.t.nodes):
            for code, message in check_node_name(node.name):
                self.add(f"nodes[{i}].name", code, message, "rename the node, e.g. r1 or host-a")
            if node.name in first_node:
                self.add(
                    f"nodes[{i}].name",
                    "name.duplicate",
                    f"node name {node.name} is used by nodes[{first_node[node.name]}] "
                    f"and nodes[{i}]",
                    "give every node its own name",
                )
            else:
                first_node[node.name] = i
            netdevs: dict[str, str] = {}
            for j, iface in enumerate(node.interfaces):
                path = f"nodes[{i}].interfaces[{j}]"
                for code, _ in check_ifname(iface.name):
                    self.add(
                        f"{path}.name",
                        code,
                        _ifname_message(code, "interface", iface.name, node.name),
                        "use at most 15 ASCII letters, digits, '-', '_' or '.', e.g. eth0",
                    )
                if iface.name in netdevs:
                    self.add(
                        f"{path}.name",
                        "name.duplicate",
                        f"node {node.name} has two interfaces called {iface.name} "
                        f"({netdevs[iface.name]} and {path})",
                        "give every interface of a node its own name",
                    )
                else:
                    netdevs[iface.name] = path
            for k, bridge in enumerate(node.bridges):
                path = f"nodes[{i}].bridges[{k}]"
                for code, _ in check_ifname(bridge.name):
                    self.add(
                        f"{path}.name",
                        code,
                        _ifname_message(code, "bridge", bridge.name, node.name),
                        "use at most 15 ASCII letters, digits, '-', '_' or '.', e.g. br0",
                    )
                if bridge.name in netdevs:
                    self.add(
                        f"{path}.name",
                        "name.duplicate",
                        f"node {node.name} has a bridge called {bridge.name} and another "
                        f"device of that name ({netdevs[bridge.name]}); they share one "
                        "namespace of device names",
                        "rename the bridge or the other device",
                    )
                else:
                    netdevs[bridge.name] = path
            if node.kind == "switch" and not node.bridges and "br0" in netdevs:
                self.add(
                    f"{netdevs['br0']}.name",
                    "name.duplicate",
                    f"switch {node.name} makes its bridge br0 and also has an interface br0",
                    "rename the interface",
                )

    # -- interfaces ---------------------------------------------------------

    def check_interfaces(self) -> None:
        for i, node in enumerate(self.t.nodes):
            bridges = {b.name for b in node.all_bridges()}
            for j, iface in enumerate(node.interfaces):
                path = f"nodes[{i}].interfaces[{j}]"
                if iface.bridge is not None and iface.bridge not in bridges:
                    known = ", ".join(sorted(bridges)) or "none"
                    self.add(
                        f"{path}.bridge",
                        "interface.unknown_bridge",
                        f"interface {iface.name} of node {node.name} names bridge "
                        f"{iface.bridge}, which node {node.name} does not have "
                        f"(its bridges: {known})",
                        f'add {{"name": "{iface.bridge}"}} to nodes[{i}].bridges or fix the name',
                    )
                if iface.bridge is not None and iface.addresses:
                    self.add(
                        f"{path}.addresses",
                        "interface.address_on_bridge_port",
                        f"interface {iface.name} of node {node.name} is a port of bridge "
                        f"{iface.bridge} and also has addresses; a bridge port does not "
                        "answer for addresses, the bridge does",
                        f"move the addresses to the bridge {iface.bridge} "
                        "(bridges[].addresses) or drop the bridge",
                    )
                if iface.mac is not None and int(iface.mac.split(":")[0], 16) & 1:
                    self.add(
                        f"{path}.mac",
                        "mac.multicast",
                        f"MAC address {iface.mac} of interface {iface.name} of node "
                        f"{node.name} is a multicast address; the kernel refuses it",
                        "use a unicast, locally administered address such as 02:00:00:00:00:01",
                    )
                self._check_own_addresses(
                    path, f"interface {iface.name} of node {node.name}", iface.addresses
                )
                netem = iface.netem
                if (
                    netem is not None
                    and not netem.delay_ms
                    and (netem.jitter_ms or netem.reorder_pct)
                ):
                    what = "jitter" if netem.jitter_ms else "reordering"
                    self.add(
                        f"{path}.netem.delay_ms",
                        "netem.needs_delay",
                        f"interface {iface.name} of node {node.name} asks netem for {what} "
                        "without a delay; netem varies and reorders around a delay",
                        "set delay_ms (e.g. 10), or drop the jitter and reordering",
                    )
            for k, bridge in enumerate(node.bridges):
                self._check_own_addresses(
                    f"nodes[{i}].bridges[{k}]",
                    f"bridge {bridge.name} of node {node.name}",
                    bridge.addresses,
                )

    def _check_own_addresses(
        self, path: str, what: str, addresses: Iterable[IPv4Interface | IPv6Interface]
    ) -> None:
        seen: dict[IPv4Address | IPv6Address, int] = {}
        for k, addr in enumerate(addresses):
            apath = f"{path}.addresses[{k}]"
            net = addr.network
            if addr.ip in seen:
                self.add(
                    apath,
                    "address.duplicate",
                    f"address {addr.ip} is given twice to {what} "
                    f"(addresses[{seen[addr.ip]}] and addresses[{k}])",
                    "remove one of them",
                )
                continue
            seen[addr.ip] = k
            if addr.ip.is_multicast or addr.ip.is_unspecified:
                self.add(
                    apath,
                    "address.not_unicast",
                    f"address {addr} of {what} is not a unicast address",
                    "use a unicast address such as 10.0.0.1/24 or 2001:db8::1/64",
                )
                continue
            if isinstance(addr, IPv4Interface) and net.prefixlen <= 30:
                if addr.ip == net.network_address:
                    self.add(
                        apath,
                        "address.network_or_broadcast",
                        f"address {addr} of {what} is the network address of {net}",
                        f"use a host address between {net.network_address + 1} and "
                        f"{net.broadcast_address - 1}",
                    )
                elif addr.ip == net.broadcast_address:
                    self.add(
                        apath,
                        "address.network_or_broadcast",
                        f"address {addr} of {what} is the broadcast address of {net}",
                        f"use a host address between {net.network_address + 1} and "
                        f"{net.broadcast_address - 1}",
                    )
            elif (
                isinstance(addr, IPv6Interface)
                and net.prefixlen <= 126
                and addr.ip == net.network_address
            ):
                self.add(
                    apath,
                    "address.network_or_broadcast",
                    f"address {addr} of {what} is the subnet-router anycast address of {net}, "
                    "not a host address",
                    f"use a host address such as {net.network_address + 1}/{net.prefixlen}",
                )

    # -- links --------------------------------------------------------------

    def _resolve(self, path: str, ep: Endpoint) -> Interface | None:
        """Check that ``ep`` names a node and one of its interfaces; return the interface."""
        entry = self.nodes.get(ep.node)
        if entry is None:
            self.add(
                path,
                "endpoint.unknown_node",
                f"{path} names node {ep.node}, which the topology does not have",
                "add the node or fix the name; known nodes: "
                + (", ".join(sorted(self.nodes)) or "none"),
            )
            return None
        found = self.ifaces.get((ep.node, ep.interface))
        if found is None:
            i = entry[0]
            self.add(
                path,
                "endpoint.unknown_interface",
                f"{path} names interface {ep.interface} of node {ep.node}, which node "
                f"{ep.node} does not declare",
                f'add {{"name": "{ep.interface}"}} to nodes[{i}].interfaces or fix the name',
            )
            return None
        return found[1]

    def check_links(self) -> None:
        for li, link in enumerate(self.t.links):
            for fld, ep in link_endpoints(link):
                path = f"links[{li}].{fld}"
                if self._resolve(path, ep) is not None:
                    self.used[(ep.node, ep.interface)].append(path)
        for (node, ifname), paths in self.used.items():
            if len(paths) > 1:
                for later in paths[1:]:
                    self.add(
                        later,
                        "interface.in_two_links",
                        f"interface {ifname} of node {node} is used by {paths[0]} and {later}; "
                        "an interface is one end of one link",
                        f"declare another interface on node {node} for {later}",
                    )
        for li, link in enumerate(self.t.links):
            path = f"links[{li}]"
            if isinstance(link, VxlanLink):
                self._check_vxlan(path, link)
            elif isinstance(link, ChildLink):
                self._check_child(path, link)
            elif isinstance(link, VlanLink):
                self._check_vlan(path, link)
            elif isinstance(link, Aggregate):
                self._check_bond(li, link)
            elif isinstance(link, MacsecLink):
                self._check_on_node_parent(path, link.endpoint, link.parent, "macsec")
                self._check_macsec(path, link)
            elif isinstance(link, TunLink):
                iface = self.ifaces.get((link.endpoint.node, link.endpoint.interface))
                if iface is not None and iface[1].bridge is not None:
                    self.add(
                        f"{iface[0]}.bridge",
                        "tun.bridge_port",
                        f"tun device {link.endpoint.interface} of node {link.endpoint.node} "
                        f"carries IP packets, not Ethernet frames, so it cannot be a port "
                        f"of bridge {iface[1].bridge}",
                        "use a tap link for a device on a bridge, or remove the bridge",
                    )
        self._check_shared_parents()
        self._check_vxlan_vni_in_use()
        self._check_rx_handlers()

    def _realized(self, node: str, ifname: str) -> bool:
        return bool(self.used.get((node, ifname)))

    def _check_vxlan(self, path: str, link: VxlanLink) -> None:
        ep = link.endpoint
        if not 1 <= link.vni <= VNI_MAX:
            self.add(
                f"{path}.vni",
                "vxlan.vni_range",
                f"VNI {link.vni} of the vxlan on {ep} is outside 1..{VNI_MAX}",
                "pick a VNI between 1 and 16777215, e.g. 100",
            )
        if not 1 <= link.dstport <= 65535:
            self.add(
                f"{path}.dstport",
                "vxlan.port_range",
                f"UDP port {link.dstport} of the vxlan on {ep} is outside 1..65535",
                "use 4789, the IANA VXLAN port, unless you need another",
            )
        if (link.remote is None) == (link.group is None):
            both = link.remote is not None
            self.add(
                path,
                "vxlan.remote_or_group",
                f"the vxlan on {ep} has "
                + ("both a remote and a group" if both else "neither a remote nor a group")
                + "; it needs exactly one to know where to send frames",
                "set remote to the peer's underlay address for point-to-point, "
                "or group to a multicast address",
            )
        if link.remote is not None and link.remote.is_multicast:
            self.add(
                f"{path}.remote",
                "vxlan.remote_multicast",
                f"remote {link.remote} of the vxlan on {ep} is a multicast address",
                "put a multicast address in group, a unicast one in remote",
            )
        if link.group is not None and not link.group.is_multicast:
            self.add(
                f"{path}.group",
                "vxlan.group_not_multicast",
                f"group {link.group} of the vxlan on {ep} is not a multicast address",
                "use a multicast group such as 239.1.1.1, or set remote instead",
            )
        if link.group is not None and link.group.is_multicast and link.underlay is None:
            self.add(
                f"{path}.underlay",
                "vxlan.group_needs_underlay",
                f"the vxlan on {ep} uses multicast group {link.group} but names no underlay "
                "interface; the kernel needs one to join the group",
                "set underlay to the interface that carries the VXLAN traffic",
            )
        families = {a.version for a in (link.local, link.remote, link.group) if a is not None}
        if len(families) > 1:
            self.add(
                path,
                "vxlan.family_mismatch",
                f"the vxlan on {ep} mixes IPv4 and IPv6 in local, remote and group",
                "use one address family for the underlay",
            )
        node_entry = self.nodes.get(ep.node)
        if node_entry is None:
            return
        node = node_entry[1]
        if link.local is not None and link.local not in self._node_ips(node):
            self.add(
                f"{path}.local",
                "vxlan.local_not_on_node",
                f"local address {link.local} of the vxlan on {ep} is not an address of "
                f"node {ep.node}",
                f"use one of node {ep.node}'s underlay addresses",
            )
        underlay_mtu: int | None = None
        if link.underlay is not None:
            under = self.ifaces.get((ep.node, link.underlay))
            if under is None:
                self.add(
                    f"{path}.underlay",
                    "vxlan.unknown_underlay",
                    f"underlay {link.underlay} of the vxlan on {ep} is not an interface of "
                    f"node {ep.node}",
                    f"name an interface node {ep.node} declares, e.g. its uplink eth0",
                )
            elif link.underlay == ep.interface:
                self.add(
                    f"{path}.underlay",
                    "link.parent_is_endpoint",
                    f"the vxlan on {ep} names itself as its underlay",
                    "name the interface that carries the VXLAN traffic",
                )
            else:
                underlay_mtu = under[1].mtu or self._link_mtu(ep.node, link.underlay)
        own = self.ifaces.get((ep.node, ep.interface))
        if own is not None and own[1].mtu is not None and link.underlay is not None:
            base = underlay_mtu or DEFAULT_MTU
            overhead = VXLAN_OVERHEAD_V6 if 6 in families else VXLAN_OVERHEAD_V4
            if own[1].mtu > base - overhead:
                self.add(
                    f"{own[0]}.mtu",
                    "vxlan.mtu",
                    f"MTU {own[1].mtu} of vxlan {ep.interface} on node {ep.node} is larger "
                    f"than its underlay {link.underlay}'s MTU {base} minus the "
                    f"{overhead} bytes VXLAN adds; large frames would be dropped",
                    f"set the MTU to {base - overhead} or less, or raise the underlay's MTU",
                )

    def _link_mtu(self, node: str, ifname: str) -> int | None:
        for link in self.t.links:
            if isinstance(link, VethLink) and any(
                ep.node == node and ep.interface == ifname for ep in (link.a, link.b)
            ):
                return link.mtu
        return None

    def _check_child(self, path: str, link: ChildLink) -> None:
        if link.parent == link.endpoint:
            self.add(
                f"{path}.parent",
                "link.parent_is_endpoint",
                f"the {link.kind} on {link.endpoint} names itself as its parent",
                "the parent is another interface of the lab that carries the traffic",
            )
            return
        parent = self._resolve(f"{path}.parent", link.parent)
        if parent is None:
            return
        pnode = self.nodes[link.parent.node][1]
        enode = self.nodes.get(link.endpoint.node)
        if (
            enode is not None
            and enode[1].host is not None
            and pnode.host is not None
            and enode[1].host != pnode.host
        ):
            self.add(
                f"{path}.parent",
                "link.parent_on_other_host",
                f"the {link.kind} on {link.endpoint} (lab host {enode[1].host}) has its parent "
                f"{link.parent} on lab host {pnode.host}; a child device lives on its "
                "parent's machine",
                f"place nodes {link.endpoint.node} and {link.parent.node} on the same lab host",
            )
        if not self._realized(link.parent.node, link.parent.interface):
            self.add(
                f"{path}.parent",
                "link.parent_not_created",
                f"parent {link.parent} of the {link.kind} on {link.endpoint} is declared "
                "but no link creates it, so there is no device to attach to",
                f"connect {link.parent} with a link (e.g. a veth) first",
            )
        if pnode.bridge_of(parent) is not None:
            self.add(
                f"{path}.parent",
                "link.parent_is_bridge_port",
                f"parent {link.parent} of the {link.kind} on {link.endpoint} is a port of "
                f"bridge {pnode.bridge_of(parent)}; a bridge port cannot also carry "
                f"{link.kind} children",
                "use an interface that is not enslaved to a bridge as the parent",
            )
        if isinstance(link, MacvlanLink) and link.mode == "source" and not link.source_macs:
            self.add(
                f"{path}.source_macs",
                "macvlan.source_without_macs",
                f"the macvlan on {link.endpoint} is in source mode but lists no source MACs; "
                "it would receive nothing",
                "list the senders' MAC addresses in source_macs, or pick another mode",
            )

    def _check_shared_parents(self) -> None:
        children: dict[tuple[str, str], list[tuple[int, ChildLink]]]
        children = defaultdict(list)
        for li, link in enumerate(self.t.links):
            if isinstance(link, ChildLink):
                children[(link.parent.node, link.parent.interface)].append((li, link))
        for (node, ifname), kids in children.items():
            if len(kids) < 2:
                continue
            for li, link in kids:
                if isinstance(link, MacvlanLink | MacvtapLink) and link.mode == "passthru":
                    self.add(
                        f"links[{li}].mode",
                        "macvlan.passthru_shared",
                        f"the {link.kind} on {link.endpoint} is in passthru mode, which takes "
                        f"parent {node}:{ifname} alone, yet "
                        + (
                            "another child uses"
                            if len(kids) == 2
                            else f"{len(kids) - 1} other children use"
                        )
                        + " the same parent",
                        "give the passthru child its own parent, or use bridge mode",
                    )
            ipvlan = [li for li, link in kids if isinstance(link, IpvlanLink | IpvtapLink)]
            if ipvlan and len(ipvlan) != len(kids):
                self.add(
                    f"links[{ipvlan[0]}].parent",
                    "link.parent_conflict",
                    f"parent {node}:{ifname} carries both ipvlan/ipvtap and macvlan/macvtap "
                    "children; "
                    "the kernel allows only one kind per parent",
                    "use one kind of child per parent",
                )

    def _check_vxlan_vni_in_use(self) -> None:
        seen: dict[tuple[str, int, int, str | None], int] = {}
        for li, link in enumerate(self.t.links):
            if not isinstance(link, VxlanLink):
                continue
            key = (link.endpoint.node, link.vni, link.dstport, link.underlay)
            if key in seen:
                self.add(
                    f"links[{li}].vni",
                    "vxlan.vni_in_use",
                    f"node {link.endpoint.node} already has a vxlan with VNI {link.vni} on "
                    f"port {link.dstport} (links[{seen[key]}]); the kernel refuses a second",
                    "use another VNI or UDP port, or put both on one bridge via one device",
                )
            else:
                seen[key] = li

    def _check_on_node_parent(self, path: str, ep: Endpoint, parent: str, kind: str) -> None:
        if ep.node not in self.nodes:
            return
        if parent == ep.interface:
            self.add(
                f"{path}.parent",
                "link.parent_is_endpoint",
                f"the {kind} on {ep} names itself as its parent",
                f"name another interface of node {ep.node}",
            )
        elif (ep.node, parent) not in self.ifaces:
            self.add(
                f"{path}.parent",
                f"{kind}.unknown_parent",
                f"parent {parent} of the {kind} on {ep} is not an interface of node {ep.node}",
                f"name an interface node {ep.node} declares",
            )
        elif not self._realized(ep.node, parent):
            self.add(
                f"{path}.parent",
                "link.parent_not_created",
                f"parent {parent} of the {kind} on {ep} is declared but no link creates it",
                f"connect {ep.node}:{parent} with a link first",
            )

    def _check_vlan(self, path: str, link: VlanLink) -> None:
        if not 1 <= link.vlan_id <= 4094:
            self.add(
                f"{path}.vlan_id",
                "vlan.id_range",
                f"VLAN id {link.vlan_id} of {link.endpoint} is outside 1..4094",
                "pick a VLAN id between 1 and 4094",
            )
        self._check_on_node_parent(path, link.endpoint, link.parent, "vlan")

    def _check_bond(self, index: int, link: Aggregate) -> None:
        path = f"links[{index}]"
        ep = link.endpoint
        what = link.kind  # bond or team
        if ep.node not in self.nodes:
            return
        seen: set[str] = set()
        for k, member in enumerate(link.members):
            mpath = f"{path}.members[{k}]"
            if member == ep.interface:
                self.add(
                    mpath,
                    "link.parent_is_endpoint",
                    f"{what} {ep} lists itself as a member",
                    f"list the interfaces the {what} aggregates",
                )
            elif member in seen:
                self.add(
                    mpath,
                    "name.duplicate",
                    f"{what} {ep} lists member {member} twice",
                    "list each member once",
                )
            elif (ep.node, member) not in self.ifaces:
                self.add(
                    mpath,
                    "bond.unknown_member",
                    f"member {member} of {what} {ep} is not an interface of node {ep.node}",
                    f"name an interface node {ep.node} declares",
                )
            elif not self._realized(ep.node, member):
                self.add(
                    mpath,
                    "link.parent_not_created",
                    f"member {member} of {what} {ep} is declared but no link creates it",
                    f"connect {ep.node}:{member} with a link (e.g. a veth) first",
                )
            seen.add(member)
        if link.primary is not None and link.primary not in link.members:
            self.add(
                f"{path}.primary",
                "bond.primary_not_member",
                f"primary {link.primary} of {what} {ep} is not one of its members "
                f"({', '.join(link.members) or 'none'})",
                "name one of the members, or leave primary out",
            )
        elif (
            isinstance(link, BondLink)
            and link.primary is not None
            and link.mode not in BOND_MODES_WITH_PRIMARY
        ):
            self.add(
                f"{path}.primary",
                "bond.primary_in_mode",
                f"bond {ep} is in mode {link.mode}, which has no primary member; the kernel "
                f"takes a primary only in {', '.join(BOND_MODES_WITH_PRIMARY)}",
                "leave primary out, or use mode active-backup",
            )
        earlier: dict[str, int] = {}
        for li, other in enumerate(self.t.links[:index]):
            if isinstance(other, Aggregate) and other.endpoint.node == ep.node:
                for member in other.members:
                    earlier.setdefault(member, li)
        for k, member in enumerate(link.members):
            prior = earlier.get(member)
            if prior is not None:
                self.add(
                    f"{path}.members[{k}]",
                    "bond.member_in_two_bonds",
                    f"interface {member} of node {ep.node} is a member of {what} {ep} and of "
                    f"the {self.t.links[prior].kind} in links[{prior}]",
                    "an interface can be enslaved to one bond or team only",
                )

    def _check_macsec(self, path: str, link: MacsecLink) -> None:
        want = 32 if link.cipher == "gcm-aes-128" else 64
        keys: list[tuple[str, MacsecKey]] = []
        if link.tx is not None:
            keys.append((f"{path}.tx.key", link.tx))
        keys.extend((f"{path}.rx[{k}].key.key", rx.key) for k, rx in enumerate(link.rx))
        for kpath, key in keys:
            if len(key.key) != want:
                self.add(
                    kpath,
                    "macsec.key_length",
                    f"a key of the macsec on {link.endpoint} has {len(key.key)} hex digits; "
                    f"{link.cipher} takes {want} ({want // 2} bytes)",
                    f"give {want} hex digits, or pick the cipher that fits the key",
                )
        ends = {str(other.endpoint) for other in self.t.links if isinstance(other, MacsecLink)}
        for k, rx in enumerate(link.rx):
            if str(rx.peer) not in ends or rx.peer == link.endpoint:
                self.add(
                    f"{path}.rx[{k}].peer",
                    "macsec.unknown_peer",
                    f"rx peer {rx.peer} of the macsec on {link.endpoint} is not another macsec "
                    "device of the lab; its secure channel would be unknown",
                    "name the macsec interface at the other end of the wire",
                )

    def _check_rx_handlers(self) -> None:
        """One rx_handler upper per device: a second bridge, bond, macsec... gets EBUSY."""
        roles: dict[tuple[str, str], dict[str, str]] = defaultdict(dict)
        for i, node in enumerate(self.t.nodes):
            for j, iface in enumerate(node.interfaces):
                bridge = node.bridge_of(iface)
                if bridge is not None:
                    roles[(node.name, iface.name)]["bridge"] = f"nodes[{i}].interfaces[{j}]"
        for li, link in enumerate(self.t.links):
            if isinstance(link, Aggregate):
                for k, member in enumerate(link.members):
                    key = (link.endpoint.node, member)
                    roles[key].setdefault(link.kind, f"links[{li}].members[{k}]")
            elif isinstance(link, MacsecLink):
                key = (link.endpoint.node, link.parent)
                roles[key].setdefault("macsec", f"links[{li}].parent")
            elif isinstance(link, ChildLink):
                family = "ipvlan" if isinstance(link, IpvlanLink | IpvtapLink) else "macvlan"
                key = (link.parent.node, link.parent.interface)
                roles[key].setdefault(family, f"links[{li}].parent")
        # Pairs other checks already report (parent_is_bridge_port, parent_conflict).
        known = ({"bridge", "macvlan"}, {"bridge", "ipvlan"}, {"macvlan", "ipvlan"})
        for (node_name, ifname), taken in roles.items():
            first, *rest = taken
            for role in rest:
                if {first, role} in known:
                    continue
                self.add(
                    taken[role],
                    "link.rx_handler_busy",
                    f"interface {ifname} of node {node_name} would be both a {first} "
                    f"{'port' if first == 'bridge' else 'lower device'} and a {role} "
                    "lower device; the kernel lets one upper device take an interface",
                    f"give the {role} an interface of its own",
                )

    def check_port_vlans(self) -> None:
        """Port VLANs need a VLAN-filtering bridge; ids are 1..4094."""
        for i, node in enumerate(self.t.nodes):
            filtering = {b.name for b in node.all_bridges() if b.vlan_filtering}
            for j, iface in enumerate(node.interfaces):
                path = f"nodes[{i}].interfaces[{j}]"
                if not iface.vlans and iface.pvid is None:
                    continue
                for k, vid in enumerate(iface.vlans):
                    if not 1 <= vid <= 4094:
                        self.add(
                            f"{path}.vlans[{k}]",
                            "vlan.id_range",
                            f"VLAN id {vid} of interface {iface.name} of node {node.name} is "
                            "outside 1..4094",
                            "pick a VLAN id between 1 and 4094",
                        )
                if iface.pvid is not None and not 1 <= iface.pvid <= 4094:
                    self.add(
                        f"{path}.pvid",
                        "vlan.id_range",
                        f"PVID {iface.pvid} of interface {iface.name} of node {node.name} is "
                        "outside 1..4094",
                        "pick a VLAN id between 1 and 4094",
                    )
                bridge = node.bridge_of(iface)
                if bridge not in filtering:
                    self.add(
                        f"{path}.vlans" if iface.vlans else f"{path}.pvid",
                        "interface.vlans_without_filtering",
                        f"interface {iface.name} of node {node.name} lists VLANs, but "
                        + (
                            f"its bridge {bridge} does not filter VLANs"
                            if bridge is not None
                            else "it is no bridge port"
                        ),
                        "set vlan_filtering on the bridge, or use a vlan link for a tagged "
                        "sub-interface",
                    )

    # -- addresses, gateways, routes -----------------------------------------

    def _node_ips(self, node: Node) -> set[IPv4Address | IPv6Address]:
        return {a.ip for a in self._node_nets(node)}

    @staticmethod
    def _node_nets(node: Node) -> list[IPv4Interface | IPv6Interface]:
        nets: list[IPv4Interface | IPv6Interface] = []
        for iface in node.interfaces:
            nets.extend(iface.addresses)
        for bridge in node.bridges:
            nets.extend(bridge.addresses)
        return nets

    def check_segments(self) -> None:
        uf = segments(self.t)
        by_segment: dict[Port, list[_Address]] = defaultdict(list)
        macs: dict[Port, dict[str, str]] = defaultdict(dict)
        for name, (i, node) in self.nodes.items():
            for j, iface in enumerate(node.interfaces):
                port = iface_port(name, iface.name)
                root = uf.find(port)
                for k, addr in enumerate(iface.addresses):
                    path = f"nodes[{i}].interfaces[{j}].addresses[{k}]"
                    by_segment[root].append(_Address(port, path, addr))
                if iface.mac is not None:
                    mac = iface.mac.lower()
                    other = macs[root].get(mac)
                    if other is not None:
                        self.add(
                            f"nodes[{i}].interfaces[{j}].mac",
                            "mac.duplicate",
                            f"MAC address {iface.mac} of interface {iface.name} of node {name} "
                            f"is also used by {other} on the same segment",
                            "give each interface its own MAC address, or leave mac empty",
                        )
                    else:
                        macs[root][mac] = describe_port(port)
            for k, bridge in enumerate(node.bridges):
                port = bridge_port(name, bridge.name)
                root = uf.find(port)
                for m, addr in enumerate(bridge.addresses):
                    path = f"nodes[{i}].bridges[{k}].addresses[{m}]"
                    by_segment[root].append(_Address(port, path, addr))
        for addrs in by_segment.values():
            self._check_segment(addrs)

    def _check_segment(self, addrs: list[_Address]) -> None:
        first_by_ip: dict[IPv4Address | IPv6Address, _Address] = {}
        # How many addresses use each subnet: the odd one out is the one to blame.
        support: dict[str, int] = defaultdict(int)
        for entry in addrs:
            support[str(entry.value.network)] += 1
        for idx, entry in enumerate(addrs):
            ip = entry.value.ip
            prior = first_by_ip.get(ip)
            if prior is not None:
                if prior.port != entry.port:  # same port: reported by _check_own_addresses
                    self.add(
                        entry.path,
                        "address.duplicate",
                        f"address {ip} of {describe_port(entry.port)} is also used by "
                        f"{describe_port(prior.port)} on the same segment",
                        "give every interface on a segment its own address",
                    )
                continue
            first_by_ip[ip] = entry
            net = entry.value.network
            mine = support[str(net)]
            for odx, other in enumerate(addrs):
                onet = other.value.network
                if (
                    onet.version != net.version
                    or onet == net
                    or other.port == entry.port
                    or not onet.overlaps(net)  # type: ignore[arg-type]
                ):
                    continue
                theirs = support[str(onet)]
                if mine < theirs or (mine == theirs and idx > odx):
                    self.add(
                        entry.path,
                        "address.subnet_mismatch",
                        f"address {entry.value} of {describe_port(entry.port)} is on subnet "
                        f"{net}, but {describe_port(other.port)} on the same segment uses "
                        f"{other.value} (subnet {onet}); they disagree about the prefix length",
                        f"use the same prefix length on the whole segment, e.g. "
                        f"{entry.value.ip}/{onet.prefixlen}",
                    )
                    break

    def check_gateways_and_routes(self) -> None:
        for i, node in enumerate(self.t.nodes):
            nets = self._node_nets(node)
            own = {a.ip for a in nets}
            for fld, gw in (("gateway", node.gateway), ("gateway6", node.gateway6)):
                if gw is None:
                    continue
                path = f"nodes[{i}].{fld}"
                if isinstance(gw, IPv6Address) and gw.is_link_local:
                    # A link-local next hop needs a device, and a gateway names none.
                    if len(node.interfaces) != 1:
                        self.add(
                            path,
                            "gateway.link_local_ambiguous",
                            f"gateway6 {gw} of node {node.name} is link-local, which is only "
                            "meaningful with a device, and the node has "
                            f"{len(node.interfaces)} interfaces",
                            "use a routes entry with dst default6, via and dev instead",
                        )
                elif gw in own:
                    self.add(
                        path,
                        "gateway.is_own_address",
                        f"gateway {gw} of node {node.name} is the node's own address",
                        "the gateway is a router's address on the node's subnet",
                    )
                elif not self._on_link(gw, nets):
                    self.add(
                        path,
                        "gateway.unreachable",
                        f"gateway {gw} of node {node.name} is not on any subnet of its "
                        f"interfaces ({self._fmt_nets(nets, gw.version)})",
                        "use the address of a router on one of the node's subnets",
                    )
            seen_dst: dict[tuple[str, int | None], int] = {}
            for k, route in enumerate(node.routes):
                rpath = f"nodes[{i}].routes[{k}]"
                key = (str(route.dst), route.metric)
                if key in seen_dst:
                    self.add(
                        f"{rpath}.dst",
                        "route.duplicate",
                        f"node {node.name} has two routes to {route.dst} "
                        f"(routes[{seen_dst[key]}] and routes[{k}])",
                        "remove one, or give them different metrics",
                    )
                else:
                    seen_dst[key] = k
                if route.dst in ("default", "default6"):
                    family = 4 if route.dst == "default" else 6
                    gw_default = node.gateway if family == 4 else node.gateway6
                    if gw_default is not None:
                        self.add(
                            f"{rpath}.dst",
                            "route.duplicate",
                            f"node {node.name} has both a gateway and a {route.dst} route",
                            "keep one of them",
                        )
                else:
                    family = route.dst.version  # type: ignore[union-attr]
                if route.via is not None and route.via.version != family:
                    self.add(
                        f"{rpath}.via",
                        "route.family_mismatch",
                        f"route to {route.dst} on node {node.name} goes via {route.via}, an "
                        f"IPv{route.via.version} address, for an IPv{family} destination",
                        "use a next hop of the destination's address family",
                    )
                    continue
                dev_nets = nets
                if route.dev is not None:
                    iface = node.interface(route.dev)
                    bridge = next((b for b in node.all_bridges() if b.name == route.dev), None)
                    if iface is None and bridge is None:
                        self.add(
                            f"{rpath}.dev",
                            "route.unknown_dev",
                            f"route to {route.dst} on node {node.name} names device "
                            f"{route.dev}, which node {node.name} does not have",
                            "name one of the node's interfaces or bridges",
                        )
                        continue
                    dev_nets = list(iface.addresses if iface else bridge.addresses)  # type: ignore[union-attr]
                if route.via is None:
                    if route.dev is None:
                        self.add(
                            rpath,
                            "route.no_next_hop",
                            f"route to {route.dst} on node {node.name} has neither via nor dev",
                            "set via to a next hop on a connected subnet, or dev",
                        )
                elif (
                    isinstance(route.via, IPv6Address)
                    and route.via.is_link_local
                    and route.dev is None
                ):
                    self.add(
                        f"{rpath}.dev",
                        "route.link_local_needs_dev",
                        f"route to {route.dst} on node {node.name} goes via the link-local "
                        f"address {route.via} but names no device",
                        "set dev to the interface the next hop is on",
                    )
                elif route.via in own:
                    self.add(
                        f"{rpath}.via",
                        "route.unreachable_via",
                        f"route to {route.dst} on node {node.name} goes via {route.via}, the "
                        "node's own address",
                        "use the address of the next router",
                    )
                elif not self._on_link(route.via, dev_nets):
                    where = f"device {route.dev}" if route.dev else "its interfaces"
                    self.add(
                        f"{rpath}.via",
                        "route.unreachable_via",
                        f"route to {route.dst} on node {node.name} goes via {route.via}, which "
                        f"is not on any subnet of {where} "
                        f"({self._fmt_nets(dev_nets, route.via.version)})",
                        "use the address of a router on one of the node's subnets",
                    )

    @staticmethod
    def _on_link(
        addr: IPv4Address | IPv6Address, nets: list[IPv4Interface | IPv6Interface]
    ) -> bool:
        if isinstance(addr, IPv6Address) and addr.is_link_local:
            return True  # every IPv6 interface has a link-local address of its own
        return any(addr.version == n.version and addr in n.network for n in nets)

    @staticmethod
    def _fmt_nets(nets: list[IPv4Interface | IPv6Interface], version: int) -> str:
        shown = sorted({str(n.network) for n in nets if n.version == version})
        return ", ".join(shown) if shown else f"no IPv{version} subnets"

    # -- bridges --------------------------------------------------------------

    def check_switch_loops(self) -> None:
        """Find cycles among bridges joined by veth links where a bridge has STP off."""
        stp: dict[Port, bool] = {}
        for node in self.nodes.values():
            for bridge in node[1].all_bridges():
                stp[bridge_port(node[1].name, bridge.name)] = bridge.stp
        uf: UnionFind[Port] = UnionFind()
        forest: dict[Port, list[Port]] = defaultdict(list)
        reported: set[frozenset[Port]] = set()
        for li, link in enumerate(self.t.links):
            if not isinstance(link, VethLink):
                continue
            ends: list[Port] = []
            for ep in (link.a, link.b):
                entry = self.nodes.get(ep.node)
                iface = self.ifaces.get((ep.node, ep.interface))
                if entry is None or iface is None:
                    break
                owner = entry[1].bridge_of(iface[1])
                if owner is None or bridge_port(ep.node, owner) not in stp:
                    break
                ends.append(bridge_port(ep.node, owner))
            if len(ends) != 2:
                continue
            u, v = ends
            if uf.union(u, v):
                forest[u].append(v)
                forest[v].append(u)
                continue
            cycle = _tree_path(forest, u, v)
            off = [p for p in cycle if not stp[p]]
            if not off or frozenset(cycle) in reported:
                continue
            reported.add(frozenset(cycle))
            ring = " - ".join(f"{p[1]}:{p[2]}" for p in cycle)
            self.add(
                f"links[{li}]",
                "switch.loop_without_stp",
                f"links[{li}] closes a loop between bridges {ring}, and "
                + " and ".join(describe_port(p) for p in off)
                + (" has" if len(off) == 1 else " have")
                + " STP off; broadcasts would circle forever",
                "turn stp on for every bridge of the loop (stp: true), or remove this link",
            )

    def run(self) -> list[Issue]:
        self.check_limits()
        self.check_names()
        self.check_interfaces()
        self.check_port_vlans()
        self.check_links()
        self.check_segments()
        self.check_gateways_and_routes()
        self.check_switch_loops()
        self.check_node_software()
        if not self.issues:
            self.check_addressing()
        return self.issues

    def check_addressing(self) -> None:
        """With ``addressing.auto`` on, the pool must hold every subnet the lab needs."""
        cfg = self.t.addressing
        if not cfg.auto:
            return
        from .addressing import PoolExhausted, auto_address  # addressing imports this module

        # Only the subnets can run out; leave the routes (the costly part) out of the trial.
        trial = self.t.model_copy(update={"addressing": cfg.model_copy(update={"routes": False})})
        try:
            auto_address(trial)
        except PoolExhausted as exc:
            self.add(
                "addressing.pool",
                "addressing.pool_exhausted",
                str(exc),
                "use a larger pool (e.g. 10.0.0.0/16) or a smaller segment_prefix",
            )

    # -- files, exec lines and services ---------------------------------------------

    def check_node_software(self) -> None:
        """Node files where a node can have them, bounded; exec lines; the service catalog."""
        for i, node in enumerate(self.t.nodes):
            seen: dict[str, int] = {}
            total = 0
            for j, item in enumerate(node.files):
                path = f"nodes[{i}].files[{j}]"
                total += len(item.content.encode())
                problem = node_file_problem(item.path)
                if problem is not None:
                    hint = (
                        "put node files under "
                        + ", ".join(NODE_FILE_PLACES)
                        + " or in a package's directory of /etc (e.g. /etc/frr/frr.conf)"
                    )
                    code, message = problem
                    if code == "file.bad_path":
                        self.add(
                            f"{path}.path", "file.bad_path", f"node {node.name}: {message}", hint
                        )
                    else:
                        self.add(
                            f"{path}.path", "file.not_allowed", f"node {node.name}: {message}", hint
                        )
                if item.path in seen:
                    self.add(
                        f"{path}.path",
                        "file.duplicate",
                        f"node {node.name} has two files at {item.path} "
                        f"(files[{seen[item.path]}] and files[{j}])",
                        "keep one of them",
                    )
                seen.setdefault(item.path, j)
                if len(item.content.encode()) > NODE_FILE_MAX_BYTES:
                    self.add(
                        f"{path}.content",
                        "file.too_large",
                        f"file {item.path} of node {node.name} is "
                        f"{len(item.content.encode())} bytes; at most {NODE_FILE_MAX_BYTES}",
                        "keep node files to configuration; make large data in an exec line",
                    )
            if total > NODE_FILES_TOTAL_MAX_BYTES:
                self.add(
                    f"nodes[{i}].files",
                    "file.too_large",
                    f"the files of node {node.name} hold {total} bytes together; "
                    f"at most {NODE_FILES_TOTAL_MAX_BYTES}",
                    "keep node files to configuration",
                )
            for j, line in enumerate(node.exec):
                if not line or not line[0]:
                    self.add(
                        f"nodes[{i}].exec[{j}]",
                        "exec.empty_line",
                        f"exec line {j + 1} of node {node.name} names no program",
                        "write the command, e.g. ip route add 10.0.0.0/8 via 10.0.1.1",
                    )
            self._check_services(i, node)

    def _check_services(self, i: int, node: Node) -> None:
        kinds: dict[str, int] = {}
        for j, service in enumerate(node.services):
            path = f"nodes[{i}].services[{j}]"
            if service.kind in kinds:
                self.add(
                    path,
                    "service.duplicate",
                    f"node {node.name} lists service {service.kind} twice "
                    f"(services[{kinds[service.kind]}] and services[{j}])",
                    "keep one of them",
                )
            kinds.setdefault(service.kind, j)
            takes = SERVICE_OPTIONS[service.kind]
            for option in ("port", "args", "daemons", "root"):
                if getattr(service, option) not in (None, ()) and option not in takes:
                    self.add(
                        f"{path}.{option}",
                        "service.option",
                        f"service {service.kind} of node {node.name} takes no {option}",
                        f"{service.kind} takes: {', '.join(takes) or 'no options'}",
                    )
            if service.root is not None and node_file_problem(service.root + "/x") is not None:
                self.add(
                    f"{path}.root",
                    "service.option",
                    f"service {service.kind} of node {node.name} cannot serve {service.root}",
                    "serve a directory under " + ", ".join(NODE_FILE_PLACES),
                )
            if service.kind == "frr" and kinds[service.kind] == j:
                daemons = node.file(FRR_DAEMONS_FILE)
                if daemons is not None:
                    try:
                        parse_frr_daemons(daemons.content)
                    except ValueError as exc:
                        j_file = node.files.index(daemons)
                        self.add(
                            f"nodes[{i}].files[{j_file}].content",
                            "service.frr_daemons_file",
                            f"the FRR daemons file of node {node.name}: {exc}",
                            "write lines such as ospfd=yes (FRR's daemons file syntax)",
                        )


# Where a node has places of its own: its tmpfs directories and home.
NODE_FILE_PLACES = ("/tmp", "/var/tmp", "/dev/shm", "/run", "/root")  # noqa: S108
# Inside the node, but the sandbox's own.
_NODE_FILE_RESERVED = ("/run/topolab-apps",)
# What each service kind takes besides ``kind``.
SERVICE_OPTIONS: dict[str, tuple[str, ...]] = {
    "frr": ("daemons",),
    "dnsmasq": ("args",),
    "iperf3": ("port", "args"),
    "http": ("port", "root"),
}
FRR_DAEMONS_FILE = "/etc/frr/daemons"


def node_file_problem(path: str) -> tuple[str, str] | None:
    """Return ``(code, message)`` when a node cannot have a file at ``path``, else None.

    A node file lives under one of the node's own places (``NODE_FILE_PLACES``) or in a
    directory of ``/etc`` below the top level (``/etc/frr/frr.conf``: the sandbox gives
    the node its own copy of ``/etc/frr``); never in ``/etc`` itself, ``/usr``, ``/proc``...
    """
    clean = posixpath.normpath(path) if path.startswith("/") else ""
    if clean != path or path.startswith("//") or any(ord(c) < 32 or c in ":\\\x7f" for c in path):
        return (
            "file.bad_path",
            f"{path!r} is not a clean absolute path (no .., //, : or trailing /)",
        )
    if _under_any(path, _NODE_FILE_RESERVED):
        return "file.not_allowed", f"{path} belongs to the sandbox"
    if any(path.startswith(place + "/") for place in NODE_FILE_PLACES):
        return None
    if path.startswith("/etc/") and path.count("/") >= 3:
        return None
    return "file.not_allowed", f"a node cannot have its own file at {path}"


def _under_any(path: str, roots: Iterable[str]) -> bool:
    return any(path == r or path.startswith(r + "/") for r in roots)


def parse_frr_daemons(text: str) -> dict[str, bool]:
    """Return ``{daemon: enabled}`` from the text of FRR's ``daemons`` file. Pure.

    The file is shell assignments (``ospfd=yes``, ``vtysh_enable=yes``,
    ``ospfd_options="-A 127.0.0.1"``); only the ``<daemon>=yes|no`` lines of known
    daemons matter here, the others are kept for FRR's own scripts.

    Raises:
        ValueError: a daemon's line holds something other than yes or no.
    """
    import shlex

    found: dict[str, bool] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        if not sep or name.strip() not in FRR_DAEMONS:
            continue
        try:
            words = shlex.split(value, comments=True)
        except ValueError as exc:
            raise ValueError(f"line {number}: {exc}") from None
        word = words[0] if len(words) == 1 else ""
        if word not in ("yes", "no"):
            raise ValueError(f"line {number}: {name.strip()} must be yes or no, not {value!r}")
        found[name.strip()] = word == "yes"
    return found


def _ifname_message(code: str, what: str, name: str, node: str) -> str:
    """Say why the kernel would refuse device ``name`` of ``node``."""
    if code == "name.too_long":
        size = len(name.encode())
        return (
            f"{what} name {name!r} of node {node} is {size} bytes long; "
            f"the kernel allows at most {IFNAMSIZ}"
        )
    if code == "name.invalid_chars":
        return (
            f"{what} name {name!r} of node {node} has characters the kernel refuses "
            "('/', ':', white space, non-ASCII, or the names '.' and '..')"
        )
    return f"{what} name of node {node} is empty"


def _tree_path(forest: dict[Port, list[Port]], start: Port, goal: Port) -> list[Port]:
    """Return the path from ``start`` to ``goal`` in a forest (both in one tree)."""
    prev: dict[Port, Port | None] = {start: None}
    queue = deque([start])
    while queue:
        cur = queue.popleft()
        if cur == goal:
            break
        for nxt in forest[cur]:
            if nxt not in prev:
                prev[nxt] = cur
                queue.append(nxt)
    path: list[Port] = []
    walk: Port | None = goal
    while walk is not None:
        path.append(walk)
        walk = prev.get(walk)
    return path[::-1]


def validate(topology: Topology, limits: Limits | None = None) -> list[Issue]:
    """Return every semantic problem of ``topology`` (empty when it is valid).

    Each ``Issue`` has a document path (``links[3].b``), a stable code
    (``endpoint.unknown_node``), a sentence naming the object and a hint.
    Nothing is raised: an invalid document gives a list, not an exception.
    """
    return _Validator(topology, limits or Limits()).run()


__all__ = ["CODES", "UnionFind", "describe_port", "link_endpoints", "segments", "validate"]
