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
* ``vlan``, ``bond``, ``team``, ``ipvlan``, ``ipvtap``, ``macsec``, ``vcan``,
  ``vxcan``, ``dummy``: kinds from the seed articles that some kernels lack;
  modelled and validated like the others, refused by a host whose kernel lacks
  the module.
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
from typing import Annotated, Any, Literal, get_args

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


Percent = Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)]
Millis = Annotated[float, Field(ge=0, le=60_000, allow_inf_nan=False)]


class Netem(Model):
    """Impairments netem applies to what an interface sends (as Mininet's TCLink does).

    Applied live to a running lab (the interface keeps its ifindex). ``jitter_ms``
    and ``reorder_pct`` need a ``delay_ms``: netem varies or reorders around it.
    """

    delay_ms: Millis = 0
    jitter_ms: Millis = 0
    loss_pct: Percent = 0
    duplicate_pct: Percent = 0
    reorder_pct: Percent = 0
    corrupt_pct: Percent = 0


class Interface(Model):
    """A named interface of a node.

    ``alias`` is the name the interface has where the lab came from, when the
    kernel refuses that name (containerlab's ``ethernet-1/1`` becomes
    ``ethernet-1-1``); it is shown to people and written back on export, and
    never given to the kernel as a name.
    """

    name: Name
    addresses: Annotated[tuple[IPInterface, ...], Field(max_length=MAX_ITEMS)] = ()
    mtu: Annotated[int, Field(ge=68, le=65535)] | None = None
    mac: MacAddress | None = None
    bridge: Name | None = None
    description: Text = ""
    alias: (
        Annotated[str, Field(min_length=1, max_length=127, pattern=r"^[^\x00-\x1f\x7f]+$")] | None
    ) = None
    # On a port of a VLAN-filtering bridge: the VLANs it carries tagged (a trunk) and
    # the one it carries untagged (its PVID; an access port has only this).
    vlans: Annotated[tuple[int, ...], Field(max_length=4094)] = ()
    pvid: int | None = None
    # Link conditioning, applied live: impairments and an egress rate (tbf, or netem's
    # own rate with impairments); ``up`` false sets the interface administratively down.
    netem: Netem | None = None
    rate_mbit: Annotated[int, Field(ge=1, le=100_000)] | None = None
    up: bool = True


class Bridge(Model):
    """A Linux bridge inside a node's namespace."""

    name: Name = "br0"
    stp: bool = False
    # Ports then carry only the VLANs they list (Interface.vlans / pvid), as on a switch.
    vlan_filtering: bool = False
    addresses: Annotated[tuple[IPInterface, ...], Field(max_length=MAX_ITEMS)] = ()
    mtu: Annotated[int, Field(ge=68, le=65535)] | None = None


class Position(Model):
    """Where the editor drew a node; ignored by the engine."""

    x: float = Field(allow_inf_nan=False)
    y: float = Field(allow_inf_nan=False)


# -- what runs in a node: its files, startup commands and services --------------------

NODE_FILE_MAX_BYTES = 256 * 1024  # one node file (UTF-8 bytes; the sandbox takes up to 1 MiB)
NODE_FILES_MAX = 32  # files of one node
NODE_FILES_TOTAL_MAX_BYTES = 1024 * 1024  # all files of one node
NODE_FILE_PATH_MAX = 255
EXEC_LINES_MAX = 64
EXEC_ARGV_MAX = 256  # items of one exec line (the sandbox's own bound)
EXEC_ITEM_MAX = 4096


class NodeFile(Model):
    """A file the node sees at ``path`` (in its own mount namespace) holding ``content``.

    Written ``{path: content}`` in a document; validate.py checks where it may live.
    """

    path: Annotated[str, Field(min_length=1, max_length=NODE_FILE_PATH_MAX)]
    content: Annotated[str, Field(max_length=NODE_FILE_MAX_BYTES)] = ""


def _files_from_mapping(value: Any) -> Any:
    # ``files: {"/etc/frr/frr.conf": "..."}`` is how people write them; a list of
    # {path, content} (what ``to_data`` may give back) is accepted as well.
    if isinstance(value, dict):
        return [{"path": k, "content": v} for k, v in value.items()]
    return value


