"""containerlab topology files in and out.

Import reads a file as containerlab reads it, then keeps what has a meaning
for network namespaces:

* the text is a Go template when it holds ``{{ ... }}``: containerlab renders
  those first, Topolab asks for the rendered file;
* ``$VAR`` and ``${VAR:-default}`` are expanded over the whole text, with the
  values the caller passes (none by default: a server never lends its own
  environment to a user's file), and every variable used is named;
* each node's settings are resolved with containerlab's precedence, node over
  group over kind over ``defaults`` (``exec`` lines of every level run, the
  most general first; ``labels``, ``env`` and ``sysctls`` merge key by key);
* ``linux`` nodes become hosts (routers by the ``topolab.kind`` label),
  ``bridge`` and ``ovs-bridge`` nodes namespaced switches, other kinds plain
  hosts; links in brief and extended form become veth links (``vxlan`` and
  ``vxlan-stitch`` links VXLAN devices in the node, ``dummy`` links dummy
  devices); interface names the
  kernel refuses (``ethernet-1/1``) are mapped to valid ones, the original
  kept as the interface's ``alias``;
* ``exec`` lines (``ip`` address, link, bridge, VXLAN and route commands in
  their usual spellings, forwarding sysctls, the same inside ``sh -c``) become
  addresses, MTUs, MACs, bridges, VXLAN links, routes and forwarding.

Everything else (images, startup configs, binds, env, the management network,
host, mgmt-net and macvlan links, vendor kinds, steps of exec lines that
are not understood) is named in a warning ``Issue`` with its path in the
file (``topology.groups.spine.exec[1]``). What containerlab itself would refuse
(an unknown link type, a link to an unknown node, a non-numeric MTU) is an
error, and every error path names the place in the file too. A failing import
raises with its warnings attached.

Export (``clab_export``, re-exported here) writes a file containerlab accepts,
which this import reads back as the same topology.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from ipaddress import ip_address, ip_interface
from typing import Any

import yaml
from pydantic import ValidationError

from . import clab_exec as cx
from .clab_export import (
    EXPORT_IMAGE,
    LABEL_ADDRESSES,
    LABEL_ALIASES,
    LABEL_BRIDGES,
    LABEL_DESCRIPTION,
    LABEL_GENERATED,
    LABEL_INTERFACES,
    LABEL_KIND,
    LABEL_POSITION,
    LABEL_STP,
    dumps_clab,
    export_clab,
)
from .envsubst import SubstitutionError, Use, substitute
from .errors import Issue, TopologyError
from .io import parse_text
from .limits import Limits
from .load import issues_from_validation_error
from .naming import check_ifname, kernel_ifname, node_name_for
from .schema import Topology
from .validate import node_file_problem, validate

LINK_TYPES = ("veth", "host", "mgmt-net", "macvlan", "dummy", "vxlan", "vxlan-stitch")
VXLAN_DEFAULT_PORT = 14789  # containerlab's, for vxlan links without udp-port
IPROUTE_VXLAN_PORT = 8472  # the kernel's, for "ip link add ... type vxlan" without dstport
_SPECIAL_ENDPOINTS = {"host", "mgmt-net", "macvlan"}  # brief-form stand-ins for host links
_SWITCH_KINDS = {"bridge", "ovs-bridge"}
_TOP_KEYS = {"name", "prefix", "mgmt", "settings", "topology"}
_TOPOLOGY_KEYS = {"nodes", "links", "kinds", "groups", "defaults"}
# Every key of containerlab's node definition (nodes, groups, kinds and defaults).
NODE_KEYS = frozenset(
    {
        "kind", "group", "type", "startup-config", "startup-delay", "enforce-startup-config",
        "suppress-startup-config", "auto-remove", "restart-policy", "config", "image",
        "image-pull-policy", "license", "position", "entrypoint", "cmd", "exec", "binds",
        "devices", "cap-add", "shm-size", "ports", "mgmt-ipv4", "mgmt-ipv6", "env",
        "env-files", "user", "labels", "network-mode", "sandbox", "kernel", "runtime", "cpu",
        "cpu-set", "memory", "sysctls", "extras", "stages", "dns", "certificate",
        "healthcheck", "aliases", "components", "publish", "wait-for",
    }
)  # fmt: skip
_MERGED_MAPS = ("labels", "env", "sysctls")
_LINK_KEYS: dict[str, set[str]] = {
    "veth": {"type", "endpoints", "mtu", "vars", "labels"},
    "host": {"type", "endpoint", "host-interface", "mtu", "vars", "labels"},
    "mgmt-net": {"type", "endpoint", "host-interface", "mtu", "vars", "labels"},
    "macvlan": {"type", "endpoint", "host-interface", "mode", "vars", "labels"},
    "dummy": {"type", "endpoint", "mtu", "vars", "labels"},
    "vxlan": {"type", "endpoint", "remote", "vni", "udp-port", "parent-interface", "mtu"}
    | {"vars", "labels"},
}
_LINK_KEYS["vxlan-stitch"] = _LINK_KEYS["vxlan"]
_ENDPOINT_KEYS = {"node", "interface", "mac", "ipv4", "ipv6", "vars"}
_GO_TEMPLATE = re.compile(r"\{\{-?\s*[^{}\n]*?\s*-?\}\}")
_CONVERTED_PATH = re.compile(r"\b(?:nodes|links)\[\d+\](?:\.[a-z_0-9]+(?:\[\d+\])?)*")


class _Report:
    """Warnings and errors of one import, each once, in the order found."""

    def __init__(self) -> None:
        self.warnings: list[Issue] = []
        self.errors: list[Issue] = []
        self._seen: set[tuple[str, str, str]] = set()

    def _add(self, into: list[Issue], issue: Issue) -> None:
        key = (issue.path, issue.code, issue.message)
        if key not in self._seen:
            self._seen.add(key)
            into.append(issue)

    def warn(self, path: str, code: str, message: str, hint: str = "") -> None:
        self._add(self.warnings, Issue(path, code, message, hint))

    def error(self, path: str, code: str, message: str, hint: str = "") -> None:
        self._add(self.errors, Issue(path, code, message, hint))

    def fail(self, issues: list[Issue] | None = None) -> TopologyError:
        return TopologyError(issues if issues is not None else self.errors, self.warnings)


def _shown(value: Any) -> str:
    """A short rendering of a value for a message, or nothing for a long one."""
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        text = str(value)
        return f" ({text})" if len(text) < 80 and "\n" not in text else ""
    return ""


# -- reading the text ------------------------------------------------------------------


def _decode(text: str | bytes) -> str:
    if isinstance(text, str):
        return text
    try:
        return text.decode("utf-8")
    except UnicodeDecodeError:
        parse_text(text, "yaml")  # the loader owns how text that is not UTF-8 is refused
        raise


def _line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def is_containerlab(data: Mapping[str, Any]) -> bool:
    """Whether a parsed document is a containerlab file: it has a top-level ``topology`` mapping."""
    return isinstance(data.get("topology"), dict)


def is_go_template(text: str | bytes) -> bool:
    """Whether ``text`` is a containerlab file written as a Go template (``{{ }}``)."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return bool(_GO_TEMPLATE.search(text)) and re.search(r"(?m)^topology:", text) is not None


