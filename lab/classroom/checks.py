"""Exercise checks as data: what a student's lab must do, validated once at the edge.

Pure: no Django, no kernel. The worker (``worker/checks.py``) runs these specs
inside the lab's namespaces with Topolab's own commands; the API validates them
when an instructor writes them, reporting every problem with its path
(``checks[2].src``) in the same ``Issue`` shape topologies use.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from ipaddress import (
    IPv4Address,
    IPv4Interface,
    IPv4Network,
    IPv6Address,
    IPv6Interface,
    IPv6Network,
    ip_network,
)
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

from lab.topology.errors import Issue
from lab.topology.load import format_path
from lab.topology.schema import Topology

Name = Annotated[str, Field(min_length=1, max_length=64)]
Hint = Annotated[str, Field(max_length=1024)]
IPAddress = IPv4Address | IPv6Address
IPInterface = IPv4Interface | IPv6Interface
IPNetwork = IPv4Network | IPv6Network
MAX_CHECKS = 64

CHECK_KINDS = (
    "reach",
    "address",
    "mtu",
    "route",
    "forwarding",
    "capture",
    "learned_route",
    "dhcp",
)
# How a learned route's protocol reads in a sentence.
_LEARNED_BY = {
    "ospf": "an OSPF",
    "bgp": "a BGP",
    "rip": "a RIP",
    "isis": "an IS-IS",
    "any": "a learned",
}


class _Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    # A short title students see next to pass/fail; defaults to a generated one.
    title: Annotated[str, Field(max_length=200)] = ""
    hint: Hint = ""

    def nodes(self) -> tuple[str, ...]:
        """Return the node names the check runs in (checked against the topology)."""
        raise NotImplementedError

    def describe(self) -> str:
        """Return one line saying what the check wants."""
        raise NotImplementedError

    def label(self) -> str:
        """Return the title, or the description when there is none."""
        return self.title or self.describe()


class ReachCheck(_Spec):
    """``src`` pings ``dst``; with ``expect: refuse`` the ping must fail (a firewall task)."""

    kind: Literal["reach"]
    src: Name
    dst: IPAddress
    expect: Literal["reach", "refuse"] = "reach"
    count: Annotated[int, Field(ge=1, le=10)] = 2
    timeout: Annotated[int, Field(ge=1, le=10)] = 1

    def nodes(self) -> tuple[str, ...]:
        """Return the node names the check runs in."""
        return (self.src,)

    def describe(self) -> str:
        """Return one line saying what the check wants."""
        verb = "reaches" if self.expect == "reach" else "does not reach"
        return f"{self.src} {verb} {self.dst}"


class AddressCheck(_Spec):
    """An interface carries an address (with its prefix length)."""

    kind: Literal["address"]
    node: Name
    interface: Name
    address: IPInterface

    def nodes(self) -> tuple[str, ...]:
        """Return the node names the check runs in."""
        return (self.node,)

    def describe(self) -> str:
        """Return one line saying what the check wants."""
        return f"{self.node}:{self.interface} has address {self.address}"


class MtuCheck(_Spec):
    """An interface has a given MTU."""

    kind: Literal["mtu"]
    node: Name
    interface: Name
    mtu: Annotated[int, Field(ge=68, le=65535)]

    def nodes(self) -> tuple[str, ...]:
        """Return the node names the check runs in."""
        return (self.node,)

    def describe(self) -> str:
        """Return one line saying what the check wants."""
        return f"{self.node}:{self.interface} has MTU {self.mtu}"


def _strict_prefix(value: Any) -> Any:
    """Refuse a prefix with host bits set (``10.0.0.1/24``): it names no network."""
    if isinstance(value, str):
        try:
            ip_network(value, strict=True)
        except ValueError as exc:
            raise ValueError(f"not a network prefix: {exc}") from None
    return value


class RouteCheck(_Spec):
    """A node has a route to ``dst`` (a prefix or ``default``), optionally via a gateway."""

    kind: Literal["route"]
    node: Name
    dst: IPNetwork | Literal["default", "default6"]
    via: IPAddress | None = None

    @field_validator("dst", mode="before")
    @classmethod
    def _strict_network(cls, value: Any) -> Any:
        return value if value in ("default", "default6") else _strict_prefix(value)

    def nodes(self) -> tuple[str, ...]:
        """Return the node names the check runs in."""
        return (self.node,)

    def describe(self) -> str:
        """Return one line saying what the check wants."""
        via = f" via {self.via}" if self.via else ""
        return f"{self.node} has a route to {self.dst}{via}"


class ForwardingCheck(_Spec):
    """A node forwards IPv4 (``net.ipv4.ip_forward``), or with ``enabled: false`` does not."""

    kind: Literal["forwarding"]
    node: Name
    enabled: bool = True

    def nodes(self) -> tuple[str, ...]:
        """Return the node names the check runs in."""
        return (self.node,)

    def describe(self) -> str:
        """Return one line saying what the check wants."""
        return f"{self.node} {'forwards' if self.enabled else 'does not forward'} IPv4"


class CaptureCheck(_Spec):
    """A capture on ``node:interface`` during a probe (``probe_src`` pings ``probe_dst``)
    sees a packet of ``protocol`` (for VXLAN optionally with a given VNI)."""

    kind: Literal["capture"]
    node: Name
    interface: Name
    protocol: Literal["icmp", "udp", "tcp", "arp", "vxlan"]
    vni: Annotated[int, Field(ge=0, le=2**24 - 1)] | None = None
    port: Annotated[int, Field(ge=1, le=65535)] = 4789
    probe_src: Name
    probe_dst: IPAddress
    count: Annotated[int, Field(ge=1, le=10)] = 3
    timeout: Annotated[int, Field(ge=1, le=10)] = 3

    def nodes(self) -> tuple[str, ...]:
        """Return the node names the check runs in."""
        return (self.node, self.probe_src)

    def describe(self) -> str:
        """Return one line saying what the check wants."""
        what = self.protocol.upper()
        if self.protocol == "vxlan" and self.vni is not None:
            what += f" with VNI {self.vni}"
        where = f"{self.node}:{self.interface}"
        return f"a capture on {where} sees {what} while {self.probe_src} pings {self.probe_dst}"


class LearnedRouteCheck(_Spec):
    """A node has a route to ``dst`` that a routing protocol installed (FRR's ``ospf``,
    ``bgp``, ``rip``, ``isis``; ``any`` of them), optionally via a gateway: "r2 has an
    OSPF route to 10.10.10.1/32". A static route to the same prefix does not pass."""

    kind: Literal["learned_route"]
    node: Name
    dst: IPNetwork
    protocol: Literal["ospf", "bgp", "rip", "isis", "any"] = "any"
    via: IPAddress | None = None

    _strict_network = field_validator("dst", mode="before")(_strict_prefix)

    def nodes(self) -> tuple[str, ...]:
        """Return the node names the check runs in."""
        return (self.node,)

    def describe(self) -> str:
        """Return one line saying what the check wants."""
        via = f" via {self.via}" if self.via else ""
        return f"{self.node} has {_LEARNED_BY[self.protocol]} route to {self.dst}{via}"


