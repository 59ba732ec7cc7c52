"""containerlab (``.clab.yml``) import and export.

containerlab describes containers joined by veth links; Topolab describes
network namespaces. The overlap is large: ``linux`` nodes become hosts (or
routers, by the ``topolab.kind`` label or an ``ip_forward`` sysctl),
``bridge`` and ``ovs-bridge`` nodes become switches, every link endpoint
becomes an interface, and the common ``exec`` lines (``ip addr add``,
``ip route add``, ``ip link set ... mtu/address/master``, bridges made with
``ip link add ... type bridge``, ``sysctl net.ipv4.ip_forward=1``) become
addresses, routes, MTUs, MACs, bridges and forwarding.

Everything else (images, startup configs, binds, env, the management
network, kinds Topolab has no equivalent for, exec lines it does not
understand) cannot be carried. It is never dropped silently: each becomes a
warning ``Issue`` with the path in the containerlab file
(``topology.nodes.n1.image``).

Export writes addresses and routes as ``exec`` lines so the file works in
containerlab as it is; importing an export gives the same topology back.
"""

from __future__ import annotations

import shlex
from ipaddress import IPv4Address, IPv6Address, ip_address, ip_interface, ip_network
from typing import Any

import yaml
from pydantic import ValidationError

from .errors import Issue, TopologyError
from .io import parse_text
from .load import issues_from_validation_error
from .schema import Node, Topology, VethLink

EXPORT_IMAGE = "alpine:latest"  # a small image with iproute2-compatible busybox `ip`
LABEL_KIND = "topolab.kind"
LABEL_STP = "topolab.stp"
LABEL_POSITION = "topolab.position"
LABEL_ADDRESSES = "topolab.addresses"
LABEL_DESCRIPTION = "topolab.description"

_SWITCH_KINDS = {"bridge", "ovs-bridge"}
_FORWARD_SYSCTLS = {"net.ipv4.ip_forward", "net.ipv4.conf.all.forwarding"}
_CARRIED_NODE_KEYS = {"kind", "labels", "exec", "image"}


def _warn(warnings: list[Issue], path: str, code: str, message: str, hint: str = "") -> None:
    warnings.append(Issue(path, code, message, hint))


class _NodeDraft:
    """A node being assembled from the file, as a plain document dict."""

    def __init__(self, name: str, kind: str) -> None:
        self.name = name
        self.kind = kind
        self.interfaces: dict[str, dict[str, Any]] = {}
        self.bridges: dict[str, dict[str, Any]] = {}
        self.routes: list[dict[str, Any]] = []
        self.gateway: str | None = None
        self.gateway6: str | None = None
        self.forwarding: bool | None = None
        self.stp = False
        self.position: dict[str, float] | None = None
        self.description = ""

    def interface(self, name: str) -> dict[str, Any]:
        return self.interfaces.setdefault(name, {"name": name})

    def add_address(self, dev: str, address: str) -> bool:
        if dev in self.bridges:
            self.bridges[dev].setdefault("addresses", []).append(address)
        else:
            self.interface(dev).setdefault("addresses", []).append(address)
        return True

    def as_dict(self) -> dict[str, Any]:
        node: dict[str, Any] = {"name": self.name, "kind": self.kind}
        if self.interfaces:
            node["interfaces"] = list(self.interfaces.values())
        if self.bridges:
            node["bridges"] = list(self.bridges.values())
        if self.routes:
            node["routes"] = self.routes
        if self.gateway:
            node["gateway"] = self.gateway
        if self.gateway6:
            node["gateway6"] = self.gateway6
        if self.forwarding is not None:
            node["forwarding"] = self.forwarding
        if self.stp:
            node["stp"] = True
        if self.position is not None:
            node["position"] = self.position
        if self.description:
            node["description"] = self.description
        return node


def _split_dev(args: list[str]) -> tuple[str | None, list[str]]:
    """Take ``[dev] IFNAME`` off the front of ``ip link set`` arguments."""
    if args and args[0] == "dev":
        args = args[1:]
    if not args:
        return None, []
    return args[0], args[1:]