def _check_template(text: str) -> None:
    match = _GO_TEMPLATE.search(text)
    if match is not None:
        line = _line_of(text, match.start())
        raise TopologyError(
            [
                Issue(
                    "$",
                    "clab.go_template",
                    f"this is a Go template ({match.group()} at line {line}): containerlab "
                    "renders it with its variables before reading it; render it first and "
                    "import the result",
                    "fill in the {{ }} parts with the values of the _vars file next to it "
                    "(where containerlab takes them from) and import the result",
                )
            ]
        )


def _scalar_paths(text: str) -> list[tuple[int, int, str]]:
    """Return ``(start, end, path)`` (character offsets) of every scalar in a YAML text.

    Used only to name where an expanded variable sits. The text has already
    passed ``parse_text`` (size and depth bounded); each node is visited once,
    so aliases cannot make the walk grow.
    """
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return []
    out: list[tuple[int, int, str]] = []
    seen: set[int] = set()
    stack: list[tuple[Any, str]] = [(root, "")]
    while stack:
        node, path = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.ScalarNode):
            out.append((node.start_mark.index, node.end_mark.index, path or "$"))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((item, f"{path}[{k}]") for k, item in enumerate(node.value))
        elif isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                sub = f"{path}.{key.value}" if path else str(key.value)
                if isinstance(key, yaml.ScalarNode):
                    out.append((key.start_mark.index, key.end_mark.index, sub))
                stack.append((value, sub))
    return out


def _path_at(paths: list[tuple[int, int, str]], text: str, offset: int) -> str:
    best: tuple[int, str] | None = None
    for start, end, path in paths:
        if start <= offset <= end and (best is None or end - start < best[0]):
            best = (end - start, path)
    return best[1] if best is not None else f"line {_line_of(text, offset)}"


def _report_uses(report: _Report, text: str, uses: list[Use]) -> None:
    paths = _scalar_paths(text) if uses else []
    for use in uses:
        where = _path_at(paths, text, use.offset)
        if use.source == "env":
            report.warn(
                where,
                "clab.env_set",
                f"{use.expression} is {use.value!r}, from the environment given to the import",
            )
        elif use.source == "default":
            report.warn(
                where,
                "clab.env_default",
                f"{use.name} is not set, so {use.expression} gives {use.value!r}",
                f"set {use.name} when importing to use another value",
            )
        else:
            report.warn(
                where,
                "clab.env_unset",
                f"{use.name} is not set and {use.expression} has no default: it is left "
                "as written, as containerlab leaves it",
                f"give {use.name} a value when importing or write ${{{use.name}:-default}}",
            )


def _read(text: str, env: Mapping[str, str] | None, report: _Report) -> dict[str, Any]:
    _check_template(text)
    try:
        expanded, uses = substitute(text, env)
    except SubstitutionError as exc:
        raise TopologyError(
            [
                Issue(
                    "$",
                    "clab.env_syntax",
                    f"line {_line_of(text, exc.offset)}: {exc.message}",
                    "containerlab's variables are $VAR, ${VAR}, ${VAR:-default}, "
                    "${VAR:=default} and ${VAR:+other}; write $$ for a literal $",
                )
            ]
        ) from None
    try:
        data = parse_text(expanded, "yaml")
    except TopologyError as exc:
        _report_uses(report, expanded, uses)
        raise report.fail(exc.issues) from None
    _report_uses(report, expanded, uses)
    return data


# -- resolving inheritance -------------------------------------------------------------


@dataclass
class _Value:
    value: Any
    path: str


@dataclass
class _Resolved:
    """One node's settings after containerlab's precedence, each with where it was written."""

    name: str
    path: str
    kind: _Value | None
    group: str | None = None
    fields: dict[str, _Value] = field(default_factory=dict)
    exec: list[_Value] = field(default_factory=list)
    binds: list[_Value] = field(default_factory=list)
    maps: dict[str, dict[str, _Value]] = field(default_factory=dict)


def _section(topo: dict[str, Any], key: str, report: _Report) -> dict[str, Any]:
    value = topo.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        report.error(f"topology.{key}", "clab.bad_section", f"topology.{key} is not a mapping")
        return {}
    return value


def _level(spec: Any, path: str, report: _Report) -> dict[str, Any]:
    if spec is None:
        return {}
    if not isinstance(spec, dict):
        report.error(path, "clab.bad_node", f"{path} is not a mapping of node settings")
        return {}
    return spec


def _resolve(
    name: str,
    spec: dict[str, Any],
    kinds: dict[str, Any],
    groups: dict[str, Any],
    defaults: dict[str, Any],
    report: _Report,
) -> _Resolved:
    """Apply containerlab's precedence to one node: node, then group, then kind, then defaults."""
    npath = f"topology.nodes.{name}"

    def get(level: dict[str, Any], key: str) -> Any:
        value = level.get(key)
        return value if value not in (None, "") else None

    # The kind: the node's, its group's, the defaults' group's, the defaults'.
    group_name = get(spec, "group")
    kind: _Value | None = None
    if get(spec, "kind") is not None:
        kind = _Value(spec["kind"], f"{npath}.kind")
    else:
        for gname in (group_name, get(defaults, "group")):
            group = groups.get(gname) if isinstance(gname, str) else None
            if isinstance(group, dict) and get(group, "kind") is not None:
                kind = _Value(group["kind"], f"topology.groups.{gname}.kind")
                break
        if kind is None and get(defaults, "kind") is not None:
            kind = _Value(defaults["kind"], "topology.defaults.kind")
    kind_name = str(kind.value) if kind is not None else None
    kind_spec = kinds.get(kind_name) if kind_name is not None else None
    kind_level = kind_spec if isinstance(kind_spec, dict) else {}
    # The group: the node's, its kind's, the defaults'.
    group_path = f"{npath}.group"
    if group_name is None and get(kind_level, "group") is not None:
        group_name, group_path = kind_level["group"], f"topology.kinds.{kind_name}.group"
    elif group_name is None and get(defaults, "group") is not None:
        group_name, group_path = defaults["group"], "topology.defaults.group"
    group_spec = groups.get(group_name) if isinstance(group_name, str) else None
    if group_name is not None and not isinstance(group_spec, dict):
        report.warn(
            group_path,
            "clab.not_carried",
            f"group {group_name} of node {name} names no topology.groups entry; containerlab "
            "uses it only to sort nodes in graphs, and Topolab does not carry it",
        )
    group_level = group_spec if isinstance(group_spec, dict) else {}
    levels = [
        (spec, npath),
        (group_level, f"topology.groups.{group_name}"),
        (kind_level, f"topology.kinds.{kind_name}"),
        (defaults, "topology.defaults"),
    ]
    out = _Resolved(
        name=name,
        path=npath,
        kind=kind,
        group=str(group_name) if isinstance(group_spec, dict) else None,
    )
    for key in _MERGED_MAPS:
        merged: dict[str, _Value] = {}
        for level, lpath in reversed(levels):  # general first, specific overrides
            value = level.get(key)
            if isinstance(value, dict):
                for k, v in value.items():
                    merged[str(k)] = _Value(v, f"{lpath}.{key}.{k}")
            elif value is not None:
                report.error(f"{lpath}.{key}", "clab.bad_value", f"{lpath}.{key} is not a mapping")
        out.maps[key] = merged
    for key, into in (("exec", out.exec), ("binds", out.binds)):
        seen: set[str] = set()
        for level, lpath in reversed(levels):
            value = level.get(key)
            if value is None:
                continue
            if not isinstance(value, list):
                report.error(f"{lpath}.{key}", "clab.bad_value", f"{lpath}.{key} is not a list")
                continue
            for k, item in enumerate(value):
                text = item if isinstance(item, str) else repr(item)
                if text not in seen:  # containerlab merges the levels' lists without repeats
                    seen.add(text)
                    into.append(_Value(item, f"{lpath}.{key}[{k}]"))
    for level, lpath in levels:
        for key, value in level.items():
            key = str(key)
            if key not in NODE_KEYS:
                report.warn(
                    f"{lpath}.{key}",
                    "clab.unknown_key",
                    f"{key} is not a node setting containerlab knows (it would refuse the "
                    "file); not carried",
                    "check the spelling against containerlab's node settings",
                )
            elif key in _MERGED_MAPS or key in ("exec", "binds", "kind", "group"):
                continue
            elif key not in out.fields and value not in (None, ""):
                out.fields[key] = _Value(value, f"{lpath}.{key}")
    return out