class DhcpCheck(_Spec):
    """An interface got an IPv4 address by DHCP: one the topology does not give it, with
    a lease's limited lifetime (what a DHCP client sets), inside ``within`` if given."""

    kind: Literal["dhcp"]
    node: Name
    interface: Name
    within: IPv4Network | None = None

    def nodes(self) -> tuple[str, ...]:
        """Return the node names the check runs in."""
        return (self.node,)

    def describe(self) -> str:
        """Return one line saying what the check wants."""
        where = f" in {self.within}" if self.within else ""
        return f"{self.node}:{self.interface} got an address{where} by DHCP"


CheckSpec = Annotated[
    ReachCheck
    | AddressCheck
    | MtuCheck
    | RouteCheck
    | ForwardingCheck
    | CaptureCheck
    | LearnedRouteCheck
    | DhcpCheck,
    Field(discriminator="kind"),
]

_LIST: TypeAdapter[list[Any]] = TypeAdapter(
    Annotated[list[CheckSpec], Field(max_length=MAX_CHECKS)]  # type: ignore[arg-type]
)


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The outcome of one check: passed or not, what was seen, and how to get there."""

    passed: bool
    message: str
    hint: str = ""

    def as_dict(self) -> dict[str, Any]:
        """Return the result as the API's JSON shape."""
        return asdict(self)


