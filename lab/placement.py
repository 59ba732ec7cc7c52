"""Where a lab runs: placement on lab hosts, partition across them, and VXLAN stitches.

Pure: takes a validated ``Topology`` and the lab hosts as values, returns data.
No Django, no kernel. The worker's tasks call it with ``LabHost`` rows turned
into ``HostInfo`` values and store the result on the deployment.

A lab goes to one host with room and the link kinds it needs. A lab larger than
any host, or one whose nodes carry ``host`` hints, is split: nodes that must stay
together (a switch segment, a macvlan child and its parent, ...) form groups, the
groups are placed greedily next to their neighbours, then single moves that cut
fewer links are applied until none helps. Every cut veth link becomes a
*stitch*: on each side, a vxlan device made in the host's underlay namespace,
moved into the node's namespace and renamed to the interface's name.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv6Address, ip_address

from lab.topology.schema import (
    KERNEL_MODULES,
    Endpoint,
    Interface,
    Node,
    Topology,
    VethLink,
    VxlanLink,
)
from lab.wire import VXLAN_OVERHEAD, Stitch, TopolabError

DEFAULT_MTU = 1500
# Stitch VNIs live in their own range so they never look like a user's VNI.
STITCH_VNI_MIN = 1 << 20
STITCH_VNI_MAX = (1 << 24) - 1
STITCH_DSTPORT = 4789
# Refinement passes are cheap (a pass is O(links)); the bound only stops oscillation.
_MAX_REFINE_PASSES = 20


class PlacementError(TopolabError):
    """A lab cannot be placed; ``code`` is stable, the message names the cause."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message, code)


@dataclass(frozen=True)
class HostInfo:
    """What placement needs to know about a lab host (from its ``LabHost`` record)."""

    name: str
    underlay: str
    capacity: int
    load: int = 0
    kinds: frozenset[str] = frozenset()

    @property
    def free(self) -> int:
        """Nodes this host can still take."""
        return max(0, self.capacity - self.load)


@dataclass(frozen=True)
class CutLink:
    """A veth link whose two ends landed on different hosts."""

    index: int
    a: Endpoint
    b: Endpoint
    host_a: str
    host_b: str

    @property
    def pair(self) -> tuple[str, str]:
        """The two hosts, in a stable order."""
        return (min(self.host_a, self.host_b), max(self.host_a, self.host_b))


@dataclass(frozen=True)
class Placement:
    """The host of every node, and the links that cross hosts."""

    nodes: Mapping[str, str]
    cut: tuple[CutLink, ...] = ()

    @property
    def hosts(self) -> tuple[str, ...]:
        """The hosts used, most nodes first (the first is the coordinator)."""
        count: dict[str, int] = defaultdict(int)
        for host in self.nodes.values():
            count[host] += 1
        return tuple(sorted(count, key=lambda h: (-count[h], h)))

    @property
    def primary(self) -> str:
        """The host that coordinates the deployment (it holds most nodes)."""
        return self.hosts[0]

    @property
    def is_split(self) -> bool:
        """Whether more than one host is used."""
        return len(self.hosts) > 1

    def to_json(self) -> dict[str, object]:
        """Return a JSON-safe form to store on a deployment."""
        return {
            "nodes": dict(self.nodes),
            "cut": [
                {
                    "index": c.index,
                    "a": str(c.a),
                    "b": str(c.b),
                    "host_a": c.host_a,
                    "host_b": c.host_b,
                }
                for c in self.cut
            ],
        }


@dataclass
class _Group:
    """Nodes that must share a host."""

    nodes: list[str] = field(default_factory=list)
    kinds: set[str] = field(default_factory=set)
    pinned: str | None = None


def _can_run(host: HostInfo, kinds: Iterable[str]) -> bool:
    # A host that reports no kinds has not published facts yet: trust nothing.
    return set(kinds) <= set(host.kinds)


def _missing(host: HostInfo, kinds: Iterable[str]) -> list[str]:
    """The kinds ``host`` lacks, each with the kernel module it needs."""
    return [
        f"{kind} (kernel module {KERNEL_MODULES[kind]})" if kind in KERNEL_MODULES else kind
        for kind in sorted(set(kinds) - set(host.kinds))
    ]