# -- the document being built ----------------------------------------------------------


@dataclass
class _Iface:
    name: str
    origin: str
    alias: str | None = None
    addresses: list[_Value] = field(default_factory=list)
    mtu: _Value | None = None
    mac: _Value | None = None
    bridge: _Value | None = None


@dataclass
class _Bridge:
    name: str
    origin: str
    stp: bool = False
    mtu: _Value | None = None
    addresses: list[_Value] = field(default_factory=list)


def _put(
    entry: dict[str, Any],
    path: str,
    origins: dict[str, str],
    **fields: _Value | list[_Value] | None,
) -> None:
    """Set each field that has a value on ``entry``, recording where it came from."""
    for key, got in fields.items():
        if isinstance(got, list):
            if got:
                entry[key] = [g.value for g in got]
                for k, g in enumerate(got):
                    origins[f"{path}.{key}[{k}]"] = g.path
        elif got is not None:
            entry[key] = got.value
            origins[f"{path}.{key}"] = got.path


class _Draft:
    """A node being assembled, with where each value came from in the file."""

    def __init__(self, name: str, original: str, kind: str, path: str) -> None:
        self.name = name
        self.original = original
        self.kind = kind
        self.path = path
        self.ifaces: dict[str, _Iface] = {}
        self.bridges: dict[str, _Bridge] = {}
        self.routes: list[_Value] = []
        self.gateway: _Value | None = None
        self.gateway6: _Value | None = None
        self.forwarding: _Value | None = None
        self.stp = False
        self.position: dict[str, float] | None = None
        self.description = ""
        self.names: dict[str, str] = {}  # name in the file -> Topolab name
        self.skipped: dict[str, str] = {}  # name in the file -> path of its skipped link
        self.from_label: set[str] = set()  # names the topolab.interfaces label maps
        self.declared_bridges = False
        self.asked_kind: str | None = None
        self.files: list[_Value] = []  # {path, content} from binds, with the bind's path
        self.services: list[_Value] = []

    def device(self, name: str) -> str:
        """The Topolab name of the device the file calls ``name`` on this node."""
        return self.names.get(name, name)

    def ifname(self, name: str) -> str:
        """Map an interface name from the file to a kernel-valid, unique one (kept once made)."""
        if name in self.names:
            return self.names[name]
        taken = set(self.names.values()) | set(self.ifaces) | set(self.bridges)
        mapped = kernel_ifname(name, taken)
        self.names[name] = mapped
        return mapped

    def iface(self, name: str, origin: str) -> _Iface:
        if name not in self.ifaces:
            self.ifaces[name] = _Iface(name, origin)
        return self.ifaces[name]

    def emit(self, i: int, origins: dict[str, str]) -> dict[str, Any]:
        """Return the node as a document dict; record where each part came from."""
        base = f"nodes[{i}]"
        origins[base] = self.path
        node: dict[str, Any] = {"name": self.name, "kind": self.kind}
        for j, iface in enumerate(self.ifaces.values()):
            ipath = f"{base}.interfaces[{j}]"
            origins[ipath] = iface.origin
            entry: dict[str, Any] = {"name": iface.name}
            if iface.alias:
                entry["alias"] = iface.alias
            _put(entry, ipath, origins, addresses=iface.addresses, mtu=iface.mtu)
            _put(entry, ipath, origins, mac=iface.mac, bridge=iface.bridge)
            node.setdefault("interfaces", []).append(entry)
        for k, br in enumerate(self.bridges.values()):
            bpath = f"{base}.bridges[{k}]"
            origins[bpath] = br.origin
            bentry: dict[str, Any] = {"name": br.name, "stp": True} if br.stp else {"name": br.name}
            _put(bentry, bpath, origins, mtu=br.mtu, addresses=br.addresses)
            node.setdefault("bridges", []).append(bentry)
        if self.routes:
            node["routes"] = [r.value for r in self.routes]
            for k, r in enumerate(self.routes):
                origins[f"{base}.routes[{k}]"] = r.path
        for key in ("gateway", "gateway6", "forwarding"):
            got = getattr(self, key)
            if got is not None:
                node[key] = got.value
                origins[f"{base}.{key}"] = got.path
        if self.stp:
            node["stp"] = True
        if self.position is not None:
            node["position"] = self.position
        if self.description:
            node["description"] = self.description
        for key, got in (("files", self.files), ("services", self.services)):
            if got:
                node[key] = [g.value for g in got]
                for k, g in enumerate(got):
                    origins[f"{base}.{key}[{k}]"] = g.path
        return node


def _parse_labels(draft: _Draft, labels: dict[str, _Value], report: _Report) -> None:
    """Apply Topolab's own labels; warn about the others."""
    for key, got in labels.items():
        text = str(got.value)
        if key == LABEL_KIND and text in ("host", "router", "switch"):
            draft.asked_kind = text
        elif key == LABEL_STP:
            draft.stp = text.lower() in ("1", "true", "yes", "on")
        elif key == LABEL_DESCRIPTION:
            draft.description = text
        elif key == LABEL_BRIDGES and text == "declared":
            draft.declared_bridges = True
        elif key == LABEL_GENERATED and text == "image":
            continue  # the image it speaks of is not reported as lost
        elif key == LABEL_POSITION:
            try:
                x, y = (float(v) for v in text.split(","))
                draft.position = {"x": x, "y": y}
            except ValueError:
                report.warn(
                    got.path,
                    "clab.bad_label",
                    f"label {key} of node {draft.original} is {text!r}, not 'x,y'",
                )
        elif key in (LABEL_ADDRESSES, LABEL_INTERFACES, LABEL_ALIASES):
            continue  # applied once the node's interfaces are known
        else:
            report.warn(
                got.path,
                "clab.not_carried",
                f"label {key} of node {draft.original} is not carried",
            )