class ChecksError(ValueError):
    """A list of check specs that does not validate; ``issues`` names every problem."""

    code = "checks.invalid"

    def __init__(self, issues: list[Issue]) -> None:
        self.issues = list(issues)
        first = self.issues[0] if self.issues else None
        super().__init__(f"{first.path}: {first.message}" if first else "invalid checks")


def load_checks(data: Any, topology: Topology | None = None, root: str = "checks") -> list[Any]:
    """Parse a list of check specs; with a topology, also check nodes and interfaces exist.

    Returns the list of spec models (``ReachCheck`` ...).

    Raises:
        ChecksError: with every problem, each path starting at ``root`` (``checks[1].node``).
    """
    if not isinstance(data, list):
        raise ChecksError([Issue(root, "checks.not_a_list", "checks are a JSON list")])
    try:
        specs: list[Any] = _LIST.validate_python(data)
    except ValidationError as exc:
        raise ChecksError(_issues(exc, data, root)) from None
    if topology is not None:
        issues = _against_topology(specs, topology, root)
        if issues:
            raise ChecksError(issues)
    return specs


def _issues(exc: ValidationError, data: list[Any], root: str) -> list[Issue]:
    issues: list[Issue] = []
    for err in exc.errors(include_url=False):
        # Union members show up in locations as validator names: not fields.
        loc = [p for p in err["loc"] if isinstance(p, int) or not ("[" in p or "(" in p)]
        # A discriminated union puts its tag after the index: (1, "mtu", "mtu") is
        # the "mtu" field of checks[1], whose kind is "mtu".
        if len(loc) >= 2 and isinstance(loc[0], int) and loc[0] < len(data):
            item = data[loc[0]]
            if isinstance(item, dict) and item.get("kind") == loc[1]:
                del loc[1]
        etype = str(err["type"])
        hint = {
            "missing": "this field is required",
            "extra_forbidden": "remove this field; checks do not know it",
            "union_tag_invalid": "kind is one of: " + ", ".join(CHECK_KINDS),
            "union_tag_not_found": "kind is one of: " + ", ".join(CHECK_KINDS),
        }.get(etype, "")
        message = str(err["msg"])
        if etype.startswith(("ip_v4_", "ip_v6_")):
            etype = "ip_" + etype.split("_", 2)[-1]
            message = f"not a valid IPv4 or IPv6 {etype[3:]}"
            if any(i.path == root + format_path(tuple(loc)) for i in issues):
                continue  # the IPv4 | IPv6 union reports twice; say it once
        path = format_path(tuple(loc))
        path = root + path if path.startswith("[") or not path else f"{root}.{path}"
        issues.append(Issue(path, f"schema.{etype}", message, hint))
    return issues


def _against_topology(specs: list[Any], topology: Topology, root: str) -> list[Issue]:
    issues: list[Issue] = []
    for i, spec in enumerate(specs):
        for field_name in ("src", "node", "probe_src"):
            name = getattr(spec, field_name, None)
            if name is None:
                continue
            node = topology.node(name)
            if node is None:
                issues.append(
                    Issue(
                        f"{root}[{i}].{field_name}",
                        "check.unknown_node",
                        f"the topology has no node {name!r}",
                        "nodes: " + ", ".join(n.name for n in topology.nodes),
                    )
                )
            elif field_name == "node" and getattr(spec, "interface", None) is not None:
                iface = spec.interface
                known = {x.name for x in node.interfaces} | {b.name for b in node.all_bridges()}
                if iface not in known:
                    issues.append(
                        Issue(
                            f"{root}[{i}].interface",
                            "check.unknown_interface",
                            f"node {name!r} has no interface {iface!r}",
                            "interfaces: " + ", ".join(sorted(known)),
                        )
                    )
    return issues


def dump_checks(specs: list[Any]) -> list[dict[str, Any]]:
    """Return specs as JSON-ready dicts (what the database stores)."""
    return [spec.model_dump(mode="json") for spec in specs]
