"""What the kernel has: frozen values read by discovery, never kernel handles.

``discover(lab)`` reads a lab's realized state from the kernel alone (the
owner tags), so destroy and re-deploy work without any database row. The
planner diffs a ``Topology`` against a ``LabState``.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

from lab.topology import naming

# The sysctls discovery reads and the planner fixes (they must be the same set).
FORWARDING_SYSCTLS = ("net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding")


@dataclass(frozen=True)
class LinkState:
    """One interface as the kernel reports it."""

    name: str
    ifindex: int
    kind: str  # veth, bridge, vxlan, macvlan, macvtap, tun, tap, loopback, or ""
    alias: str | None = None
    up: bool = False
    mtu: int = 1500
    mac: str = ""
    master: str | None = None
    peer_ifindex: int | None = None  # IFLA_LINK: a veth's peer, a macvlan's parent
    addresses: tuple[str, ...] = ()  # "10.0.0.1/24", link-local IPv6 left out
    info: tuple[tuple[str, str], ...] = ()  # kind data: vni, port, mode ...
    rx_packets: int = 0
    tx_packets: int = 0
    rx_bytes: int = 0
    tx_bytes: int = 0

    def get(self, key: str) -> str | None:
        """Return one item of the kind data (``vni``, ``port``, ``mode`` ...)."""
        for k, v in self.info:
            if k == key:
                return v
        return None


@dataclass(frozen=True)
class RouteState:
    """A static route Topolab put in a namespace's main table."""

    dst: str  # "10.0.1.0/24", "0.0.0.0/0", "::/0"
    via: str | None = None
    dev: str | None = None
    metric: int | None = None


@dataclass(frozen=True)
class NamespaceState:
    """A lab namespace and what is in it."""

    name: str
    lab: str | None
    node: str | None
    inode: int = 0
    links: tuple[LinkState, ...] = ()
    routes: tuple[RouteState, ...] = ()
    sysctls: tuple[tuple[str, str], ...] = ()

    def link(self, name: str) -> LinkState | None:
        """Return the interface called ``name``, or None."""
        for link in self.links:
            if link.name == name:
                return link
        return None

    def sysctl(self, key: str) -> str | None:
        """Return a sysctl value read at discovery, or None."""
        for k, v in self.sysctls:
            if k == key:
                return v
        return None


@dataclass(frozen=True)
class LabState:
    """Everything the kernel holds for one lab."""

    lab: str
    namespaces: tuple[NamespaceState, ...] = field(default_factory=tuple)

    def namespace(self, name: str) -> NamespaceState | None:
        """Return the namespace called ``name``, or None."""
        for ns in self.namespaces:
            if ns.name == name:
                return ns
        return None

    def node(self, node: str) -> NamespaceState | None:
        """Return the namespace of node ``node``, or None."""
        return self.namespace(naming.namespace_name(self.lab, node))

    @property
    def empty(self) -> bool:
        """Whether the lab has nothing in the kernel."""
        return not self.namespaces


def lab_prefix(lab: str) -> str:
    """Return the namespace-name prefix of lab ``lab`` (lab keys hold no '-')."""
    return naming.namespace_name(lab, "")


def discover(
    lab: str,
    kernel: object | None = None,
    *,
    nodes: Collection[str] | None = None,
    foreign: Collection[str] = (),
) -> LabState:
    """Read lab ``lab`` from the kernel: its tagged namespaces and their devices.

    A namespace counts only when its ``lo`` carries ``topolab:<lab>:<node>``.
    ``nodes``: read only these nodes. ``foreign``: never these (the nodes another
    lab host builds; where two lab hosts share one machine's ``/run/netns``, as in
    the tests, this keeps a host from planning away its peer's nodes). A node
    removed from the lab is neither, so the planner sees it and deletes it.

    Raises:
        KernelError: the kernel could not be read.
    """
    from worker.kernel import Kernel, default_kernel

    k: Kernel = kernel if isinstance(kernel, Kernel) else default_kernel()
    prefix = lab_prefix(lab)
    only = None if nodes is None else set(nodes)
    skip = set(foreign)
    names = []
    for name in sorted(k.ns_list()):
        if not name.startswith(prefix):
            continue
        node = name[len(prefix) :]
        if node in skip or (only is not None and node not in only):
            continue
        names.append(name)
    # One read for all: the kernel enters the namespaces it does not hold yet in one go.
    found = [ns for ns in k.ns_read_many(names) if ns is not None and ns.lab == lab]
    return LabState(lab=lab, namespaces=tuple(found))
