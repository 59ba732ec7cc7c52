"""The topology document: immutable, validated pydantic models.

This module checks shape and types only. Meaning (unknown nodes, overlapping
subnets, loops, ranges the kernel enforces) is checked by ``validate.py`` so
that every problem can be reported at once with a path and a code.

A document holds nodes (``host``, ``router``, ``switch``), each with named
interfaces, and links. A link is one of a discriminated union on ``kind``:

* ``veth``: a point-to-point pair between two node interfaces. When one end
  lands on a switch (or on an interface that names a ``bridge``), that end is a
  switch port: it is enslaved to the bridge.
* ``vxlan``: a VXLAN device on one node interface (VNI, local, remote or
  group, dstport, underlay interface).
* ``macvlan`` / ``macvtap``: a child interface on a parent interface inside
  the lab, in one of the kernel's modes.
* ``tap`` / ``tun``: a device held open by a program the lab runs.
* ``vlan``, ``bond``, ``ipvlan``, ``macsec``, ``vcan``, ``vxcan``: kinds from
  the seed articles that some kernels lack; modelled and validated like the
  others, refused by a host whose kernel lacks the module.
"""

from __future__ import annotations

from ipaddress import (
    IPv4Address,
    IPv4Interface,
    IPv4Network,
    IPv6Address,
    IPv6Interface,
    IPv6Network,
)
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

SCHEMA_VERSION = 1
MAX_NAME = 64  # structural bound; the kernel's real limits are checked in validate.py
MAX_ITEMS = 4096

Name = Annotated[str, Field(min_length=1, max_length=MAX_NAME)]
Text = Annotated[str, Field(max_length=4096)]
MacAddress = Annotated[str, Field(pattern=r"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$")]


def _written_as_text(value: Any) -> Any:
    # pydantic takes 1 or true as an address (0.0.0.1); a document writes addresses as text.
    if isinstance(value, bool | int | float | bytes):
        raise ValueError("an address is written as a string, for example 10.0.0.1/24")
    return value


_AsText = BeforeValidator(_written_as_text)
IPAddress = Annotated[IPv4Address | IPv6Address, _AsText]
IPInterface = Annotated[IPv4Interface | IPv6Interface, _AsText]
IPNetwork = Annotated[IPv4Network | IPv6Network, _AsText]
IPv4Text = Annotated[IPv4Address, _AsText]
IPv6Text = Annotated[IPv6Address, _AsText]


class Model(BaseModel):
    """Base of every document model: frozen, and unknown fields are an error."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=False)


class Endpoint(Model):
    """One end of a link: an interface of a node. ``"h1:eth0"`` is accepted as a shorthand."""

    node: Name
    interface: Name

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, value: Any) -> Any:
        if isinstance(value, str):
            node, sep, interface = value.partition(":")
            if not sep:
                raise ValueError("an endpoint is 'node:interface' or {node, interface}")
            return {"node": node, "interface": interface}
        return value

    def __str__(self) -> str:
        return f"{self.node}:{self.interface}"


class Route(Model):
    """A static route on a node. ``dst`` is a prefix or ``default``."""

    dst: IPNetwork | Literal["default", "default6"]
    via: IPAddress | None = None
    dev: Name | None = None
    metric: Annotated[int, Field(ge=0, le=2**32 - 1)] | None = None

    @field_validator("dst", mode="before")
    @classmethod
    def _strict_network(cls, value: Any) -> Any:
        # A host address with bits set past the prefix ("10.0.0.1/24") is a
        # common slip; refuse it instead of silently masking.
        if isinstance(value, str) and value not in ("default", "default6"):
            from ipaddress import ip_network

            try:
                ip_network(value, strict=True)
            except ValueError as exc:
                raise ValueError(f"not a network prefix: {exc}") from None
        return value


class Interface(Model):
    """A named interface of a node."""

    name: Name
    addresses: Annotated[tuple[IPInterface, ...], Field(max_length=MAX_ITEMS)] = ()
    mtu: Annotated[int, Field(ge=68, le=65535)] | None = None
    mac: MacAddress | None = None
    bridge: Name | None = None
    description: Text = ""


class Bridge(Model):
    """A Linux bridge inside a node's namespace."""

    name: Name = "br0"
    stp: bool = False
    addresses: Annotated[tuple[IPInterface, ...], Field(max_length=MAX_ITEMS)] = ()
    mtu: Annotated[int, Field(ge=68, le=65535)] | None = None


class Position(Model):
    """Where the editor drew a node; ignored by the engine."""

    x: float = Field(allow_inf_nan=False)
    y: float = Field(allow_inf_nan=False)