def _apply_exec(draft: _NodeDraft, line: str) -> bool:
    """Apply one exec line to ``draft``; return False when it is not understood."""
    try:
        argv = shlex.split(line)
    except ValueError:
        return False
    if not argv:
        return True
    if argv[0] == "sysctl":
        args = [a for a in argv[1:] if a not in ("-w", "-q")]
        if len(args) != 1 or "=" not in args[0]:
            return False
        key, _, value = args[0].partition("=")
        if key.strip().replace("/", ".") in _FORWARD_SYSCTLS and value.strip() in ("0", "1"):
            draft.forwarding = value.strip() == "1"
            return True
        return False
    if argv[0] != "ip":
        return False
    args = argv[1:]
    family = 4
    while args and args[0].startswith("-"):
        if args[0] == "-6":
            family = 6
        elif args[0] != "-4":
            return False
        args = args[1:]
    if len(args) < 2:
        return False
    obj, verb, rest = args[0], args[1], args[2:]
    if obj in ("a", "addr", "address") and verb == "add":
        # ip addr add ADDRESS/PLEN dev IFNAME
        if len(rest) != 3 or rest[1] != "dev":
            return False
        try:
            address = ip_interface(rest[0])
        except ValueError:
            return False
        if "/" not in rest[0]:
            return False
        return draft.add_address(rest[2], str(address))
    if obj in ("r", "ro", "route") and verb in ("add", "replace"):
        return _apply_route(draft, rest, family)
    if obj in ("l", "link") and verb == "add":
        # ip link add [name] BR type bridge
        if rest and rest[0] == "name":
            rest = rest[1:]
        if len(rest) == 3 and rest[1:] == ["type", "bridge"]:
            draft.bridges.setdefault(rest[0], {"name": rest[0]})
            return True
        return False
    if obj in ("l", "link") and verb == "set":
        dev, opts = _split_dev(rest)
        if dev is None:
            return False
        return _apply_link_set(draft, dev, opts)
    return False


def _apply_link_set(draft: _NodeDraft, dev: str, opts: list[str]) -> bool:
    if opts == ["up"]:
        return True  # Topolab brings every device up itself
    if len(opts) == 2 and opts[0] == "mtu" and opts[1].isdigit():
        if dev in draft.bridges:
            draft.bridges[dev]["mtu"] = int(opts[1])
        else:
            draft.interface(dev)["mtu"] = int(opts[1])
        return True
    if len(opts) == 2 and opts[0] == "address" and dev not in draft.bridges:
        draft.interface(dev)["mac"] = opts[1]
        return True
    if len(opts) == 2 and opts[0] == "master" and opts[1] in draft.bridges:
        draft.interface(dev)["bridge"] = opts[1]
        return True
    if (
        dev in draft.bridges
        and len(opts) == 4
        and opts[:3] == ["type", "bridge", "stp_state"]
        and opts[3] in ("0", "1")
    ):
        draft.bridges[dev]["stp"] = opts[3] == "1"
        return True
    return False


def _apply_route(draft: _NodeDraft, rest: list[str], family: int) -> bool:
    if not rest:
        return False
    dst, opts = rest[0], rest[1:]
    route: dict[str, Any] = {}
    while opts:
        if len(opts) < 2 or opts[0] not in ("via", "dev", "metric"):
            return False
        route[opts[0]] = opts[1]
        opts = opts[2:]
    via: IPv4Address | IPv6Address | None = None
    if "via" in route:
        try:
            via = ip_address(route["via"])
        except ValueError:
            return False
        family = via.version
    if "metric" in route:
        if not route["metric"].isdigit():
            return False
        route["metric"] = int(route["metric"])
    if dst == "default":
        if via is not None and set(route) == {"via"}:
            if via.version == 4 and draft.gateway is None:
                draft.gateway = str(via)
                return True
            if via.version == 6 and draft.gateway6 is None:
                draft.gateway6 = str(via)
                return True
        dst = "default" if family == 4 else "default6"
    else:
        try:
            dst = str(ip_network(dst, strict=True))
        except ValueError:
            return False
    draft.routes.append({"dst": dst, **route})
    return True