def _groups(topology: Topology) -> tuple[list[_Group], dict[str, int], list[tuple[int, str, str]]]:
    """Contract the nodes that must stay together; return groups and the cuttable edges.

    Returns (groups, group index of each node, cuttable veth links as (index, node, node)).
    """
    parent: dict[str, str] = {n.name: n.name for n in topology.nodes}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(x: str, y: str) -> None:
        rx, ry = find(x), find(y)
        if rx != ry:
            parent[ry] = rx

    nodes = {n.name: n for n in topology.nodes}
    cuttable: list[tuple[int, str, str]] = []
    for index, link in enumerate(topology.links):
        ends = [e.node for e in link.endpoints()]
        parent_ep = getattr(link, "parent", None)
        if isinstance(parent_ep, Endpoint):
            ends.append(parent_ep.node)
        ends = [e for e in ends if e in nodes]
        if isinstance(link, VethLink) and len(ends) == 2 and ends[0] != ends[1]:
            a, b = nodes[ends[0]], nodes[ends[1]]
            # A switch segment (bridges joined by veths) stays on one host: an L2
            # domain split over VXLAN would carry its floods and STP across hosts.
            if a.kind == "switch" and b.kind == "switch":
                union(a.name, b.name)
            else:
                cuttable.append((index, a.name, b.name))
            continue
        for other in ends[1:]:
            union(ends[0], other)

    roots: dict[str, int] = {}
    groups: list[_Group] = []
    where: dict[str, int] = {}
    for node in topology.nodes:
        root = find(node.name)
        if root not in roots:
            roots[root] = len(groups)
            groups.append(_Group())
        gi = roots[root]
        group = groups[gi]
        group.nodes.append(node.name)
        where[node.name] = gi
        if node.all_bridges():
            group.kinds.add("bridge")
        if node.host is not None:
            if group.pinned is not None and group.pinned != node.host:
                raise PlacementError(
                    "placement.conflicting_hints",
                    f"node {node.name!r} asks for host {node.host!r} but must share a host "
                    f"with nodes that ask for {group.pinned!r}",
                )
            group.pinned = node.host
    for link in topology.links:
        for ep in link.endpoints():
            if ep.node in where:
                groups[where[ep.node]].kinds.add(link.kind)
    return groups, where, cuttable


def place(topology: Topology, hosts: Sequence[HostInfo]) -> Placement:
    """Choose the host of every node of ``topology``.

    The lab goes whole to the up host with the most free room among those that
    have room and every link kind it needs, unless it has ``host`` hints or fits
    on no single host: then it is partitioned (see the module docstring).

    Raises:
        PlacementError: no host is up, a hinted host is unknown, a host lacks a
            kind the nodes it must take need, or there is not enough room in total.
    """
    if not hosts:
        raise PlacementError("placement.no_hosts", "no lab host is up")
    by_name = {h.name: h for h in hosts}
    size = len(topology.nodes)
    kinds = topology.link_kinds()
    hinted = any(n.host is not None for n in topology.nodes)
    for node in topology.nodes:
        if node.host is not None and node.host not in by_name:
            raise PlacementError(
                "placement.unknown_host",
                f"node {node.name!r} asks for host {node.host!r}, which is not an up lab host "
                f"(up: {', '.join(sorted(by_name))})",
            )
    if not hinted:
        fitting = [h for h in hosts if h.free >= size and _can_run(h, kinds)]
        if fitting:
            best = max(fitting, key=lambda h: (h.free, h.name))
            return Placement({n.name: best.name for n in topology.nodes})
        if not any(_can_run(h, kinds) for h in hosts):
            lacking = {h.name: _missing(h, kinds) for h in hosts}
            raise PlacementError(
                "placement.kinds",
                "no lab host supports every link kind this lab uses: "
                + "; ".join(f"{name} lacks {', '.join(m)}" for name, m in sorted(lacking.items())),
            )
    return partition(topology, hosts)