def _exec_line(value: Any) -> Any:
    # A command string is split like a shell would split it (shlex), never run by one:
    # the line runs as an argv list. A user who wants a shell writes ``sh -c '...'``.
    if isinstance(value, str):
        import shlex

        try:
            return shlex.split(value)
        except ValueError as exc:
            raise ValueError(f"cannot split this command line: {exc}") from None
    return value


ExecLine = Annotated[
    tuple[Annotated[str, Field(max_length=EXEC_ITEM_MAX)], ...],
    Field(max_length=EXEC_ARGV_MAX),
    BeforeValidator(_exec_line, json_schema_input_type=str | list[str]),
]

# The catalog of services a node may run (worker/services.py knows how to run each).
ServiceKind = Literal["frr", "dnsmasq", "iperf3", "http"]
SERVICE_KINDS: tuple[str, ...] = get_args(ServiceKind)
# FRR's daemons a ``daemons`` file may enable (zebra and staticd always run).
FrrDaemon = Literal[
    "bgpd",
    "ospfd",
    "ospf6d",
    "ripd",
    "ripngd",
    "isisd",
    "pimd",
    "ldpd",
    "nhrpd",
    "eigrpd",
    "babeld",
    "sharpd",
    "pbrd",
    "bfdd",
    "fabricd",
    "vrrpd",
    "pathd",
]
FRR_DAEMONS: tuple[str, ...] = get_args(FrrDaemon)


class Service(Model):
    """A service from the catalog, run in the node's sandbox after deploy.

    * ``frr``: zebra, staticd and the daemons the node's ``/etc/frr/daemons`` file
      enables (or ``daemons`` when the node has no such file); config in
      ``/etc/frr/frr.conf``.
    * ``dnsmasq``: DHCP and DNS; ``args`` are its options (``--dhcp-range=...``) and
      node files under ``/run/dnsmasq.d/`` are its config (Debian's dnsmasq-base has
      no ``/etc/dnsmasq.d``).
    * ``iperf3``: an iperf3 server on ``port`` (5201).
    * ``http``: a static HTTP server on ``port`` (80) serving ``root`` (``/root``).
    """

    kind: ServiceKind
    port: Annotated[int, Field(ge=1, le=65535)] | None = None
    args: Annotated[tuple[Annotated[str, Field(max_length=1024)], ...], Field(max_length=64)] = ()
    daemons: Annotated[tuple[FrrDaemon, ...], Field(max_length=len(FRR_DAEMONS))] = ()
    root: Annotated[str, Field(min_length=1, max_length=NODE_FILE_PATH_MAX)] | None = None


def _service_from_string(value: Any) -> Any:
    # ``services: [frr]`` is the short form of ``[{kind: frr}]``.
    return {"kind": value} if isinstance(value, str) else value


ServiceItem = Annotated[
    Service,
    BeforeValidator(
        _service_from_string,
        json_schema_input_type=ServiceKind | Service,
    ),
]


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
    files: Annotated[
        tuple[NodeFile, ...],
        Field(max_length=NODE_FILES_MAX),
        BeforeValidator(
            _files_from_mapping, json_schema_input_type=dict[str, str] | list[NodeFile]
        ),
    ] = ()
    exec: Annotated[tuple[ExecLine, ...], Field(max_length=EXEC_LINES_MAX)] = ()
    services: Annotated[tuple[ServiceItem, ...], Field(max_length=len(SERVICE_KINDS))] = ()

    def file(self, path: str) -> NodeFile | None:
        """Return the node file at ``path``, or None."""
        for item in self.files:
            if item.path == path:
                return item
        return None

    def service(self, kind: str) -> Service | None:
        """Return the node's service of ``kind``, or None."""
        for item in self.services:
            if item.kind == kind:
                return item
        return None

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


BondMode = Literal[
    "balance-rr",
    "active-backup",
    "balance-xor",
    "broadcast",
    "802.3ad",
    "balance-tlb",
    "balance-alb",
]
# The bond modes that have a primary member (the kernel refuses ``primary`` in the others).
BOND_MODES_WITH_PRIMARY = ("active-backup", "balance-tlb", "balance-alb")