def _parse_labels(draft: _NodeDraft, labels: Any, path: str, warnings: list[Issue]) -> str | None:
    """Apply Topolab's own labels; return the kind they ask for, if any."""
    if labels is None:
        return None
    if not isinstance(labels, dict):
        _warn(warnings, path, "clab.bad_labels", f"labels of node {draft.name} are not a mapping")
        return None
    kind: str | None = None
    for key, value in labels.items():
        lpath = f"{path}.{key}"
        text = str(value)
        if key == LABEL_KIND and text in ("host", "router", "switch"):
            kind = text
        elif key == LABEL_STP:
            draft.stp = text.lower() in ("1", "true", "yes", "on")
        elif key == LABEL_DESCRIPTION:
            draft.description = text
        elif key == LABEL_POSITION:
            try:
                x, y = (float(v) for v in text.split(","))
                draft.position = {"x": x, "y": y}
            except ValueError:
                _warn(
                    warnings,
                    lpath,
                    "clab.bad_label",
                    f"label {key} of node {draft.name} is {text!r}, not 'x,y'",
                )
        elif key == LABEL_ADDRESSES:
            for item in text.replace(";", ",").split(","):
                dev, sep, addr = item.strip().partition("=")
                try:
                    ip_interface(addr)
                except ValueError:
                    sep = ""
                if not sep or not dev:
                    _warn(
                        warnings,
                        lpath,
                        "clab.bad_label",
                        f"label {key} of node {draft.name}: {item.strip()!r} is not "
                        "IFNAME=ADDRESS/PREFIX",
                        "write e.g. eth1=10.0.0.1/24,eth2=10.0.1.1/24",
                    )
                    continue
                draft.add_address(dev, addr)
        else:
            _warn(
                warnings,
                lpath,
                "clab.not_carried",
                f"label {key} of node {draft.name} is not carried",
            )
    return kind


def _endpoint_of(raw: Any) -> tuple[str, str, str | None] | None:
    """Return (node, interface, mac) of a link endpoint in either containerlab form."""
    if isinstance(raw, str):
        node, sep, iface = raw.partition(":")
        return (node, iface, None) if sep and node and iface else None
    if isinstance(raw, dict) and isinstance(raw.get("node"), str):
        name = raw.get("interface")
        mac = raw.get("mac")
        if isinstance(name, str) and name:
            return raw["node"], name, mac if isinstance(mac, str) else None
    return None


