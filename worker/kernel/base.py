"""The kernel interface the executor and discovery use; real and fake implement it.

Every method raises ``KernelError`` with the kernel's errno; callers decide
what an errno means (EEXIST on our own object is success, ENODEV/ENOENT on a
delete is success). Names are namespace names and interface names.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple, Protocol, runtime_checkable

from worker.state import NamespaceState


class MacsecSA(NamedTuple):
    """One MACsec secure association: number, first packet number, key and key id (hex)."""

    an: int
    pn: int
    key: str
    key_id: str


def _num(value: float) -> str:
    return f"{round(value, 2):g}"


class Shaping(NamedTuple):
    """What an interface's root qdisc does to what it sends; all zero: nothing.

    A rate alone is a tbf; impairments are a netem, which then carries the rate too.
    """

    rate_mbit: int | None = None
    delay_ms: float = 0.0
    jitter_ms: float = 0.0
    loss_pct: float = 0.0
    duplicate_pct: float = 0.0
    reorder_pct: float = 0.0
    corrupt_pct: float = 0.0

    @property
    def netem(self) -> bool:
        """Whether it needs netem (anything but a rate)."""
        return any(self[1:])

    def text(self) -> str:
        """Return one canonical line ("" for nothing): discovery and the planner compare it."""
        parts = [f"rate {self.rate_mbit}mbit"] if self.rate_mbit else []
        for name, value, unit in (
            ("delay", self.delay_ms, "ms"),
            ("jitter", self.jitter_ms, "ms"),
            ("loss", self.loss_pct, "%"),
            ("duplicate", self.duplicate_pct, "%"),
            ("reorder", self.reorder_pct, "%"),
            ("corrupt", self.corrupt_pct, "%"),
        ):
            if round(value, 2):
                parts.append(f"{name} {_num(value)}{unit}")
        return " ".join(parts)


@runtime_checkable
class Kernel(Protocol):
    """Primitive kernel operations, one netlink request (or so) each."""

    def release(self) -> None:
        """Let go of anything held open in namespaces (between jobs)."""
        ...

    def ns_list(self) -> list[str]:
        """Return the names of every named namespace."""
        ...

    def ns_create(self, ns: str, lo_alias: str, lab: str | None = None) -> None:
        """Create namespace ``ns`` with ``lo`` up and tagged ``lo_alias`` (EEXIST if taken).

        With ``lab``, the namespace is owned by that lab's user namespace (made on
        first use): root of the lab may configure it, and nothing else.
        """
        ...

    def lab_uid(self, lab: str) -> int:
        """Return the host uid of root in lab ``lab``'s user namespace (made on first use)."""
        ...

    def lab_release(self, lab: str) -> None:
        """Give back lab ``lab``'s user namespace and uid range (once nothing of it is left)."""
        ...

    def ns_delete(self, ns: str) -> None:
        """Delete namespace ``ns`` and so every device in it (ENOENT if none)."""
        ...

    def ns_read(self, ns: str) -> NamespaceState | None:
        """Return what namespace ``ns`` holds, or None if it does not exist."""
        ...

    def ns_read_many(self, names: list[str]) -> list[NamespaceState | None]:
        """``ns_read`` of each of ``names``, in order (entered in one go where that is cheaper)."""
        ...

    def ns_pids(self, ns: str) -> list[int]:
        """Return the PIDs of processes whose network namespace is ``ns``."""
        ...

    def lo_aliases(self, names: list[str]) -> Iterator[tuple[str, str | None]]:
        """Yield ``(namespace, alias of its lo)`` for each existing namespace of ``names``."""
        ...

    def ns_identity(self, ns: str) -> str | None:
        """Return what tells this very namespace from any other ever named ``ns``.

        The value changes when the namespace is deleted and made again (even when
        the kernel hands out the same inode number). None if there is no such name.
        """
        ...

    def ns_pids_map(self, names: list[str]) -> dict[str, list[int]]:
        """Return ``{namespace: [pid, ...]}`` for ``names`` (one pass over /proc)."""
        ...

    def link_alias(self, ns: str, name: str) -> str | None:
        """Return the alias of interface ``name`` (ENODEV if none)."""
        ...

    def veth_add(
        self,
        ns: str,
        name: str,
        peer_ns: str,
        peer: str,
        alias: str,
        mtu: int | None = None,
        mac: str | None = None,
        peer_mac: str | None = None,
    ) -> None:
        """Create a veth pair with each end directly in its namespace, checksum offload off."""
        ...

    def bridge_add(
        self,
        ns: str,
        name: str,
        alias: str,
        stp: bool = False,
        mtu: int | None = None,
        vlan_filtering: bool = False,
    ) -> None:
        """Create a Linux bridge (VLAN filtering: EOPNOTSUPP on a kernel without it)."""
        ...

    def vxlan_add(
        self,
        ns: str,
        name: str,
        alias: str,
        vni: int,
        port: int,
        local: str | None = None,
        remote: str | None = None,
        group: str | None = None,
        dev: str | None = None,
        ttl: int | None = None,
        learning: bool = True,
        mtu: int | None = None,
        mac: str | None = None,
        underlay: bool = False,
    ) -> None:
        """Create a VXLAN device (the UDP port is always set).

        With ``underlay`` the device is made from the caller's own namespace (the
        lab host's underlay: its UDP socket lives there) and placed in ``ns``
        under ``name``: a cross-host stitch the node sees as a plain interface.
        """
        ...

    def macvlan_add(
        self,
        ns: str,
        name: str,
        alias: str,
        parent_ns: str,
        parent: str,
        mode: str,
        tap: bool = False,
        source_macs: tuple[str, ...] = (),
        mtu: int | None = None,
        mac: str | None = None,
    ) -> None:
        """Create a macvlan (or macvtap) child of ``parent_ns:parent`` in ``ns``."""
        ...

    def tuntap_add(self, ns: str, name: str, alias: str, mode: str, uid: int) -> None:
        """Create a persistent tun or tap device owned by ``uid``."""
        ...

    # -- the seed articles' other kinds (each raises EOPNOTSUPP where the module is missing)

    def dummy_add(self, ns: str, name: str, alias: str, mtu: int | None = None) -> None:
        """Create a dummy device."""
        ...

    def vlan_add(
        self,
        ns: str,
        name: str,
        alias: str,
        parent: str,
        vlan_id: int,
        protocol: str = "802.1Q",
        mtu: int | None = None,
    ) -> None:
        """Create an 802.1Q (or 802.1ad) sub-interface of ``parent`` (ENODEV if missing)."""
        ...

    def bond_add(
        self,
        ns: str,
        name: str,
        alias: str,
        mode: str,
        miimon: int,
        primary: str | None = None,
        mtu: int | None = None,
    ) -> None:
        """Create a bond (members are enslaved with ``link_set(master=...)``)."""
        ...

    def team_add(self, ns: str, name: str, alias: str, runner: str, mtu: int | None = None) -> None:
        """Create a team device in mode ``runner`` (before it has ports)."""
        ...

    def team_ports_set(
        self, ns: str, name: str, ports: tuple[str, ...], active: str | None = None
    ) -> None:
        """Give every port the team's MAC and make ``active`` the activebackup's port.

        Without teamd the kernel does neither: a port keeps its own MAC and drops what
        is sent to the team's. ENODEV if a port is missing or not the team's.
        """
        ...

    def ipvlan_add(
        self,
        ns: str,
        name: str,
        alias: str,
        parent_ns: str,
        parent: str,
        mode: str,
        tap: bool = False,
        mtu: int | None = None,
    ) -> None:
        """Create an ipvlan (or ipvtap) child of ``parent_ns:parent`` in ``ns``.

        EBUSY if the parent already has another kind of upper (one rx_handler each).
        """
        ...

    def macsec_add(
        self,
        ns: str,
        name: str,
        alias: str,
        parent: str,
        port: int,
        cipher: str,
        encrypt: bool,
        tx: MacsecSA | None = None,
        mtu: int | None = None,
    ) -> None:
        """Create a MACsec device on ``parent`` with its transmit SA (EBUSY if taken)."""
        ...

    def macsec_rx_set(
        self, ns: str, name: str, peer_mac: str, peer_port: int, sa: MacsecSA
    ) -> None:
        """Accept frames of the peer whose channel is ``peer_mac``/``peer_port``, keyed ``sa``.

        Replaces an SA of that number the channel already has.
        """
        ...

    def vcan_add(self, ns: str, name: str, alias: str) -> None:
        """Create a virtual CAN device."""
        ...

    def vxcan_add(self, ns: str, name: str, peer_ns: str, peer: str, alias: str) -> None:
        """Create a vxcan pair with each end directly in its namespace."""
        ...

    def port_vlans_set(self, ns: str, dev: str, vlans: tuple[int, ...], pvid: int | None) -> None:
        """Make bridge port ``dev`` carry exactly ``vlans`` tagged and ``pvid`` untagged."""
        ...

    def link_mac(self, ns: str, name: str) -> str:
        """Return the MAC address of interface ``name`` (ENODEV if none)."""
        ...

    def link_delete(self, ns: str, name: str) -> None:
        """Delete interface ``name`` (ENODEV if none)."""
        ...

    def link_set(
        self,
        ns: str,
        name: str,
        *,
        up: bool | None = None,
        master: str | None = None,
        nomaster: bool = False,
        mtu: int | None = None,
        mac: str | None = None,
    ) -> None:
        """Change an interface: state, bridge, MTU, MAC."""
        ...

    def addr_replace(self, ns: str, dev: str, address: str) -> None:
        """Add or replace ``address`` ("10.0.0.1/24") on ``dev``."""
        ...

    def addr_delete(self, ns: str, dev: str, address: str) -> None:
        """Remove ``address`` from ``dev`` (EADDRNOTAVAIL if absent)."""
        ...

    def route_replace(
        self, ns: str, dst: str, via: str | None, dev: str | None, metric: int | None
    ) -> None:
        """Add or replace a static route in the main table."""
        ...

    def route_delete(
        self, ns: str, dst: str, via: str | None, dev: str | None, metric: int | None
    ) -> None:
        """Remove a static route (ESRCH if absent)."""
        ...

    def sysctl_set(self, ns: str, key: str, value: str) -> None:
        """Write ``/proc/sys/<key>`` (dots for slashes) as seen inside ``ns``."""
        ...

    def shaping_set(self, ns: str, dev: str, shaping: Shaping) -> None:
        """Make ``dev``'s root qdisc do ``shaping`` (nothing: the default qdisc), in place.

        The device keeps its ifindex. EOPNOTSUPP/ENOENT where the qdisc's module is missing.
        """
        ...