class BondLink(Model):
    """A bond of member interfaces on one node (needs bonding).

    ``miimon`` is how often (ms) the bond checks its members' carrier: with 0 a
    member that goes down is never noticed, so it defaults to 100. ``primary``
    is the member an active-backup (or tlb/alb) bond prefers while it is up.
    """

    kind: Literal["bond"]
    endpoint: Endpoint
    members: Annotated[tuple[Name, ...], Field(max_length=64)]
    mode: BondMode = "active-backup"
    miimon: Annotated[int, Field(ge=0, le=60_000)] = 100
    primary: Name | None = None

    def endpoints(self) -> tuple[Endpoint, ...]:
        """Return the node interfaces this link realizes."""
        return (self.endpoint,)


class TeamLink(Model):
    """A team device of member interfaces on one node (needs team and its mode module).

    The kernel's team modes without the teamd daemon: ``activebackup`` sends on one
    port (``primary``, else the first member), ``roundrobin`` and ``broadcast`` on
    all, ``loadbalance`` by a hash (all on the first port without a BPF hash
    program), ``random`` on any.
    """

    kind: Literal["team"]
    endpoint: Endpoint
    members: Annotated[tuple[Name, ...], Field(max_length=64)]
    runner: Literal["roundrobin", "activebackup", "loadbalance", "broadcast", "random"] = (
        "activebackup"
    )
    primary: Name | None = None

    def endpoints(self) -> tuple[Endpoint, ...]:
        """Return the node interfaces this link realizes."""
        return (self.endpoint,)


class _IpvlanChild(Model):
    """A child sharing its parent's MAC, told apart by its addresses (l2, l3 or l3s)."""

    endpoint: Endpoint
    parent: Endpoint
    mode: Literal["l2", "l3", "l3s"] = "l2"

    def endpoints(self) -> tuple[Endpoint, ...]:
        """Return the node interfaces this link realizes."""
        return (self.endpoint,)


class IpvlanLink(_IpvlanChild):
    """An ipvlan child on a parent interface (needs ipvlan)."""

    kind: Literal["ipvlan"]


class IpvtapLink(_IpvlanChild):
    """An ipvtap child on a parent interface: ipvlan with a tap character device (needs ipvtap)."""

    kind: Literal["ipvtap"]


class DummyLink(Model):
    """A dummy device: a local interface with nothing behind it (needs dummy)."""

    kind: Literal["dummy"]
    endpoint: Endpoint

    def endpoints(self) -> tuple[Endpoint, ...]:
        """Return the node interfaces this link realizes."""
        return (self.endpoint,)


HexKey = Annotated[str, Field(pattern=r"^[0-9a-fA-F]{32}([0-9a-fA-F]{32})?$")]


class MacsecKey(Model):
    """One MACsec secure association: its number (AN), key, key id and first packet number.

    ``key`` is 32 hex digits for GCM-AES-128, 64 for GCM-AES-256. ``key_id`` (up to
    16 bytes in hex) defaults to a digest of the key, so a new key is a new key id.
    """

    an: Annotated[int, Field(ge=0, le=3)] = 0
    key: HexKey
    key_id: Annotated[str, Field(pattern=r"^[0-9a-fA-F]{2,32}$")] | None = None
    pn: Annotated[int, Field(ge=1, le=2**32 - 1)] = 1


class MacsecRx(Model):
    """What a MACsec device accepts from one peer: the peer's macsec interface and its key."""

    peer: Endpoint
    key: MacsecKey