def import_clab(text: str | bytes) -> tuple[Topology, list[Issue]]:
    """Turn a containerlab topology file into a Topolab topology.

    Returns the topology (checked for shape, not yet for meaning: the editor
    shows what is left to fix) and one warning per thing that cannot be carried.

    Raises:
        TopologyError: when the text is not YAML, not a containerlab file
            (no ``topology.nodes`` mapping) or makes no valid document.
    """
    data = parse_text(text, "yaml")
    warnings: list[Issue] = []
    topo = data.get("topology")
    if not isinstance(topo, dict) or not isinstance(topo.get("nodes"), dict):
        raise TopologyError(
            [
                Issue(
                    "topology.nodes",
                    "clab.no_nodes",
                    "a containerlab file has a topology.nodes mapping; this one does not",
                    "check that this is a .clab.yml file",
                )
            ]
        )
    for key in data:
        if key not in ("name", "topology"):
            _warn(
                warnings,
                str(key),
                "clab.not_carried",
                f"the {key} section is not carried: Topolab labs have no "
                + ("management network" if key == "mgmt" else "equivalent"),
            )
    for key in topo:
        if key not in ("nodes", "links"):
            _warn(
                warnings,
                f"topology.{key}",
                "clab.not_carried",
                f"topology.{key} is not carried (images, kinds and defaults have no "
                "meaning for namespaces)",
            )
    name = data.get("name")
    if not isinstance(name, str) or not name:
        _warn(warnings, "name", "clab.no_name", "the file has no name; using 'clab-import'")
        name = "clab-import"

    drafts: dict[str, _NodeDraft] = {}
    execs: dict[str, list[tuple[str, Any]]] = {}
    label_kinds: dict[str, str | None] = {}
    for node_name, spec in topo["nodes"].items():
        path = f"topology.nodes.{node_name}"
        spec = spec if isinstance(spec, dict) else {}
        kind = str(spec.get("kind", "linux"))
        if kind in _SWITCH_KINDS:
            draft = _NodeDraft(str(node_name), "switch")
            if kind == "ovs-bridge":
                _warn(
                    warnings,
                    f"{path}.kind",
                    "clab.kind_changed",
                    f"node {node_name} is an Open vSwitch bridge; it becomes a Linux bridge",
                )
        else:
            draft = _NodeDraft(str(node_name), "host")
            if kind != "linux":
                _warn(
                    warnings,
                    f"{path}.kind",
                    "clab.kind_unsupported",
                    f"node {node_name} has kind {kind}, which Topolab cannot run; "
                    "it becomes a plain host namespace",
                    "configure it by hand after import",
                )
        drafts[draft.name] = draft
        label_kinds[draft.name] = _parse_labels(
            draft, spec.get("labels"), f"{path}.labels", warnings
        )
        for key, value in spec.items():
            if key == "image" and (value == EXPORT_IMAGE or draft.kind == "switch"):
                continue
            if key not in _CARRIED_NODE_KEYS or key == "image":
                shown = (
                    f" ({value})" if isinstance(value, str | int) and len(str(value)) < 80 else ""
                )
                _warn(
                    warnings,
                    f"{path}.{key}",
                    "clab.not_carried",
                    f"{key}{shown} of node {node_name} is not carried: Topolab nodes are network "
                    "namespaces, not containers",
                )
        raw_exec = spec.get("exec") or []
        execs[draft.name] = [
            (f"{path}.exec[{k}]", line)
            for k, line in enumerate(raw_exec if isinstance(raw_exec, list) else [])
        ]
        if raw_exec and not isinstance(raw_exec, list):
            _warn(
                warnings,
                f"{path}.exec",
                "clab.not_carried",
                f"exec of node {node_name} is not a list",
            )

    links: list[dict[str, Any]] = []
    raw_links = topo.get("links") or []
    if not isinstance(raw_links, list):
        _warn(warnings, "topology.links", "clab.bad_link", "topology.links is not a list; skipped")
    for li, raw in enumerate(raw_links if isinstance(raw_links, list) else []):
        path = f"topology.links[{li}]"
        if not isinstance(raw, dict):
            _warn(warnings, path, "clab.bad_link", f"{path} is not a mapping; skipped")
            continue
        ltype = raw.get("type", "veth")
        if ltype != "veth":
            _warn(
                warnings,
                f"{path}.type",
                "clab.link_unsupported",
                f"{path} is a {ltype} link, which connects to the container host; skipped",
                "draw the equivalent link in the editor",
            )
            continue
        eps = raw.get("endpoints")
        parsed = [_endpoint_of(e) for e in eps] if isinstance(eps, list) else []
        if len(parsed) != 2 or any(p is None for p in parsed):
            _warn(
                warnings,
                f"{path}.endpoints",
                "clab.bad_link",
                f"{path} does not have two endpoints 'node:interface'; skipped",
            )
            continue
        missing = [p[0] for p in parsed if p is not None and p[0] not in drafts]
        if missing:
            _warn(
                warnings,
                f"{path}.endpoints",
                "clab.link_unsupported",
                f"{path} connects to {', '.join(missing)}, which is not a node of the lab "
                "(the container host or management network); skipped",
            )
            continue
        ends: list[str] = []
        for ep in parsed:
            assert ep is not None
            iface = drafts[ep[0]].interface(ep[1])
            if ep[2]:
                iface["mac"] = ep[2]
            ends.append(f"{ep[0]}:{ep[1]}")
        link: dict[str, Any] = {"kind": "veth", "a": ends[0], "b": ends[1]}
        if isinstance(raw.get("mtu"), int):
            link["mtu"] = raw["mtu"]
        links.append(link)
        for key in raw:
            if key not in ("type", "endpoints", "mtu"):
                _warn(
                    warnings, f"{path}.{key}", "clab.not_carried", f"{key} of {path} is not carried"
                )

    for name_, lines in execs.items():
        draft = drafts[name_]
        for epath, line in lines:
            if draft.kind == "switch" or not isinstance(line, str) or not _apply_exec(draft, line):
                _warn(
                    warnings,
                    epath,
                    "clab.exec_not_understood",
                    f"exec line {line!r} of node {name_} is not understood and not carried",
                    "Topolab understands ip addr/route/link and the ip_forward sysctl; "
                    "set the rest in the editor",
                )
        asked = label_kinds.get(name_)
        if asked is not None:
            draft.kind = asked
        if draft.kind == "router" and draft.forwarding is True:
            draft.forwarding = None  # a router forwards anyway

    doc = {
        "name": name,
        "nodes": [d.as_dict() for d in drafts.values()],
        "links": links,
    }
    try:
        return Topology.model_validate(doc), warnings
    except ValidationError as exc:
        raise TopologyError(issues_from_validation_error(exc, doc)) from None