class Node(Model):
    """A host, router or switch: one network namespace."""

    name: Name
    kind: Literal["host", "router", "switch"] = "host"
    interfaces: Annotated[tuple[Interface, ...], Field(max_length=MAX_ITEMS)] = ()
    gateway: IPv4Text | None = None
    gateway6: IPv6Text | None = None
    routes: Annotated[tuple[Route, ...], Field(max_length=MAX_ITEMS)] = ()
    stp: bool = False
    bridges: Annotated[tuple[Bridge, ...], Field(max_length=64)] = ()
    forwarding: bool | None = None
    host: Name | None = None
    position: Position | None = None
    description: Text = ""

    @property
    def forwards(self) -> bool:
        """Whether IP forwarding is on: routers by default, others on request."""
        return self.forwarding if self.forwarding is not None else self.kind == "router"

    def all_bridges(self) -> tuple[Bridge, ...]:
        """Return the node's bridges; a switch without any declared gets ``br0``."""
        if self.kind == "switch" and not self.bridges:
            return (Bridge(name="br0", stp=self.stp),)
        return self.bridges

    def bridge_of(self, interface: Interface) -> str | None:
        """Return the bridge ``interface`` is a port of, if any.

        On a switch every interface without addresses is a port of the first
        bridge unless it names another; elsewhere only an explicit ``bridge``.
        """
        if interface.bridge is not None:
            return interface.bridge
        if self.kind == "switch" and not interface.addresses:
            return self.all_bridges()[0].name
        return None

    def interface(self, name: str) -> Interface | None:
        """Return the interface called ``name``, or None."""
        for iface in self.interfaces:
            if iface.name == name:
                return iface
        return None


class Program(Model):
    """A program Topolab ships (``worker/apps``) that holds a tap or tun open."""

    app: Literal["tunnel", "tap-endpoint", "macvtap-reader", "hold"]
    args: Annotated[tuple[Annotated[str, Field(max_length=256)], ...], Field(max_length=64)] = ()


class VethLink(Model):
    """A veth pair between two node interfaces."""

    kind: Literal["veth"]
    a: Endpoint
    b: Endpoint
    mtu: Annotated[int, Field(ge=68, le=65535)] | None = None
    rate_mbit: Annotated[int, Field(ge=1, le=100_000)] | None = None

    def endpoints(self) -> tuple[Endpoint, ...]:
        """Return the node interfaces this link realizes."""
        return (self.a, self.b)


class VxlanLink(Model):
    """A VXLAN device on a node interface."""

    kind: Literal["vxlan"]
    endpoint: Endpoint
    vni: int
    local: IPAddress | None = None
    remote: IPAddress | None = None
    group: IPAddress | None = None
    dstport: int = 4789
    underlay: Name | None = None
    ttl: Annotated[int, Field(ge=1, le=255)] | None = None
    learning: bool = True

    def endpoints(self) -> tuple[Endpoint, ...]:
        """Return the node interfaces this link realizes."""
        return (self.endpoint,)


MacvlanMode = Literal["private", "vepa", "bridge", "passthru", "source"]


class MacvlanLink(Model):
    """A macvlan child on a parent interface inside the lab."""

    kind: Literal["macvlan"]
    endpoint: Endpoint
    parent: Endpoint
    mode: MacvlanMode = "bridge"
    source_macs: Annotated[tuple[MacAddress, ...], Field(max_length=64)] = ()

    def endpoints(self) -> tuple[Endpoint, ...]:
        """Return the node interfaces this link realizes."""
        return (self.endpoint,)


class MacvtapLink(Model):
    """A macvtap child on a parent interface; its character device is read by a program."""

    kind: Literal["macvtap"]
    endpoint: Endpoint
    parent: Endpoint
    mode: MacvlanMode = "bridge"
    program: Program | None = None

    def endpoints(self) -> tuple[Endpoint, ...]:
        """Return the node interfaces this link realizes."""
        return (self.endpoint,)


class TapLink(Model):
    """A tap device (Ethernet frames to a program) on a node."""

    kind: Literal["tap"]
    endpoint: Endpoint
    program: Program | None = None

    def endpoints(self) -> tuple[Endpoint, ...]:
        """Return the node interfaces this link realizes."""
        return (self.endpoint,)


class TunLink(Model):
    """A tun device (IP packets to a program) on a node."""

    kind: Literal["tun"]
    endpoint: Endpoint
    program: Program | None = None

    def endpoints(self) -> tuple[Endpoint, ...]:
        """Return the node interfaces this link realizes."""
        return (self.endpoint,)


class VlanLink(Model):
    """An 802.1Q sub-interface of another interface on the same node (needs 8021q)."""

    kind: Literal["vlan"]
    endpoint: Endpoint
    parent: Name
    vlan_id: int
    protocol: Literal["802.1Q", "802.1ad"] = "802.1Q"

    def endpoints(self) -> tuple[Endpoint, ...]:
        """Return the node interfaces this link realizes."""
        return (self.endpoint,)


