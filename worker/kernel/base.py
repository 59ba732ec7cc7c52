"""The kernel interface the executor and discovery use; real and fake implement it.

Every method raises ``KernelError`` with the kernel's errno; callers decide
what an errno means (EEXIST on our own object is success, ENODEV/ENOENT on a
delete is success). Names are namespace names and interface names.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol, runtime_checkable

from worker.state import NamespaceState


@runtime_checkable
class Kernel(Protocol):
    """Primitive kernel operations, one netlink request (or so) each."""

    def release(self) -> None:
        """Let go of anything held open in namespaces (between jobs)."""
        ...

    def ns_list(self) -> list[str]:
        """Return the names of every named namespace."""
        ...

    def ns_create(self, ns: str, lo_alias: str) -> None:
        """Create namespace ``ns`` with ``lo`` up and tagged ``lo_alias`` (EEXIST if taken)."""
        ...

    def ns_delete(self, ns: str) -> None:
        """Delete namespace ``ns`` and so every device in it (ENOENT if none)."""
        ...

    def ns_read(self, ns: str) -> NamespaceState | None:
        """Return what namespace ``ns`` holds, or None if it does not exist."""
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
        self, ns: str, name: str, alias: str, stp: bool = False, mtu: int | None = None
    ) -> None:
        """Create a Linux bridge."""
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

    def rate_set(self, ns: str, dev: str, rate_mbit: int | None) -> None:
        """Shape ``dev`` with a tbf qdisc at ``rate_mbit`` (None removes it)."""
        ...