class MacsecLink(Model):
    """A MACsec device on a parent interface of the same node (needs macsec).

    ``tx`` is the key it sends with; ``rx`` lists the peers it accepts frames from
    (their secure channel is their device's MAC and port). With ``encrypt`` off
    frames are authenticated but readable on the wire.
    """

    kind: Literal["macsec"]
    endpoint: Endpoint
    parent: Name
    port: Annotated[int, Field(ge=1, le=65535)] = 1
    encrypt: bool = True
    cipher: Literal["gcm-aes-128", "gcm-aes-256"] = "gcm-aes-128"
    tx: MacsecKey | None = None
    rx: Annotated[tuple[MacsecRx, ...], Field(max_length=64)] = ()

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
    | TeamLink
    | IpvlanLink
    | IpvtapLink
    | MacsecLink
    | VcanLink
    | VxcanLink
    | DummyLink,
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
    "team",
    "ipvlan",
    "ipvtap",
    "macsec",
    "vcan",
    "vxcan",
    "dummy",
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
    "team": "team",
    "ipvlan": "ipvlan",
    "ipvtap": "ipvtap",
    "dummy": "dummy",
    "macsec": "macsec",
    "vcan": "vcan",
    "vxcan": "vxcan",
    "bridge": "bridge",
    # Not link kinds but what some interfaces ask of the kernel: netem's impairments, and
    # (not a module) VLAN ports, which a bridge built without CONFIG_BRIDGE_VLAN_FILTERING lacks.
    "netem": "sch_netem",
    "bridge-vlan": "bridge (CONFIG_BRIDGE_VLAN_FILTERING)",
}


class Addressing(Model):
    """Automatic addressing: a /30 (or /31) per point-to-point link, a /24 per segment."""

    auto: bool = False
    pool: IPv4Network = IPv4Network("10.0.0.0/16")
    p2p_prefix: Literal[30, 31] = 30
    segment_prefix: Annotated[int, Field(ge=16, le=29)] = 24
    routes: bool = True


# -- what the editor draws beside the network: notes and shapes --------------------------

ANNOTATIONS_MAX = 256
ANNOTATION_TEXT_MAX = 2000
Colour = Annotated[str, Field(pattern=r"^#[0-9a-fA-F]{6}$")]
Extent = Annotated[float, Field(ge=8, le=20000, allow_inf_nan=False)]


class Annotation(Model):
    """A note, rectangle or ellipse the editor draws beside the network; nothing is built.

    A ``note`` is text at ``position`` (``width``, when set, wraps it); a ``rect`` or an
    ``ellipse`` is a box whose top-left corner is ``position``, ``width`` by ``height``,
    with ``text`` as its optional label.
    One model, not a union on ``kind``: an unknown kind then reads as "use 'note', 'rect'
    or 'ellipse'", not as an unknown link kind.
    """

    kind: Literal["note", "rect", "ellipse"]
    position: Position
    width: Extent | None = None
    height: Extent | None = None
    text: Annotated[str, Field(max_length=ANNOTATION_TEXT_MAX)] = ""
    color: Colour | None = None

    @model_validator(mode="after")
    def _what_each_kind_needs(self) -> Annotation:
        if self.kind == "note" and not self.text.strip():
            raise ValueError("a note needs text")
        if self.kind != "note" and (self.width is None or self.height is None):
            raise ValueError(f"a {self.kind} needs a width and a height")
        return self


class Topology(Model):
    """A whole lab: nodes and the links between them (and the editor's annotations)."""

    schema_version: Literal[1] = 1
    name: Name
    description: Text = ""
    nodes: Annotated[tuple[Node, ...], Field(max_length=MAX_ITEMS)] = ()
    links: Annotated[tuple[Link, ...], Field(max_length=MAX_ITEMS)] = ()
    addressing: Addressing = Addressing()
    # Drawn in the editor, saved with the lab; nothing is built from them.
    annotations: Annotated[tuple[Annotation, ...], Field(max_length=ANNOTATIONS_MAX)] = ()

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
        """Return the link kinds the topology uses (``bridge`` when any node has one).

        ``bridge-vlan`` stands for a VLAN-filtering bridge, which needs a kernel feature,
        and ``netem`` for an interface with impairments.
        """
        kinds: set[str] = {link.kind for link in self.links}
        if any(node.all_bridges() for node in self.nodes):
            kinds.add("bridge")
        if any(b.vlan_filtering for node in self.nodes for b in node.all_bridges()):
            kinds.add("bridge-vlan")
        if any(i.netem is not None for node in self.nodes for i in node.interfaces):
            kinds.add("netem")
        return kinds