class BondLink(Model):
    """A bond of member interfaces on one node (needs bonding)."""

    kind: Literal["bond"]
    endpoint: Endpoint
    members: Annotated[tuple[Name, ...], Field(max_length=64)]
    mode: Literal[
        "balance-rr",
        "active-backup",
        "balance-xor",
        "broadcast",
        "802.3ad",
        "balance-tlb",
        "balance-alb",
    ] = "active-backup"

    def endpoints(self) -> tuple[Endpoint, ...]:
        """Return the node interfaces this link realizes."""
        return (self.endpoint,)


class IpvlanLink(Model):
    """An ipvlan child on a parent interface (needs ipvlan)."""

    kind: Literal["ipvlan"]
    endpoint: Endpoint
    parent: Endpoint
    mode: Literal["l2", "l3", "l3s"] = "l2"

    def endpoints(self) -> tuple[Endpoint, ...]:
        """Return the node interfaces this link realizes."""
        return (self.endpoint,)


class MacsecLink(Model):
    """A MACsec device on a parent interface of the same node (needs macsec)."""

    kind: Literal["macsec"]
    endpoint: Endpoint
    parent: Name
    port: Annotated[int, Field(ge=1, le=65535)] = 1
    encrypt: bool = True

    def endpoints(self) -> tuple[Endpoint, ...]:
        """Return the node interfaces this link realizes."""
        return (self.endpoint,)


class VcanLink(Model):
    """A virtual CAN device (needs vcan)."""

    kind: Literal["vcan"]
    endpoint: Endpoint

    def endpoints(self) -> tuple[Endpoint, ...]:
        """Return the node interfaces this link realizes."""
        return (self.endpoint,)


class VxcanLink(Model):
    """A virtual CAN tunnel pair between two nodes (needs vxcan)."""

    kind: Literal["vxcan"]
    a: Endpoint
    b: Endpoint

    def endpoints(self) -> tuple[Endpoint, ...]:
        """Return the node interfaces this link realizes."""
        return (self.a, self.b)


Link = Annotated[
    VethLink
    | VxlanLink
    | MacvlanLink
    | MacvtapLink
    | TapLink
    | TunLink
    | VlanLink
    | BondLink
    | IpvlanLink
    | MacsecLink
    | VcanLink
    | VxcanLink,
    Field(discriminator="kind"),
]

LINK_KINDS: tuple[str, ...] = (
    "veth",
    "vxlan",
    "macvlan",
    "macvtap",
    "tap",
    "tun",
    "vlan",
    "bond",
    "ipvlan",
    "macsec",
    "vcan",
    "vxcan",
)

# The kernel module each link kind needs; a host reports which it has.
KERNEL_MODULES: dict[str, str] = {
    "veth": "veth",
    "vxlan": "vxlan",
    "macvlan": "macvlan",
    "macvtap": "macvtap",
    "tap": "tun",
    "tun": "tun",
    "vlan": "8021q",
    "bond": "bonding",
    "ipvlan": "ipvlan",
    "macsec": "macsec",
    "vcan": "vcan",
    "vxcan": "vxcan",
    "bridge": "bridge",
}


class Addressing(Model):
    """Automatic addressing: a /30 (or /31) per point-to-point link, a /24 per segment."""

    auto: bool = False
    pool: IPv4Network = IPv4Network("10.0.0.0/16")
    p2p_prefix: Literal[30, 31] = 30
    segment_prefix: Annotated[int, Field(ge=16, le=29)] = 24
    routes: bool = True


class Topology(Model):
    """A whole lab: nodes and the links between them."""

    schema_version: Literal[1] = 1
    name: Name
    description: Text = ""
    nodes: Annotated[tuple[Node, ...], Field(max_length=MAX_ITEMS)] = ()
    links: Annotated[tuple[Link, ...], Field(max_length=MAX_ITEMS)] = ()
    addressing: Addressing = Addressing()

    @model_validator(mode="before")
    @classmethod
    def _default_link_kind(cls, value: Any) -> Any:
        # A link without "kind" is a veth: the common case stays short to write.
        if isinstance(value, dict) and isinstance(value.get("links"), list | tuple):
            links = [
                {**link, "kind": "veth"} if isinstance(link, dict) and "kind" not in link else link
                for link in value["links"]
            ]
            value = {**value, "links": links}
        return value

    def node(self, name: str) -> Node | None:
        """Return the node called ``name``, or None."""
        for node in self.nodes:
            if node.name == name:
                return node
        return None

    def link_kinds(self) -> set[str]:
        """Return the link kinds the topology uses (``bridge`` when any node has one)."""
        kinds: set[str] = {link.kind for link in self.links}
        if any(node.all_bridges() for node in self.nodes):
            kinds.add("bridge")
        return kinds
