"""Writing a Topolab topology as a containerlab file containerlab accepts.

Every node becomes a ``linux`` node with a stand-in image (Topolab nodes are
namespaces and name none) and ``exec`` lines that rebuild it: addresses, MTUs,
MACs, bridges, VXLAN devices, routes and forwarding. A switch is a linux node
that makes its Linux bridge itself, because containerlab's ``kind: bridge``
is a bridge that must already exist on the host. containerlab keeps ``eth0``
of every node for its management network, so a node that uses ``eth0`` has
each ``ethN`` moved up by one. What Topolab needs to read the file back the
same (the kind, the renames, interface aliases, positions) travels in
``topolab.*`` labels, and the head of the text says what was generated and
what could not be carried. ``clab.import_clab`` reads it back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml

from .errors import Issue
from .schema import Node, Topology, VethLink, VxlanLink

EXPORT_IMAGE = "ghcr.io/srl-labs/network-multitool"  # has iproute2; nodes need nothing else
FRR_EXPORT_IMAGE = "quay.io/frrouting/frr:8.4.4"  # a node with the frr service
LABEL_KIND = "topolab.kind"
LABEL_STP = "topolab.stp"
LABEL_POSITION = "topolab.position"
LABEL_ADDRESSES = "topolab.addresses"
LABEL_DESCRIPTION = "topolab.description"
LABEL_INTERFACES = "topolab.interfaces"  # containerlab name=Topolab name, for eth0 and up
LABEL_ALIASES = "topolab.aliases"  # Topolab name=alias
LABEL_BRIDGES = "topolab.bridges"  # "declared": a switch's bridges were written out
LABEL_GENERATED = "topolab.generated"  # "image": the image is Topolab's stand-in


@dataclass
class _Export:
    doc: dict[str, Any]
    warnings: list[Issue]
    renames: dict[str, dict[str, str]]  # node -> Topolab name -> containerlab name


def _renames(node: Node) -> dict[str, str]:
    """containerlab keeps eth0 for management: a node using eth0 moves every ethN up by one."""
    devices = [i.name for i in node.interfaces] + [b.name for b in node.bridges]
    if "eth0" not in devices:
        return {}
    return {
        name: f"eth{int(name[3:]) + 1}"
        for name in devices
        if re.fullmatch(r"eth(0|[1-9][0-9]{0,3})", name)
    }


def _node_exec(
    node: Node, vxlans: list[VxlanLink], names: dict[str, str], carried: set[str]
) -> list[str]:
    """The exec lines that rebuild ``node`` in a container (``carried``: its linked interfaces).

    An interface no exported link makes is left out: the line would fail in
    containerlab (the export names it as not carried).
    """

    def n(name: str) -> str:
        return names.get(name, name)

    devices = carried | {b.name for b in node.all_bridges()}

    lines: list[str] = []
    if node.forwarding is not None or node.kind == "router":
        lines.append(f"sysctl -w net.ipv4.ip_forward={1 if node.forwards else 0}")
    for bridge in node.all_bridges():
        lines.append(f"ip link add name {n(bridge.name)} type bridge")
        if bridge.stp:
            lines.append(f"ip link set dev {n(bridge.name)} type bridge stp_state 1")
        if bridge.mtu is not None:
            lines.append(f"ip link set dev {n(bridge.name)} mtu {bridge.mtu}")
        lines.append(f"ip link set dev {n(bridge.name)} up")
    for link in vxlans:
        line = f"ip link add {n(link.endpoint.interface)} type vxlan id {link.vni}"
        for key in ("remote", "group", "local"):
            value = getattr(link, key)
            if value is not None:
                line += f" {key} {value}"
        line += f" dstport {link.dstport}"
        if link.underlay is not None:
            line += f" dev {n(link.underlay)}"
        if link.ttl is not None:
            line += f" ttl {link.ttl}"
        if not link.learning:
            line += " nolearning"
        lines.append(line)
    for iface in node.interfaces:
        if iface.name not in carried:
            continue
        if iface.mtu is not None:
            lines.append(f"ip link set dev {n(iface.name)} mtu {iface.mtu}")
        if iface.mac is not None:
            lines.append(f"ip link set dev {n(iface.name)} address {iface.mac}")
        master = node.bridge_of(iface)
        if master is not None:
            lines.append(f"ip link set dev {n(iface.name)} master {n(master)}")
        for addr in iface.addresses:
            lines.append(f"ip addr add {addr} dev {n(iface.name)}")
    for bridge in node.bridges:
        for addr in bridge.addresses:
            lines.append(f"ip addr add {addr} dev {n(bridge.name)}")
    if node.gateway is not None:
        lines.append(f"ip route add default via {node.gateway}")
    if node.gateway6 is not None:
        lines.append(f"ip -6 route add default via {node.gateway6}")
    for route in node.routes:
        if route.dev is not None and route.dev not in devices:
            continue
        six = route.dst == "default6" or (
            route.dst != "default" and getattr(route.dst, "version", 4) == 6
        )
        dst = "default" if route.dst in ("default", "default6") else str(route.dst)
        line = f"ip {'-6 ' if six else ''}route add {dst}"
        if route.via is not None:
            line += f" via {route.via}"
        if route.dev is not None:
            line += f" dev {n(route.dev)}"
        if route.metric is not None:
            line += f" metric {route.metric}"
        lines.append(line)
    return lines


def _export(topology: Topology) -> _Export:
    warnings: list[Issue] = []

    def warn(path: str, message: str) -> None:
        warnings.append(Issue(path, "clab.not_carried", message))

    vxlans: dict[str, list[VxlanLink]] = {}
    carried: set[tuple[str, str]] = set()
    for li, link in enumerate(topology.links):
        if isinstance(link, VethLink):
            carried.update((ep.node, ep.interface) for ep in (link.a, link.b))
        elif isinstance(link, VxlanLink):
            vxlans.setdefault(link.endpoint.node, []).append(link)
            carried.add((link.endpoint.node, link.endpoint.interface))
        elif link.kind == "dummy":
            carried.update((ep.node, ep.interface) for ep in link.endpoints())
        else:
            warn(
                f"links[{li}]",
                f"links[{li}] is a {link.kind} link, which a containerlab file cannot describe "
                "inside a node",
            )
    renames: dict[str, dict[str, str]] = {}
    nodes: dict[str, Any] = {}
    for i, node in enumerate(topology.nodes):
        names = _renames(node)
        renames[node.name] = names
        labels: dict[str, str] = {LABEL_KIND: node.kind, LABEL_GENERATED: "image"}
        if node.kind == "switch" and node.bridges:
            labels[LABEL_BRIDGES] = "declared"
        if node.position is not None:
            labels[LABEL_POSITION] = f"{node.position.x:g},{node.position.y:g}"
        if node.description:
            labels[LABEL_DESCRIPTION] = node.description
        if names:
            labels[LABEL_INTERFACES] = ",".join(f"{v}={k}" for k, v in names.items())
        aliases = {iface.name: iface.alias for iface in node.interfaces if iface.alias}
        bad = [a for a in aliases.values() if any(c in a for c in ",;=")]
        if aliases and not bad:
            labels[LABEL_ALIASES] = ",".join(f"{names.get(k, k)}={v}" for k, v in aliases.items())
        elif bad:
            warn(f"nodes[{i}]", f"the interface aliases of {node.name} hold ',', ';' or '='")
        spec: dict[str, Any] = {"kind": "linux", "image": EXPORT_IMAGE}
        linked = {name for owner, name in carried if owner == node.name}
        lines = _node_exec(node, vxlans.get(node.name, []), names, linked)
        if lines:
            spec["exec"] = lines
        spec["labels"] = labels
        if node.host is not None:
            warn(f"nodes[{i}].host", f"the placement of {node.name} on host {node.host}")
        # A bare frr service is FRR's own image, which an import reads back as the service.
        frr_only = [s.model_dump(exclude_defaults=True) for s in node.services] == [{"kind": "frr"}]
        if frr_only:
            spec["image"] = FRR_EXPORT_IMAGE
            labels.pop(LABEL_GENERATED, None)
        # Binds need files beside the .clab.yml; a text export has only itself.
        for field in ("files", "exec", "services"):
            if getattr(node, field) and not (field == "services" and frr_only):
                warn(f"nodes[{i}].{field}", f"the {field} of {node.name}")
        for k, route in enumerate(node.routes):
            if route.dev is not None and route.dev not in linked | {
                b.name for b in node.all_bridges()
            }:
                warn(
                    f"nodes[{i}].routes[{k}]",
                    f"route {route.dst} of {node.name} (by {route.dev}, which is not exported)",
                )
        for j, iface in enumerate(node.interfaces):
            if (node.name, iface.name) not in carried:
                warn(
                    f"nodes[{i}].interfaces[{j}]",
                    f"interface {iface.name} of {node.name} is on no veth or vxlan link; "
                    "containerlab makes interfaces only from links",
                )
            if iface.description:
                warn(
                    f"nodes[{i}].interfaces[{j}].description",
                    f"the description of interface {iface.name} of {node.name}",
                )
        nodes[node.name] = spec
    links: list[dict[str, Any]] = []
    for li, link in enumerate(topology.links):
        if link.kind == "dummy":
            [ep] = link.endpoints()
            name = renames[ep.node].get(ep.interface, ep.interface)
            links.append({"type": "dummy", "endpoint": {"node": ep.node, "interface": name}})
            continue
        if not isinstance(link, VethLink):
            continue
        ends = [
            f"{ep.node}:{renames[ep.node].get(ep.interface, ep.interface)}"
            for ep in (link.a, link.b)
        ]
        entry: dict[str, Any] = {"endpoints": ends}
        if link.mtu is not None:
            entry["mtu"] = link.mtu
        if link.rate_mbit is not None:
            warn(f"links[{li}].rate_mbit", f"the rate limit of links[{li}]")
        links.append(entry)
    if topology.description:
        warn("description", "the lab's description")
    if topology.annotations:
        warn("annotations", f"the editor's {len(topology.annotations)} notes and shapes")
    if topology.addressing.auto:
        warn("addressing", "automatic addressing: the addresses it would compute are not written")
    doc: dict[str, Any] = {"name": topology.name, "topology": {"nodes": nodes, "links": links}}
    return _Export(doc, warnings, renames)


def export_clab(topology: Topology) -> tuple[dict[str, Any], list[Issue]]:
    """Return the containerlab document for ``topology`` and what it could not carry."""
    out = _export(topology)
    return out.doc, out.warnings


def dumps_clab(topology: Topology) -> str:
    """Write ``topology`` as a ``.clab.yml`` text: what was generated and not carried on top."""
    out = _export(topology)
    header = [
        f"# containerlab topology exported by Topolab from lab {topology.name!r}",
        f"# generated: every node is kind linux with image {EXPORT_IMAGE} (Topolab nodes are",
        "#   network namespaces and have no image; any image with iproute2 will do)",
    ]
    if any(n.kind == "switch" for n in topology.nodes):
        header += [
            "# generated: switches are linux nodes that make their Linux bridge with exec lines;",
            "#   containerlab's kind bridge would need that bridge to exist on the host already",
        ]
    moved = {node: names for node, names in out.renames.items() if names}
    if moved:
        header.append(
            "# generated: containerlab keeps eth0 of every node for management, so these "
            f"interfaces move up by one ({LABEL_INTERFACES} label):"
        )
        for node, names in moved.items():
            pairs = ", ".join(f"{k} -> {v}" for k, v in names.items())
            header.append(f"#   {node}: {pairs}")
    header += [f"# not carried: {w.path}: {w.message}" for w in out.warnings]
    body: str = yaml.safe_dump(
        out.doc, sort_keys=False, allow_unicode=True, default_flow_style=False
    )
    return "\n".join(header) + "\n" + body


__all__ = [
    "EXPORT_IMAGE",
    "LABEL_ADDRESSES",
    "LABEL_ALIASES",
    "LABEL_BRIDGES",
    "LABEL_DESCRIPTION",
    "LABEL_GENERATED",
    "LABEL_INTERFACES",
    "LABEL_KIND",
    "LABEL_POSITION",
    "LABEL_STP",
    "dumps_clab",
    "export_clab",
]