def _pairs(draft: _Draft, got: _Value, report: _Report, what: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for item in str(got.value).replace(";", ",").split(","):
        left, sep, right = item.strip().partition("=")
        if not sep or not left or not right:
            report.warn(
                got.path,
                "clab.bad_label",
                f"label of node {draft.original}: {item.strip()!r} is not {what}",
            )
            continue
        out.append((left.strip(), right.strip()))
    return out


def _name_labels(draft: _Draft, labels: dict[str, _Value], report: _Report) -> None:
    """Apply the interface renames a Topolab export wrote (before links are read)."""
    got = labels.get(LABEL_INTERFACES)
    if got is None:
        return
    for clab_name, name in _pairs(draft, got, report, "CONTAINERLAB_NAME=TOPOLAB_NAME"):
        if check_ifname(name) or name in draft.names.values():
            report.warn(
                got.path,
                "clab.bad_label",
                f"label {LABEL_INTERFACES} of node {draft.original} maps {clab_name} to "
                f"{name!r}, which is not a free interface name",
            )
            continue
        draft.names[clab_name] = name
        draft.from_label.add(clab_name)


def _late_labels(draft: _Draft, labels: dict[str, _Value], report: _Report) -> None:
    """Apply addresses and aliases from labels once the interfaces exist."""
    got = labels.get(LABEL_ADDRESSES)
    if got is not None:
        for dev, addr in _pairs(draft, got, report, "IFNAME=ADDRESS/PREFIX"):
            try:
                address = str(ip_interface(addr))
            except ValueError:
                report.warn(
                    got.path,
                    "clab.bad_label",
                    f"label {LABEL_ADDRESSES} of node {draft.original}: {addr!r} is not "
                    "an address with a prefix",
                    "write e.g. eth1=10.0.0.1/24,eth2=10.0.1.1/24",
                )
                continue
            _add_address(draft, dev, _Value(address, got.path), report)
    got = labels.get(LABEL_ALIASES)
    if got is not None:
        for name, alias in _pairs(draft, got, report, "IFNAME=ALIAS"):
            iface = draft.ifaces.get(draft.device(name))
            if iface is None:
                report.warn(
                    got.path,
                    "clab.bad_label",
                    f"label {LABEL_ALIASES} of node {draft.original} names {name}, which no "
                    "link makes",
                )
            else:
                iface.alias = alias


# -- nodes -----------------------------------------------------------------------------


def _node_kind(res: _Resolved, report: _Report) -> str:
    if res.kind is None:
        report.warn(
            res.path,
            "clab.no_kind",
            f"node {res.name} has no kind here, in its group or in defaults (containerlab "
            "needs one); it is read as linux",
        )
        return "host"
    kind = str(res.kind.value)
    where = "" if res.kind.path.startswith(res.path) else f" (from {res.kind.path})"
    if kind == "linux":
        return "host"
    if kind == "bridge":
        report.warn(
            res.kind.path,
            "clab.host_bridge",
            f"node {res.name} has kind bridge{where}: in containerlab that is a Linux bridge "
            "that must already exist on the host; Topolab makes it a switch in its own "
            "namespace instead and never touches the host",
        )
        return "switch"
    if kind == "ovs-bridge":
        report.warn(
            res.kind.path,
            "clab.kind_changed",
            f"node {res.name} is an Open vSwitch bridge{where} on the host; it becomes a "
            "Linux bridge in a namespace of its own",
        )
        return "switch"
    report.warn(
        res.kind.path,
        "clab.kind_unsupported",
        f"node {res.name} has kind {kind}{where}, which Topolab cannot run; it becomes a "
        "plain host namespace",
        "configure it by hand after import",
    )
    return "host"


_NotCarried = dict[str, tuple[Any, list[str]]]  # path -> (value, nodes using it)


# Images of FRR's own containers: a node running one gets the frr service.
FRR_IMAGES = ("frrouting/frr", "quay.io/frrouting/frr", "docker.io/frrouting/frr")

# Reads a bind's host path (relative to the .clab.yml's folder); None when it cannot.
BindReader = Callable[[str], str | None]


def is_frr_image(image: object) -> bool:
    """Whether ``image`` (``frrouting/frr:v8.4.1``, ``quay.io/frrouting/frr@...``) is FRR's."""
    if not isinstance(image, str):
        return False
    name = re.split(r"[@:]", image.rsplit("/", 1)[-1], maxsplit=1)[0]
    repo = image.rsplit("/", 1)[0] + "/" + name if "/" in image else name
    return repo in FRR_IMAGES


def _node_fields(
    draft: _Draft,
    res: _Resolved,
    clab_kind: str,
    into: _NotCarried,
    read: BindReader | None,
    report: _Report,
) -> None:
    """Collect the settings that are not carried, per path (a shared path lists its nodes).

    An FRR image becomes the node's frr service (and the node a router); a bind of a
    file ``read`` can read becomes a node file.
    """
    for key, got in res.fields.items():
        if key == "image" and (clab_kind in _SWITCH_KINDS or _generated(got, res)):
            continue
        if key == "image" and clab_kind == "linux" and is_frr_image(got.value):
            draft.services.append(_Value("frr", got.path))
            if draft.kind == "host":
                draft.kind = "router"
            continue
        into.setdefault(got.path, (got.value, []))[1].append(draft.original)
    for got in res.binds:
        if not _bind(draft, got, read, report):
            into.setdefault(got.path, (got.value, []))[1].append(draft.original)
    for got in res.maps["env"].values():
        into.setdefault(got.path, (got.value, []))[1].append(draft.original)


def _bind(draft: _Draft, got: _Value, read: BindReader | None, report: _Report) -> bool:
    """Make bind ``host:container[:options]`` a node file; False when it stays a warning."""
    if read is None or not isinstance(got.value, str):
        return False
    host, sep, rest = got.value.partition(":")
    container = rest.split(":", 1)[0]
    if not sep or not host or not container:
        return False
    problem = node_file_problem(container)
    if problem is not None:
        report.warn(
            got.path,
            "clab.bind_not_a_node_file",
            f"bind {got.value} of node {draft.original}: {problem[1]}",
            "node files live under /etc/<package>/, /tmp, /run or /root",
        )
        return True  # said why here; not also "not carried"
    text = read(host)
    if text is None:
        return False
    draft.files.append(_Value({"path": container, "content": text}, got.path))
    return True


def _report_not_carried(into: _NotCarried, report: _Report) -> None:
    for path, (value, users) in into.items():
        key = re.sub(r"\[\d+\]$", "", path).rsplit(".", 1)[-1]
        if ".binds[" in path:
            what, hint = (
                "bind",
                (
                    "a bind of a file in the .clab.yml's folder becomes a node file when the "
                    "file is deployed from that folder (manage.py topolab deploy DIR/lab.clab.yml)"
                ),
            )
        elif ".env." in path:
            what, hint = f"env variable {key}", ""
        else:
            what, hint = key, ""
        whose = (
            f"of node {users[0]}"
            if path.startswith("topology.nodes.")
            else f"(applies to node{'s' if len(users) > 1 else ''} {', '.join(users)})"
        )
        report.warn(
            path,
            "clab.not_carried",
            f"{what}{_shown(value)} {whose} is not carried: Topolab nodes are network "
            "namespaces, not containers",
            hint,
        )


def _report_unused(
    kinds: dict[str, Any],
    groups: dict[str, Any],
    used: Any,
    report: _Report,
) -> None:
    """Name the kinds and groups entries that apply to no node: nothing carries them."""
    used_kinds = {str(r.kind.value) for r, _ in used if r.kind is not None}
    used_groups = {r.group for r, _ in used if r.group is not None}
    for section, names, have in (("kinds", kinds, used_kinds), ("groups", groups, used_groups)):
        for name in names:
            if str(name) not in have:
                report.warn(
                    f"topology.{section}.{name}",
                    "clab.unused",
                    f"topology.{section}.{name} applies to no node; nothing of it is carried",
                )


def _generated(got: _Value, res: _Resolved) -> bool:
    """Whether the image is the stand-in a Topolab export wrote (and said so in a label)."""
    label = res.maps["labels"].get(LABEL_GENERATED)
    return label is not None and str(label.value) == "image" and got.value == EXPORT_IMAGE


def _sysctls(draft: _Draft, res: _Resolved, report: _Report) -> None:
    for key, got in res.maps["sysctls"].items():
        forwarding = cx.SetSysctl(key, str(got.value)).forwarding
        if forwarding is None:
            report.warn(
                got.path,
                "clab.not_carried",
                f"sysctl {key}={got.value} of node {draft.original} is not carried; "
                "Topolab sets only IP forwarding",
            )
        else:
            draft.forwarding = _Value(forwarding, got.path)


# -- links -----------------------------------------------------------------------------


@dataclass
class _Link:
    doc: dict[str, Any]
    path: str
    ends: dict[str, str]  # document field -> path in the file


def _endpoint(raw: Any, path: str, report: _Report) -> tuple[str, str, dict[str, Any]] | None:
    """Return (node, interface, extras) of an endpoint in either form, or report it."""
    if isinstance(raw, str):
        node, sep, iface = raw.partition(":")
        if sep and node and iface:
            return node, iface, {}
        report.error(path, "clab.bad_endpoint", f"{path} is {raw!r}, not 'node:interface'")
        return None
    if isinstance(raw, dict):
        got_node, got_iface = raw.get("node"), raw.get("interface")
        if isinstance(got_node, str) and got_node and isinstance(got_iface, str) and got_iface:
            for key in raw:
                if key not in _ENDPOINT_KEYS:
                    report.warn(
                        f"{path}.{key}",
                        "clab.unknown_key",
                        f"{key} is not an endpoint setting containerlab knows; not carried",
                    )
            return got_node, got_iface, raw
    report.error(
        path,
        "clab.bad_endpoint",
        f"{path} is not an endpoint: write 'node:interface' or a mapping with node and interface",
    )
    return None


class _Importer:
    def __init__(self, report: _Report) -> None:
        self.report = report
        self.drafts: dict[str, _Draft] = {}  # by the name in the file
        self.links: list[_Link] = []

    def draft(self, node: str, path: str) -> _Draft | None:
        found = self.drafts.get(node)
        if found is None:
            known = ", ".join(sorted(self.drafts)) or "none"
            self.report.error(
                path,
                "clab.unknown_node",
                f"{path} names node {node}, which the topology does not have (containerlab "
                "refuses such a link)",
                f"known nodes: {known}",
            )
        return found

    def end(self, draft: _Draft, name: str, path: str, extras: dict[str, Any]) -> str:
        """Create the interface a link end names; return its Topolab name."""
        mapped = draft.ifname(name)
        if mapped in draft.ifaces:
            return mapped  # the validator reports an interface on two links
        iface = draft.iface(mapped, path)
        if mapped != name and name not in draft.from_label:
            iface.alias = name
            self.report.warn(
                path,
                "clab.interface_renamed",
                f"interface {name} of node {draft.original} becomes {mapped}: the kernel "
                "refuses it as a name (at most 15 characters, no '/', ':' or spaces); the "
                "original is kept as the interface's alias",
            )
        mac = extras.get("mac")
        if mac is not None:
            iface.mac = _Value(str(mac), f"{path}.mac")
        for family in ("ipv4", "ipv6"):
            if family not in extras:
                continue
            value = extras[family]
            try:
                address = ip_interface(str(value))
                if address.version != int(family[-1]) or "/" not in str(value):
                    raise ValueError
            except ValueError:
                self.report.error(
                    f"{path}.{family}",
                    "clab.bad_value",
                    f"{family} of {path} is {value!r}, not an IPv{family[-1]} address with "
                    "a prefix length",
                    "for example 10.0.0.1/24",
                )
                continue
            iface.addresses.append(_Value(str(address), f"{path}.{family}"))
        if "vars" in extras:
            self.report.warn(
                f"{path}.vars",
                "clab.not_carried",
                f"vars of {path} are not carried (containerlab uses them only in templates)",
            )
        return mapped

    def link(self, li: int, raw: Any) -> None:
        path = f"topology.links[{li}]"
        report = self.report
        if not isinstance(raw, dict):
            report.error(path, "clab.bad_link", f"{path} is not a mapping")
            return
        ltype = raw.get("type")
        if ltype is None:
            kind = "veth"  # the brief form
        elif not isinstance(ltype, str) or ltype.strip().lower() not in LINK_TYPES:
            report.error(
                f"{path}.type",
                "clab.link_type",
                f"{path} has type {ltype!r}, which containerlab does not know and refuses",
                "the link types are " + ", ".join(LINK_TYPES),
            )
            return
        else:
            kind = ltype.strip().lower()
        for key in raw:
            if key not in _LINK_KEYS[kind]:
                report.warn(
                    f"{path}.{key}",
                    "clab.unknown_key",
                    f"{key} is not a setting of a {kind} link containerlab knows; not carried",
                )
        for key in ("vars", "labels"):
            if key in raw:
                report.warn(
                    f"{path}.{key}",
                    "clab.not_carried",
                    f"{key} of {path} are not carried (containerlab uses them only in templates)",
                )
        mtu = raw.get("mtu")
        if mtu is not None and (not isinstance(mtu, int) or isinstance(mtu, bool)):
            report.error(
                f"{path}.mtu",
                "clab.bad_value",
                f"the MTU of {path} is {mtu!r}, not a whole number (containerlab refuses it)",
            )
            mtu = None
        if kind == "veth":
            self.veth(path, raw, mtu)
        elif kind in ("vxlan", "vxlan-stitch"):
            self.vxlan(path, raw, kind, mtu)
        elif kind == "dummy":
            self.dummy(path, raw, mtu)
        else:
            self.skipped(path, raw, kind)

    def veth(self, path: str, raw: dict[str, Any], mtu: int | None) -> None:
        report = self.report
        eps = raw.get("endpoints")
        if not isinstance(eps, list) or len(eps) != 2:
            report.error(
                f"{path}.endpoints",
                "clab.bad_link",
                f"{path} needs exactly two endpoints",
                'write endpoints: ["node1:eth1", "node2:eth1"]',
            )
            return
        parsed = [_endpoint(e, f"{path}.endpoints[{k}]", report) for k, e in enumerate(eps)]
        if any(p is None for p in parsed):
            return
        ends = [p for p in parsed if p is not None]
        special = [e for e in ends if e[0] in _SPECIAL_ENDPOINTS and e[0] not in self.drafts]
        if special:
            node, iface, _ = special[0]
            others = [e for e in ends if e is not special[0]]
            what = {"host": "host", "mgmt-net": "mgmt-net", "macvlan": "macvlan"}[node]
            self.skip(path, others, what, f"{node}:{iface}")
            return
        drafts = [self.draft(e[0], f"{path}.endpoints[{k}]") for k, e in enumerate(ends)]
        if any(d is None for d in drafts):
            return
        names: list[str] = []
        for k, (draft, (_, iface, extras)) in enumerate(zip(drafts, ends, strict=True)):
            assert draft is not None
            names.append(f"{draft.name}:{self.end(draft, iface, f'{path}.endpoints[{k}]', extras)}")
        doc: dict[str, Any] = {"kind": "veth", "a": names[0], "b": names[1]}
        link_ends = {"a": f"{path}.endpoints[0]", "b": f"{path}.endpoints[1]"}
        if mtu is not None:
            doc["mtu"] = mtu
            link_ends["mtu"] = f"{path}.mtu"
        self.links.append(_Link(doc, path, link_ends))

    def vxlan(self, path: str, raw: dict[str, Any], kind: str, mtu: int | None) -> None:
        report = self.report
        ep = _endpoint(raw.get("endpoint"), f"{path}.endpoint", report)
        remote, vni, port = raw.get("remote"), raw.get("vni"), raw.get("udp-port")
        ok = ep is not None
        if not isinstance(vni, int) or isinstance(vni, bool):
            report.error(f"{path}.vni", "clab.bad_value", f"{path} needs a numeric vni")
            ok = False
        if port is not None and (not isinstance(port, int) or isinstance(port, bool)):
            report.error(
                f"{path}.udp-port", "clab.bad_value", f"udp-port of {path} is not a number"
            )
            ok = False
        if not isinstance(remote, str) or not remote:
            report.error(f"{path}.remote", "clab.bad_value", f"{path} needs a remote address")
            ok = False
        if not ok or ep is None:
            return
        draft = self.draft(ep[0], f"{path}.endpoint")
        if draft is None:
            return
        try:
            ip_address(str(remote))
        except ValueError:
            report.warn(
                f"{path}.remote",
                "clab.link_skipped",
                f"remote {remote} of {path} is a host name, which containerlab looks up on the "
                "host; Topolab needs an address: the link is skipped",
                "write the remote VTEP's address",
            )
            draft.skipped[ep[1]] = path
            return
        name = self.end(draft, ep[1], f"{path}.endpoint", ep[2])
        if mtu is not None:
            draft.ifaces[name].mtu = _Value(mtu, f"{path}.mtu")
        doc = {
            "kind": "vxlan",
            "endpoint": f"{draft.name}:{name}",
            "vni": vni,
            "remote": remote,
            "dstport": port if port is not None else VXLAN_DEFAULT_PORT,
        }
        link_ends = {
            "endpoint": f"{path}.endpoint",
            "vni": f"{path}.vni",
            "remote": f"{path}.remote",
            "dstport": f"{path}.udp-port" if port is not None else path,
        }
        self.links.append(_Link(doc, path, link_ends))
        stitched = (
            "; containerlab's stitch (a veth to the host joined to a vxlan by tc rules) "
            "becomes a vxlan device in the node"
            if kind == "vxlan-stitch"
            else ""
        )
        report.warn(
            path,
            "clab.vxlan_underlay",
            f"{path} is a vxlan to {remote}: containerlab makes it in the host's namespace over "
            f"the host's network; Topolab makes it in node {draft.original}, so {remote} must be "
            f"reachable from that node inside the lab{stitched}",
        )
        if "parent-interface" in raw:
            report.warn(
                f"{path}.parent-interface",
                "clab.not_carried",
                f"parent-interface of {path} is a host interface; not carried",
            )

    def skip(
        self, path: str, ends: list[tuple[str, str, dict[str, Any]]], what: str, host_if: str
    ) -> None:
        reasons = {
            "host": "joins the node to the container host's namespace",
            "mgmt-net": "joins the node to containerlab's management network on the host",
            "macvlan": "hangs a macvlan off an interface of the container host",
        }
        names = []
        for node, iface, _ in ends:
            draft = self.drafts.get(node)
            if draft is None:
                self.draft(node, path)
                continue
            draft.skipped[iface] = path
            names.append(f"{node}:{iface}")
        tail = f" ({host_if})" if host_if else ""
        gone = " and ".join(names) or "its interface"
        self.report.warn(
            path,
            "clab.link_skipped",
            f"{path} is a {what} link that {reasons[what]}{tail}; Topolab labs never touch "
            f"the host: skipped, so {gone} will not exist",
            "draw the equivalent link between lab nodes in the editor",
        )

    def dummy(self, path: str, raw: dict[str, Any], mtu: int | None) -> None:
        ep = _endpoint(raw.get("endpoint"), f"{path}.endpoint", self.report)
        draft = self.draft(ep[0], f"{path}.endpoint") if ep is not None else None
        if ep is None or draft is None:
            return
        name = self.end(draft, ep[1], f"{path}.endpoint", ep[2])
        if mtu is not None:
            draft.ifaces[name].mtu = _Value(mtu, f"{path}.mtu")
        doc = {"kind": "dummy", "endpoint": f"{draft.name}:{name}"}
        self.links.append(_Link(doc, path, {"endpoint": f"{path}.endpoint"}))

    def skipped(self, path: str, raw: dict[str, Any], kind: str) -> None:
        ep = _endpoint(raw.get("endpoint"), f"{path}.endpoint", self.report)
        if ep is None:
            return
        host_if = raw.get("host-interface")
        self.skip(path, [ep], kind, f"host interface {host_if}" if host_if else "")


# -- exec lines ------------------------------------------------------------------------


def _add_address(draft: _Draft, dev_in_file: str, address: _Value, report: _Report) -> bool:
    dev = draft.device(dev_in_file)
    if dev in draft.bridges:
        draft.bridges[dev].addresses.append(address)
        return True
    if dev in draft.ifaces:
        draft.ifaces[dev].addresses.append(address)
        return True
    _no_device(draft, dev_in_file, address.path, report)
    return False


def _no_device(draft: _Draft, dev: str, path: str, report: _Report) -> None:
    skipped = draft.skipped.get(dev)
    if skipped is not None:
        report.warn(
            path,
            "clab.exec_on_skipped_link",
            f"an exec line of node {draft.original} sets up {dev}, whose link {skipped} was "
            "skipped; nothing carries it",
        )
    elif dev == "lo":
        report.warn(
            path,
            "clab.exec_no_device",
            f"an exec line of node {draft.original} sets up the loopback device; Topolab carries "
            "only the interfaces links make, so this is not carried",
            "make a dummy device for it: ip link add lo1 type dummy",
        )
    else:
        report.warn(
            path,
            "clab.exec_no_device",
            f"an exec line of node {draft.original} names device {dev}, which no link or exec line "
            "of the node makes; not carried",
        )


def _apply(draft: _Draft, imp: _Importer, command: cx.Command, path: str, report: _Report) -> None:
    """Apply one understood exec step to ``draft``; report the steps it cannot carry."""
    if isinstance(command, cx.Nothing):
        return
    if isinstance(command, cx.NotUnderstood):
        report.warn(
            path,
            "clab.exec_not_understood",
            f"an exec line of node {draft.original}: {command.text!r} is not carried: "
            f"{command.reason}",
            "Topolab understands ip address/link/route commands and the forwarding sysctls; "
            "set the rest in the editor",
        )
        return
    if isinstance(command, cx.AddAddress):
        _add_address(draft, command.dev, _Value(command.address, path), report)
    elif isinstance(command, cx.SetLink):
        _set_link(draft, command, path, report)
    elif isinstance(command, cx.AddBridge):
        bridge = draft.ifname(command.name)
        br = draft.bridges.setdefault(bridge, _Bridge(bridge, path))
        if command.stp is not None:
            br.stp = command.stp
        if command.mtu is not None:
            br.mtu = _Value(command.mtu, path)
    elif isinstance(command, cx.AddVxlan):
        _add_vxlan(draft, imp, command, path, report)
    elif isinstance(command, cx.AddDummy):
        name = _new_device(draft, command.name, command.mtu, path, report)
        if name is not None:
            doc = {"kind": "dummy", "endpoint": f"{draft.name}:{name}"}
            imp.links.append(_Link(doc, path, {"endpoint": path}))
    elif isinstance(command, cx.AddRoute):
        _add_route(draft, command, path, report)
    elif isinstance(command, cx.DeleteRoute):
        _delete_route(draft, command)
    elif isinstance(command, cx.SetSysctl):
        forwarding = command.forwarding
        if forwarding is None:
            report.warn(
                path,
                "clab.exec_not_understood",
                f"an exec line of node {draft.original}: sysctl {command.key}={command.value} is "
                "not carried; Topolab sets only IP forwarding",
            )
        else:
            draft.forwarding = _Value(forwarding, path)


def _set_link(draft: _Draft, command: cx.SetLink, path: str, report: _Report) -> None:
    dev = draft.device(command.dev)
    if dev in draft.bridges:
        br = draft.bridges[dev]
        if command.stp is not None:
            br.stp = command.stp
        if command.mtu is not None:
            br.mtu = _Value(command.mtu, path)
        if command.mac is not None or command.master is not None:
            report.warn(
                path,
                "clab.exec_not_understood",
                f"an exec line of node {draft.original}: Topolab sets no MAC or master on "
                f"bridge {dev}",
            )
        return
    iface = draft.ifaces.get(dev)
    if iface is None or command.stp is not None:
        if iface is None:
            _no_device(draft, command.dev, path, report)
        else:
            report.warn(
                path,
                "clab.exec_not_understood",
                f"an exec line of node {draft.original}: {dev} is not a bridge; stp_state is "
                "not carried",
            )
        return
    if command.mtu is not None:
        iface.mtu = _Value(command.mtu, path)
    if command.mac is not None:
        iface.mac = _Value(command.mac, path)
    if command.nomaster:
        iface.bridge = None
    if command.master is not None:
        master = draft.device(command.master)
        if master in draft.bridges:
            iface.bridge = _Value(master, path)
        else:
            report.warn(
                path,
                "clab.exec_no_device",
                f"an exec line of node {draft.original} makes {dev} a port of {command.master}, "
                "which no earlier exec line of the node creates as a bridge; not carried",
            )


def _new_device(
    draft: _Draft, name_in_file: str, mtu: int | None, path: str, report: _Report
) -> str | None:
    """Make the interface an exec line creates; None (and a warning) if it already exists."""
    name = draft.ifname(name_in_file)
    if name in draft.ifaces:
        report.warn(
            path,
            "clab.exec_not_understood",
            f"an exec line of node {draft.original} makes {name_in_file}, which a link already "
            "makes",
        )
        return None
    iface = draft.iface(name, path)
    if mtu is not None:
        iface.mtu = _Value(mtu, path)
    return name


def _add_vxlan(
    draft: _Draft, imp: _Importer, command: cx.AddVxlan, path: str, report: _Report
) -> None:
    name = _new_device(draft, command.name, command.mtu, path, report)
    if name is None:
        return
    doc: dict[str, Any] = {
        "kind": "vxlan",
        "endpoint": f"{draft.name}:{name}",
        "vni": command.vni,
        "dstport": command.dstport if command.dstport is not None else IPROUTE_VXLAN_PORT,
    }
    for key in ("remote", "group", "local", "ttl"):
        value = getattr(command, key)
        if value is not None:
            doc[key] = value
    if command.dev is not None:
        doc["underlay"] = draft.device(command.dev)
    if not command.learning:
        doc["learning"] = False
    imp.links.append(_Link(doc, path, {k: path for k in doc}))


def _add_route(draft: _Draft, command: cx.AddRoute, path: str, report: _Report) -> None:
    dev = draft.device(command.dev) if command.dev is not None else None
    if dev is not None and dev not in draft.ifaces and dev not in draft.bridges:
        _no_device(draft, command.dev or dev, path, report)
        return
    if command.dst == "default" and command.via is not None and dev is None and not command.metric:
        if command.family == 4 and draft.gateway is None:
            draft.gateway = _Value(command.via, path)
            return
        if command.family == 6 and draft.gateway6 is None:
            draft.gateway6 = _Value(command.via, path)
            return
    dst = command.dst if command.dst != "default" or command.family == 4 else "default6"
    route: dict[str, Any] = {"dst": dst}
    if command.via is not None:
        route["via"] = command.via
    if dev is not None:
        route["dev"] = dev
    if command.metric is not None:
        route["metric"] = command.metric
    draft.routes.append(_Value(route, path))


def _delete_route(draft: _Draft, command: cx.DeleteRoute) -> None:
    # containerlab nodes start with a default route into the management network, and
    # files delete it before adding their own; a Topolab node has none, so deleting
    # what is not there is a no-op, as it should be.
    if command.dst == "default":
        if command.family == 4:
            draft.gateway = None
        else:
            draft.gateway6 = None
    dst = command.dst if command.dst != "default" or command.family == 4 else "default6"
    draft.routes = [r for r in draft.routes if r.value["dst"] != dst]


def _exec(draft: _Draft, imp: _Importer, res: _Resolved, clab_kind: str, report: _Report) -> None:
    for got in res.exec:
        if not isinstance(got.value, str):
            report.warn(
                got.path,
                "clab.exec_not_understood",
                f"an exec line of node {draft.original} is not a command line; not carried",
            )
            continue
        if clab_kind in _SWITCH_KINDS:
            report.warn(
                got.path,
                "clab.exec_not_understood",
                f"an exec line of node {draft.original} is not carried: containerlab runs no "
                f"exec lines on a {clab_kind} node",
            )
            continue
        for command in cx.parse_exec(got.value):
            _apply(draft, imp, command, got.path, report)


def _finish(draft: _Draft) -> None:
    if draft.asked_kind is not None:
        draft.kind = draft.asked_kind
    if draft.kind == "router" and draft.forwarding is not None and draft.forwarding.value:
        draft.forwarding = None  # a router forwards anyway
    if draft.kind == "switch" and not draft.declared_bridges and list(draft.bridges) == ["br0"]:
        # A Topolab export spells out a switch's implicit bridge br0; fold it back.
        br = draft.bridges["br0"]
        if br.mtu is None and not br.addresses:
            draft.stp = draft.stp or br.stp
            del draft.bridges["br0"]
            for iface in draft.ifaces.values():
                if iface.bridge is not None and iface.bridge.value == "br0" and not iface.addresses:
                    iface.bridge = None


# -- putting it together ---------------------------------------------------------------


def _map_path(path: str, origins: dict[str, str]) -> str:
    probe = path
    while probe:
        if probe in origins:
            return origins[probe]
        cut = max(probe.rfind("."), probe.rfind("["))
        probe = probe[:cut] if cut > 0 else ""
    return origins.get(path, "$")


def _map_issue(issue: Issue, origins: dict[str, str]) -> Issue:
    def sub(match: re.Match[str]) -> str:
        return _map_path(match.group(), origins)

    return Issue(
        _map_path(issue.path, origins),
        issue.code,
        _CONVERTED_PATH.sub(sub, issue.message),
        issue.hint,
    )


def import_clab(
    text: str | bytes,
    env: Mapping[str, str] | None = None,
    limits: Limits | None = None,
    read_bind: BindReader | None = None,
) -> tuple[Topology, list[Issue]]:
    """Turn a containerlab topology file into a validated Topolab topology.

    ``env`` holds the variables ``${VAR}`` expressions may use (none by
    default; the process environment is never read). ``read_bind`` reads a
    bind's host path (relative to the file's folder; None when it cannot): a
    bind it reads becomes a node file (none by default). Returns the topology and
    one warning per thing not carried or changed, each with its path in the
    file.

    Raises:
        TopologyError: when the file is a Go template, not YAML, not a
            containerlab file (no ``topology.nodes`` mapping), something
            containerlab itself refuses, or converts to a lab that does not
            validate; the issue paths name places in the file and
            ``warnings`` holds what was found before the failure.
    """
    report = _Report()
    data = _read(_decode(text), env, report)
    topo = data.get("topology")
    if not isinstance(topo, dict) or not isinstance(topo.get("nodes"), dict):
        report.error(
            "topology.nodes",
            "clab.no_nodes",
            "a containerlab file has a topology.nodes mapping; this one does not",
            "check that this is a containerlab topology file",
        )
        raise report.fail()
    for key in data:
        if key in ("prefix", "mgmt", "settings"):
            what = {
                "prefix": "the container name prefix",
                "mgmt": "the management network",
                "settings": "containerlab's global settings",
            }[key]
            report.warn(
                str(key),
                "clab.not_carried",
                f"{key} is not carried: it is {what}, which Topolab labs do not have",
            )
        elif key not in _TOP_KEYS:
            report.warn(
                str(key),
                "clab.unknown_key",
                f"{key} is not a top-level key containerlab knows (it would refuse the file); "
                "not carried",
            )
    for key in topo:
        if key not in _TOPOLOGY_KEYS:
            report.warn(
                f"topology.{key}",
                "clab.unknown_key",
                f"topology.{key} is not a section containerlab knows; not carried",
            )
    name = data.get("name")
    if isinstance(name, int | float) and not isinstance(name, bool):
        name = str(name)  # containerlab reads "name: 2024" as the text it is
    if not isinstance(name, str) or not name:
        report.warn("name", "clab.no_name", "the file has no name; using 'clab-import'")
        name = "clab-import"
    kinds = _section(topo, "kinds", report)
    groups = _section(topo, "groups", report)
    defaults = _level(topo.get("defaults"), "topology.defaults", report)

    imp = _Importer(report)
    resolved: dict[str, tuple[_Resolved, str]] = {}
    originals = [str(n) for n in topo["nodes"]]
    taken = {n for n in originals if n == node_name_for(n)}
    not_carried: _NotCarried = {}
    for original, spec in zip(originals, topo["nodes"].values(), strict=True):
        npath = f"topology.nodes.{original}"
        res = _resolve(original, _level(spec, npath, report), kinds, groups, defaults, report)
        clab_kind = str(res.kind.value) if res.kind is not None else "linux"
        node_name = original if original in taken else node_name_for(original, taken)
        taken.add(node_name)
        draft = _Draft(node_name, original, _node_kind(res, report), npath)
        if node_name != original:
            draft.description = f"containerlab name: {original}"
            report.warn(
                npath,
                "clab.node_renamed",
                f"node {original} becomes {node_name}: a node name holds only ASCII letters, "
                "digits, '-', '_' and '.' (at most 32); the original is kept in its description",
            )
        description = draft.description
        _parse_labels(draft, res.maps["labels"], report)
        if description and draft.description != description:
            draft.description = f"{description}\n{draft.description}"
        _name_labels(draft, res.maps["labels"], report)
        _sysctls(draft, res, report)
        _node_fields(draft, res, clab_kind, not_carried, read_bind, report)
        imp.drafts[original] = draft
        resolved[original] = (res, clab_kind)
    _report_not_carried(not_carried, report)
    _report_unused(kinds, groups, resolved.values(), report)

    raw_links = topo.get("links")
    if raw_links is not None and not isinstance(raw_links, list):
        report.error("topology.links", "clab.bad_link", "topology.links is not a list")
        raw_links = []
    for li, raw in enumerate(raw_links or []):
        imp.link(li, raw)
    for original, draft in imp.drafts.items():
        res, clab_kind = resolved[original]
        _exec(draft, imp, res, clab_kind, report)
        _late_labels(draft, res.maps["labels"], report)
        _finish(draft)
    if report.errors:
        raise report.fail()

    origins: dict[str, str] = {"name": "name"}
    doc: dict[str, Any] = {
        "name": name,
        "nodes": [d.emit(i, origins) for i, d in enumerate(imp.drafts.values())],
        "links": [],
    }
    for li, link in enumerate(imp.links):
        origins[f"links[{li}]"] = link.path
        for fld, where in link.ends.items():
            origins[f"links[{li}].{fld}"] = where
        doc["links"].append(link.doc)
    try:
        topology = Topology.model_validate(doc)
    except ValidationError as exc:
        issues = issues_from_validation_error(exc, doc)
        raise report.fail([_map_issue(i, origins) for i in issues]) from None
    problems = validate(topology, limits or Limits())
    if problems:
        raise report.fail([_map_issue(i, origins) for i in problems])
    return topology, report.warnings


__all__ = [
    "EXPORT_IMAGE",
    "LINK_TYPES",
    "NODE_KEYS",
    "dumps_clab",
    "export_clab",
    "import_clab",
    "is_containerlab",
    "is_go_template",
]