def partition(topology: Topology, hosts: Sequence[HostInfo]) -> Placement:
    """Split ``topology`` across ``hosts``, keeping groups whole and cutting few links.

    Raises:
        PlacementError: as for ``place``.
    """
    groups, where, cuttable = _groups(topology)
    by_name = {h.name: h for h in hosts}
    # A split needs stitches: every host taking part needs vxlan besides its group's kinds.
    free = {h.name: h.free for h in hosts}
    assign: dict[int, str] = {}

    # Adjacency between groups, weighted by the number of cuttable links.
    adj: dict[int, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for _, x, y in cuttable:
        gx, gy = where[x], where[y]
        if gx != gy:
            adj[gx][gy] += 1
            adj[gy][gx] += 1

    def eligible(gi: int, host: HostInfo) -> bool:
        need = set(groups[gi].kinds)
        if adj[gi]:
            need.add("vxlan")
        return _can_run(host, need) and free[host.name] >= len(groups[gi].nodes)

    for gi, group in enumerate(groups):
        if group.pinned is None:
            continue
        host = by_name[group.pinned]
        if not eligible(gi, host):
            need = set(group.kinds) | ({"vxlan"} if adj[gi] else set())
            missing = _missing(host, need)
            if missing:
                raise PlacementError(
                    "placement.kinds",
                    f"host {host.name!r} (asked for by {group.nodes[0]!r}) lacks "
                    f"{', '.join(missing)}",
                )
            raise PlacementError(
                "placement.capacity",
                f"host {host.name!r} has room for {free[host.name]} more nodes; "
                f"{', '.join(group.nodes)} need {len(group.nodes)}",
            )
        assign[gi] = host.name
        free[host.name] -= len(group.nodes)

    # Greedy: the largest unplaced group nearest to what is placed goes where most of
    # its neighbours are (ties: the host with most room), which keeps chains together.
    unplaced = {gi for gi in range(len(groups)) if gi not in assign}
    while unplaced:

        def pull(gi: int) -> tuple[int, int, int]:
            placed_weight = sum(w for g, w in adj[gi].items() if g in assign)
            return (placed_weight, len(groups[gi].nodes), -gi)

        gi = max(unplaced, key=pull)
        candidates = [h for h in hosts if eligible(gi, h)]
        if not candidates:
            group = groups[gi]
            raise PlacementError(
                "placement.capacity",
                f"no lab host has room and the link kinds for {len(group.nodes)} node(s) "
                f"({', '.join(group.nodes[:5])}{'...' if len(group.nodes) > 5 else ''}); "
                f"free room: {', '.join(f'{n}={f}' for n, f in sorted(free.items()))}",
            )

        def score(h: HostInfo, gi: int = gi) -> tuple[int, int, str]:
            weight = sum(w for g, w in adj[gi].items() if assign.get(g) == h.name)
            return (weight, free[h.name], h.name)

        best = max(candidates, key=score)
        assign[gi] = best.name
        free[best.name] -= len(groups[gi].nodes)
        unplaced.discard(gi)

    _refine(groups, adj, assign, free, hosts, eligible)
    node_host = {n: assign[where[n]] for n in where}
    cut = tuple(
        CutLink(index, link.a, link.b, node_host[link.a.node], node_host[link.b.node])
        for index, link in enumerate(topology.links)
        if isinstance(link, VethLink) and node_host[link.a.node] != node_host[link.b.node]
    )
    # Keep the document's node order; it is what users read.
    return Placement({n.name: node_host[n.name] for n in topology.nodes}, cut)


def _refine(
    groups: list[_Group],
    adj: Mapping[int, Mapping[int, int]],
    assign: dict[int, str],
    free: dict[str, int],
    hosts: Sequence[HostInfo],
    check: Callable[[int, HostInfo], bool],
) -> None:
    """Move single unpinned groups while a move lowers the number of cut links."""
    for _ in range(_MAX_REFINE_PASSES):
        improved = False
        for gi, group in enumerate(groups):
            if group.pinned is not None or not adj.get(gi):
                continue
            here = assign[gi]
            weight_to: dict[str, int] = defaultdict(int)
            for g, w in adj[gi].items():
                weight_to[assign[g]] += w
            best_host, best_gain = here, 0
            for host in hosts:
                if host.name == here:
                    continue
                gain = weight_to[host.name] - weight_to[here]
                if gain > best_gain and check(gi, host):
                    best_host, best_gain = host.name, gain
            if best_host != here:
                free[here] += len(group.nodes)
                free[best_host] -= len(group.nodes)
                assign[gi] = best_host
                improved = True
        if not improved:
            return


def stitch_mtu(interface: Interface | None, underlay_mtu: int = DEFAULT_MTU) -> int:
    """Return the MTU of a stitched interface: the underlay's less the VXLAN overhead."""
    wanted = interface.mtu if interface is not None and interface.mtu is not None else None
    ceiling = underlay_mtu - VXLAN_OVERHEAD
    return min(wanted, ceiling) if wanted is not None else ceiling


def _addr(value: str) -> IPv4Address | IPv6Address:
    return ip_address(value)


def part_topology(
    topology: Topology,
    placement: Placement,
    host: str,
    underlay: Mapping[str, str],
    vnis: Mapping[int, int],
) -> tuple[Topology, tuple[Stitch, ...]]:
    """Return the part of ``topology`` that ``host`` builds, with its stitches.

    Nodes on other hosts and links among them are dropped; a cut veth link
    becomes, on this host's side, a ``VxlanLink`` on the local endpoint with the
    allocated VNI and both underlay addresses, and the interface's MTU lowered by
    the VXLAN overhead. The engine makes such a link in the underlay namespace
    and moves it into the node (the stitch list says which links those are).

    Raises:
        PlacementError: a cut link has no allocated VNI or a host no underlay address.
    """
    mine = {n for n, h in placement.nodes.items() if h == host}
    cut_by_index = {c.index: c for c in placement.cut}
    stitches: list[Stitch] = []
    links: list[object] = []
    mtu_of: dict[tuple[str, str], int] = {}
    nodes_by_name = {n.name: n for n in topology.nodes}
    for index, link in enumerate(topology.links):
        if index in cut_by_index:
            cut = cut_by_index[index]
            if index not in vnis:
                raise PlacementError(
                    "placement.vni", f"link {cut.a} <-> {cut.b} has no allocated VNI"
                )
            if cut.a.node in mine:
                local_ep, peer_ep, peer_host = cut.a, cut.b, cut.host_b
            elif cut.b.node in mine:
                local_ep, peer_ep, peer_host = cut.b, cut.a, cut.host_a
            else:
                continue
            for h in (host, peer_host):
                if not underlay.get(h):
                    raise PlacementError(
                        "placement.underlay", f"lab host {h!r} has no underlay address"
                    )
            node = nodes_by_name[local_ep.node]
            iface = node.interface(local_ep.interface)
            mtu = stitch_mtu(iface)
            if isinstance(link, VethLink) and link.mtu is not None:
                mtu = min(mtu, link.mtu)
            mtu_of[(local_ep.node, local_ep.interface)] = mtu
            stitch = Stitch(
                endpoint=local_ep,
                vni=vnis[index],
                local=underlay[host],
                remote=underlay[peer_host],
                mtu=mtu,
                peer=peer_ep,
            )
            stitches.append(stitch)
            links.append(
                VxlanLink(
                    kind="vxlan",
                    endpoint=local_ep,
                    vni=stitch.vni,
                    local=_addr(stitch.local),
                    remote=_addr(stitch.remote),
                    dstport=STITCH_DSTPORT,
                    learning=True,
                )
            )
            continue
        if all(ep.node in mine for ep in link.endpoints()):
            links.append(link)
    nodes: list[Node] = []
    for node in topology.nodes:
        if node.name not in mine:
            continue
        if any(k[0] == node.name for k in mtu_of):
            ifaces = tuple(
                iface.model_copy(update={"mtu": mtu_of[(node.name, iface.name)]})
                if (node.name, iface.name) in mtu_of
                else iface
                for iface in node.interfaces
            )
            declared = {i.name for i in ifaces}
            extra = tuple(
                Interface(name=ifname, mtu=mtu)
                for (nname, ifname), mtu in mtu_of.items()
                if nname == node.name and ifname not in declared
            )
            node = node.model_copy(update={"interfaces": ifaces + extra})
        nodes.append(node)
    part = topology.model_copy(update={"nodes": tuple(nodes), "links": tuple(links)})
    return part, tuple(stitches)


def vni_pairs(placement: Placement) -> list[tuple[int, str, str]]:
    """Return ``(link index, host, host)`` for every cut link, the hosts in stable order."""
    return [(c.index, *c.pair) for c in placement.cut]


def allocate_vnis(
    wanted: Sequence[tuple[int, str, str]],
    used: Mapping[str, Iterable[int]],
    lowest: int = STITCH_VNI_MIN,
) -> dict[int, int]:
    """Pick a VNI for every cut link, free on both of its hosts.

    A VNI must be unique per underlay namespace (the kernel refuses a second
    vxlan device with the same VNI and port there), so each one is checked
    against what both hosts already use. The database's unique constraint on
    (host, vni) is what makes this safe between concurrent deployments; this
    function only proposes.

    Raises:
        PlacementError: the stitch VNI range is exhausted on a host.
    """
    taken: dict[str, set[int]] = {h: set(v) for h, v in used.items()}
    out: dict[int, int] = {}
    for index, ha, hb in wanted:
        a, b = taken.setdefault(ha, set()), taken.setdefault(hb, set())
        vni = lowest
        while vni in a or vni in b:
            vni += 1
        if vni > STITCH_VNI_MAX:
            raise PlacementError("placement.vni", f"no free stitch VNI between {ha} and {hb}")
        a.add(vni)
        b.add(vni)
        out[index] = vni
    return out