def _node_exec(node: Node) -> list[str]:
    lines: list[str] = []
    if node.forwarding is not None or node.kind == "router":
        lines.append(f"sysctl -w net.ipv4.ip_forward={1 if node.forwards else 0}")
    for bridge in node.bridges:
        lines.append(f"ip link add name {bridge.name} type bridge")
        if bridge.stp:
            lines.append(f"ip link set dev {bridge.name} type bridge stp_state 1")
        if bridge.mtu is not None:
            lines.append(f"ip link set dev {bridge.name} mtu {bridge.mtu}")
        lines.append(f"ip link set dev {bridge.name} up")
    for iface in node.interfaces:
        if iface.mtu is not None:
            lines.append(f"ip link set dev {iface.name} mtu {iface.mtu}")
        if iface.mac is not None:
            lines.append(f"ip link set dev {iface.name} address {iface.mac}")
        if iface.bridge is not None:
            lines.append(f"ip link set dev {iface.name} master {iface.bridge}")
        for addr in iface.addresses:
            lines.append(f"ip addr add {addr} dev {iface.name}")
    for bridge in node.bridges:
        for addr in bridge.addresses:
            lines.append(f"ip addr add {addr} dev {bridge.name}")
    if node.gateway is not None:
        lines.append(f"ip route add default via {node.gateway}")
    if node.gateway6 is not None:
        lines.append(f"ip -6 route add default via {node.gateway6}")
    for route in node.routes:
        six = route.dst == "default6" or (
            route.dst != "default" and getattr(route.dst, "version", 4) == 6
        )
        dst = "default" if route.dst in ("default", "default6") else str(route.dst)
        line = f"ip {'-6 ' if six else ''}route add {dst}"
        if route.via is not None:
            line += f" via {route.via}"
        if route.dev is not None:
            line += f" dev {route.dev}"
        if route.metric is not None:
            line += f" metric {route.metric}"
        lines.append(line)
    return lines


def export_clab(topology: Topology) -> tuple[dict[str, Any], list[Issue]]:
    """Return the containerlab document for ``topology`` and what it could not carry."""
    warnings: list[Issue] = []
    linked = {
        (ep.node, ep.interface)
        for link in topology.links
        if isinstance(link, VethLink)
        for ep in (link.a, link.b)
    }
    nodes: dict[str, Any] = {}
    for i, node in enumerate(topology.nodes):
        spec: dict[str, Any]
        labels: dict[str, str] = {}
        if node.kind == "switch":
            spec = {"kind": "bridge"}
            if node.stp or any(b.stp for b in node.bridges):
                labels[LABEL_STP] = "true"
            if node.bridges or node.routes or node.gateway or node.gateway6:
                _warn(
                    warnings,
                    f"nodes[{i}]",
                    "clab.not_carried",
                    f"switch {node.name} becomes a containerlab bridge; its bridges, "
                    "routes and gateway are not carried",
                )
            for j, iface in enumerate(node.interfaces):
                if iface.addresses:
                    _warn(
                        warnings,
                        f"nodes[{i}].interfaces[{j}].addresses",
                        "clab.not_carried",
                        f"addresses of switch port {iface.name} of {node.name} are not carried",
                    )
        else:
            spec = {"kind": "linux", "image": EXPORT_IMAGE}
            if node.kind == "router":
                labels[LABEL_KIND] = "router"
            lines = _node_exec(node)
            if lines:
                spec["exec"] = lines
        if node.position is not None:
            labels[LABEL_POSITION] = f"{node.position.x:g},{node.position.y:g}"
        if node.description:
            labels[LABEL_DESCRIPTION] = node.description
        if labels:
            spec["labels"] = labels
        for j, iface in enumerate(node.interfaces):
            if (node.name, iface.name) not in linked:
                _warn(
                    warnings,
                    f"nodes[{i}].interfaces[{j}]",
                    "clab.not_carried",
                    f"interface {iface.name} of {node.name} is on no veth link; containerlab "
                    "makes interfaces only from links",
                )
        nodes[node.name] = spec
    links: list[dict[str, Any]] = []
    for li, link in enumerate(topology.links):
        if isinstance(link, VethLink):
            entry: dict[str, Any] = {"endpoints": [str(link.a), str(link.b)]}
            if link.mtu is not None:
                entry["mtu"] = link.mtu
            if link.rate_mbit is not None:
                _warn(
                    warnings,
                    f"links[{li}].rate_mbit",
                    "clab.not_carried",
                    f"the rate limit of links[{li}] is not carried",
                )
            links.append(entry)
        else:
            _warn(
                warnings,
                f"links[{li}]",
                "clab.not_carried",
                f"links[{li}] is a {link.kind} link, which containerlab files cannot describe "
                "inside a node",
            )
    doc: dict[str, Any] = {"name": topology.name, "topology": {"nodes": nodes, "links": links}}
    return doc, warnings


def dumps_clab(topology: Topology) -> str:
    """Write ``topology`` as a ``.clab.yml`` text, what was not carried listed on top."""
    doc, warnings = export_clab(topology)
    header = [f"# containerlab topology exported by Topolab from lab {topology.name!r}"]
    header += [f"# not carried: {w.path}: {w.message}" for w in warnings]
    body: str = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, default_flow_style=False)
    return "\n".join(header) + "\n" + body


__all__ = ["EXPORT_IMAGE", "dumps_clab", "export_clab", "import_clab"]
