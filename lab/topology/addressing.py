"""Automatic IPv4 addressing and static routes for a topology (pure).

``auto_address`` gives every Layer 2 segment that needs one a subnet from
``addressing.pool``: a /30 (or /31) for a point-to-point veth between two
nodes, a ``segment_prefix`` (a /24 by default) for a segment with a bridge or
more than two members. Interfaces that already have an IPv4 address keep it,
and subnets already in use are skipped. With ``addressing.routes`` on, every
router gets a static route to every subnet it is not attached to (shortest
path over routers, breadth first) and every host with a router on one of its
segments gets that router as its default gateway.

Only IPv4 is automatic; IPv6 addresses given by hand are kept as they are.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Interface, IPv4Network

from .schema import Node, Route, Topology, VethLink
from .validate import Port, bridge_port, iface_port, link_endpoints, segments


@dataclass
class _Segment:
    """One Layer 2 segment and its Layer 3 members (interfaces/bridges that can hold addresses)."""

    members: list[Port] = field(default_factory=list)
    bridged: bool = False  # a bridge is part of it (not a plain point-to-point wire)
    subnet: IPv4Network | None = None


class PoolExhausted(ValueError):
    """``addressing.pool`` has no free subnet left of the size needed."""


def _l3_ports(topology: Topology) -> list[tuple[Port, Node]]:
    """Return the interfaces and bridges that can hold addresses, in document order.

    An interface counts when a link creates it and it is not a bridge port; a
    bridge counts when it is on a host or router (a switch's bridge is Layer 2
    only). Switch interfaces count only when they already have addresses.
    """
    created = {(ep.node, ep.interface) for link in topology.links for _, ep in link_endpoints(link)}
    out: list[tuple[Port, Node]] = []
    for node in topology.nodes:
        for iface in node.interfaces:
            if (node.name, iface.name) not in created or node.bridge_of(iface) is not None:
                continue
            if node.kind == "switch" and not iface.addresses:
                continue
            out.append((iface_port(node.name, iface.name), node))
        if node.kind != "switch":
            for bridge in node.bridges:
                out.append((bridge_port(node.name, bridge.name), node))
    return out


def _addresses_of(node: Node, port: Port) -> tuple[IPv4Interface, ...]:
    if port[0] == "if":
        iface = node.interface(port[2])
        values = iface.addresses if iface else ()
    else:
        values = next((b.addresses for b in node.bridges if b.name == port[2]), ())
    return tuple(a for a in values if isinstance(a, IPv4Interface))


def _collect_segments(topology: Topology) -> tuple[list[_Segment], dict[str, Node]]:
    uf = segments(topology)
    nodes = {n.name: n for n in topology.nodes}
    by_root: dict[Port, _Segment] = {}
    order: list[_Segment] = []
    for port, _node in _l3_ports(topology):
        root = uf.find(port)
        seg = by_root.get(root)
        if seg is None:
            seg = by_root[root] = _Segment()
            order.append(seg)
        seg.members.append(port)
    for members in uf.groups().values():
        if any(p[0] == "br" for p in members):
            seg = by_root.get(uf.find(members[0]))
            if seg is not None:
                seg.bridged = True
    # A segment with a member that has an IPv4 address already uses that subnet.
    for seg in order:
        for port in seg.members:
            existing = _addresses_of(nodes[port[1]], port)
            if existing:
                seg.subnet = existing[0].network
                break
    return order, nodes


class _Allocator:
    """Hands out free, aligned subnets of a pool, skipping those in use.

    Used ranges are kept as sorted, disjoint integer intervals so each
    allocation costs a few binary searches, not a scan of every subnet: a
    500-node lab allocates its subnets in milliseconds.
    """

    def __init__(self, pool: IPv4Network, used: list[IPv4Network]) -> None:
        self.pool = pool
        self.starts: list[int] = []
        self.ends: list[int] = []
        self.cursor: dict[int, int] = {}
        for lo, hi in sorted((int(n.network_address), int(n.broadcast_address)) for n in used):
            if self.ends and lo <= self.ends[-1] + 1:
                self.ends[-1] = max(self.ends[-1], hi)
            else:
                self.starts.append(lo)
                self.ends.append(hi)

    def _blocker(self, lo: int, hi: int) -> int | None:
        """Return the end of the used range overlapping ``lo..hi`` that ends last, if any."""
        i = bisect_right(self.starts, hi) - 1
        return self.ends[i] if i >= 0 and self.ends[i] >= lo else None

    def allocate(self, prefix: int) -> IPv4Network | None:
        """Return the lowest free ``/prefix`` of the pool above earlier ones, or None."""
        if prefix < self.pool.prefixlen:
            return None
        size = 1 << (32 - prefix)
        cur = self.cursor.get(prefix, int(self.pool.network_address))
        last = int(self.pool.broadcast_address)
        while cur + size - 1 <= last:
            blocker = self._blocker(cur, cur + size - 1)
            if blocker is None:
                i = bisect_right(self.starts, cur)
                self.starts.insert(i, cur)
                self.ends.insert(i, cur + size - 1)
                self.cursor[prefix] = cur + size
                return IPv4Network((cur, prefix))
            cur = -(-(blocker + 1) // size) * size  # the next aligned block past it
        self.cursor[prefix] = cur
        return None


def _host_addresses(net: IPv4Network) -> Iterator[IPv4Address]:
    if net.prefixlen >= 31:
        yield from (net.network_address + i for i in range(net.num_addresses))
    else:
        yield from net.hosts()


def _with_addresses(
    topology: Topology,
    new: dict[Port, list[IPv4Interface]],
    routes: dict[str, list[Route]],
    gateways: dict[str, IPv4Address],
) -> Topology:
    nodes: list[Node] = []
    for node in topology.nodes:
        ifaces = tuple(
            iface.model_copy(
                update={
                    "addresses": iface.addresses
                    + tuple(new.get(iface_port(node.name, iface.name), ()))
                }
            )
            if new.get(iface_port(node.name, iface.name))
            else iface
            for iface in node.interfaces
        )
        bridges = tuple(
            b.model_copy(
                update={"addresses": b.addresses + tuple(new[bridge_port(node.name, b.name)])}
            )
            if new.get(bridge_port(node.name, b.name))
            else b
            for b in node.bridges
        )
        update: dict[str, object] = {"interfaces": ifaces, "bridges": bridges}
        if routes.get(node.name):
            update["routes"] = node.routes + tuple(routes[node.name])
        if node.name in gateways:
            update["gateway"] = gateways[node.name]
        nodes.append(node.model_copy(update=update))
    return topology.model_copy(update={"nodes": tuple(nodes)})


def _veth_pairs(topology: Topology) -> set[frozenset[tuple[str, str]]]:
    """The two ends (node, interface) of every veth link, as unordered pairs."""
    return {
        frozenset({(link.a.node, link.a.interface), (link.b.node, link.b.interface)})
        for link in topology.links
        if isinstance(link, VethLink)
    }


def _is_point_to_point(veths: set[frozenset[tuple[str, str]]], seg: _Segment) -> bool:
    if seg.bridged or len(seg.members) != 2:
        return False
    a, b = seg.members
    return frozenset({(a[1], a[2]), (b[1], b[2])}) in veths


def auto_address(topology: Topology) -> Topology:
    """Return a copy of ``topology`` with IPv4 addresses (and routes) filled in.

    Segments with fewer than two members that can hold addresses are left
    alone (nothing to talk to). Hand-written addresses, routes and gateways are
    kept; the result is a new frozen ``Topology``.

    Raises:
        PoolExhausted: when ``addressing.pool`` has no free subnet of the size needed.
    """
    cfg = topology.addressing
    segs, nodes = _collect_segments(topology)
    used: list[IPv4Network] = [
        a.network
        for node in topology.nodes
        for addrs in (*(i.addresses for i in node.interfaces), *(b.addresses for b in node.bridges))
        for a in addrs
        if isinstance(a, IPv4Interface)
    ]
    allocator = _Allocator(cfg.pool, used)
    veths = _veth_pairs(topology)
    new: dict[Port, list[IPv4Interface]] = {}
    for seg in segs:
        if len(seg.members) < 2:
            continue
        if seg.subnet is None:
            prefix = cfg.p2p_prefix if _is_point_to_point(veths, seg) else cfg.segment_prefix
            subnet = allocator.allocate(prefix)
            if subnet is None:
                raise PoolExhausted(
                    f"addressing.pool {cfg.pool} has no free /{prefix} left for the segment of "
                    + ", ".join(f"{p[1]}:{p[2]}" for p in seg.members)
                )
            seg.subnet = subnet
        taken = {
            a.ip for p in seg.members for a in _addresses_of(nodes[p[1]], p) if a.ip in seg.subnet
        }
        # Routers take the lowest addresses, so a /24's .1 is the gateway as people expect.
        waiting = [p for p in seg.members if not _addresses_of(nodes[p[1]], p)]
        waiting.sort(key=lambda p: 0 if nodes[p[1]].forwards else 1)
        free = (ip for ip in _host_addresses(seg.subnet) if ip not in taken)
        for port in waiting:
            ip = next(free, None)
            if ip is None:
                break  # a full hand-made subnet: leave the rest for the user
            new[port] = [IPv4Interface(f"{ip}/{seg.subnet.prefixlen}")]
    addressed = _with_addresses(topology, new, {}, {})
    if not cfg.routes:
        return addressed
    routes, gateways = _static_routes(addressed)
    return _with_addresses(addressed, {}, routes, gateways)


def _static_routes(topology: Topology) -> tuple[dict[str, list[Route]], dict[str, IPv4Address]]:
    """Compute per-prefix routes for routers and default gateways for hosts."""
    segs, nodes = _collect_segments(topology)
    # For each segment: its subnet and the (node, address) pairs on it.
    attached: list[tuple[IPv4Network, list[tuple[str, IPv4Address]]]] = []
    for seg in segs:
        on: list[tuple[str, IPv4Address]] = []
        nets: set[IPv4Network] = set()
        for port in seg.members:
            for addr in _addresses_of(nodes[port[1]], port):
                on.append((port[1], addr.ip))
                nets.add(addr.network)
        for net in sorted(nets):
            attached.append((net, [(n, ip) for n, ip in on if ip in net]))
    routers = [n.name for n in topology.nodes if n.forwards]
    # Subnets are numbered once: IPv4Network hashes slowly, and a large lab
    # asks "is this subnet connected?" hundreds of thousands of times.
    connected: dict[str, set[int]] = {n.name: set() for n in topology.nodes}
    for index, (_net, members) in enumerate(attached):
        for name, _ip in members:
            connected[name].add(index)
    # Router adjacency: (neighbour, its address on the shared subnet), in document order.
    adjacent: dict[str, list[tuple[str, IPv4Address]]] = {r: [] for r in routers}
    for _net, members in attached:
        for a, _ in members:
            if a not in adjacent:
                continue
            for b, ip in members:
                if b != a and b in adjacent and (b, ip) not in adjacent[a]:
                    adjacent[a].append((b, ip))
    routes: dict[str, list[Route]] = {}
    for router in routers:
        node = nodes[router]
        have = {str(r.dst) for r in node.routes}
        # Breadth first over routers: the first hop towards each router.
        first_hop: dict[str, IPv4Address | None] = {router: None}
        queue = deque([router])
        reach_order: list[str] = []
        while queue:
            cur = queue.popleft()
            reach_order.append(cur)
            for nxt, ip in adjacent[cur]:
                if nxt not in first_hop:
                    first_hop[nxt] = ip if cur == router else first_hop[cur]
                    queue.append(nxt)
        # Each subnet is reached through the nearest router attached to it.
        towards: dict[int, IPv4Address] = {}
        for other in reach_order[1:]:
            hop = first_hop[other]
            for index in connected[other]:
                if hop is not None and index not in towards:
                    towards[index] = hop
        mine: list[Route] = []
        for index, (net, _members) in enumerate(attached):
            if index in connected[router] or index not in towards:
                continue
            if have and str(net) in have:
                continue
            # Values computed here are valid by construction; skip re-validation.
            mine.append(Route.model_construct(dst=net, via=towards[index]))
        if mine:
            routes[router] = mine
    gateways: dict[str, IPv4Address] = {}
    for node in topology.nodes:
        if node.forwards or node.kind == "switch" or node.gateway is not None:
            continue
        if any(r.dst == "default" for r in node.routes):
            continue
        for _net, members in attached:
            if node.name not in (m[0] for m in members):
                continue
            gw = next((ip for n, ip in members if n in adjacent), None)
            if gw is not None:
                gateways[node.name] = gw
                break
    return routes, gateways


def effective_topology(topology: Topology) -> Topology:
    """Return the topology the engine should build: auto-addressed when ``addressing.auto``.

    Raises:
        PoolExhausted: when automatic addressing runs out of subnets.
    """
    return auto_address(topology) if topology.addressing.auto else topology


__all__ = ["PoolExhausted", "auto_address", "effective_topology"]
