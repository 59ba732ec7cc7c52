"""An in-memory kernel with the real one's errno behaviour, for unit tests.

EEXIST when a name is taken, ENOENT for a missing namespace, ENODEV for a
missing interface, EADDRNOTAVAIL / ESRCH for a missing address / route;
deleting one veth end removes the other; deleting a namespace removes its
devices (and the peers of its veths).
"""

from __future__ import annotations

import errno
import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

from worker.kernel.errors import KernelError
from worker.state import LinkState, NamespaceState, RouteState


@dataclass
class _Link:
    state: LinkState
    peer: tuple[str, str] | None = None  # (ns, name) of a veth peer
    rate_mbit: int | None = None


@dataclass
class _Ns:
    inode: int
    links: dict[str, _Link] = field(default_factory=dict)
    routes: list[RouteState] = field(default_factory=list)
    sysctls: dict[str, str] = field(default_factory=dict)
    next_index: int = 2


def _err(code: int, what: str) -> KernelError:
    import os

    return KernelError(code, f"{what}: {os.strerror(code)}")


class FakeKernel:
    """``worker.kernel.base.Kernel`` in memory; ``calls`` records every mutating call."""

    def __init__(self) -> None:
        self.namespaces: dict[str, _Ns] = {}
        self.calls: list[tuple[str, tuple[object, ...]]] = []
        self.pids: dict[str, list[int]] = {}
        self._inode = 4026530000

    def _ns(self, ns: str) -> _Ns:
        try:
            return self.namespaces[ns]
        except KeyError:
            raise _err(errno.ENOENT, f"netns {ns}") from None

    def _link(self, ns: str, name: str) -> _Link:
        try:
            return self._ns(ns).links[name]
        except KeyError:
            raise _err(errno.ENODEV, f"{ns}:{name}") from None

    def _add(self, ns: str, name: str, kind: str, alias: str, **kw: object) -> _Link:
        space = self._ns(ns)
        if name in space.links:
            raise _err(errno.EEXIST, f"{ns}:{name}")
        index = space.next_index
        space.next_index += 1
        link = _Link(
            LinkState(name=name, ifindex=index, kind=kind, alias=alias, mac="02:00:00:00:00:00")
        )
        link.state = replace(link.state, **kw)  # type: ignore[arg-type]
        space.links[name] = link
        return link

    def _record(self, call: str, *args: object) -> None:
        self.calls.append((call, args))

    # -- namespaces

    def release(self) -> None:
        """Nothing is held open."""

    def ns_list(self) -> list[str]:
        """Return namespace names."""
        return sorted(self.namespaces)

    def ns_create(self, ns: str, lo_alias: str) -> None:
        """Create a namespace (EEXIST if taken)."""
        self._record("ns_create", ns)
        if ns in self.namespaces:
            raise _err(errno.EEXIST, f"netns {ns}")
        self._inode += 1
        space = _Ns(inode=self._inode)
        space.links["lo"] = _Link(
            LinkState(name="lo", ifindex=1, kind="loopback", alias=lo_alias, up=True, mtu=65536)
        )
        space.sysctls = {"net.ipv4.ip_forward": "0", "net.ipv6.conf.all.forwarding": "0"}
        self.namespaces[ns] = space

    def ns_delete(self, ns: str) -> None:
        """Delete a namespace and its devices (ENOENT if none)."""
        self._record("ns_delete", ns)
        space = self._ns(ns)
        for link in space.links.values():
            if link.peer is not None and link.peer[0] != ns:
                peer_space = self.namespaces.get(link.peer[0])
                if peer_space is not None:
                    peer_space.links.pop(link.peer[1], None)
        del self.namespaces[ns]

    def ns_read(self, ns: str) -> NamespaceState | None:
        """Return the namespace's state, or None."""
        from lab.topology import naming

        space = self.namespaces.get(ns)
        if space is None:
            return None
        owner = naming.parse_owner_alias(space.links["lo"].state.alias)
        lab, node = owner if owner else (None, None)
        links = []
        for link in space.links.values():
            state = link.state
            if link.peer is not None:
                peer = self.namespaces[link.peer[0]].links[link.peer[1]]
                state = replace(state, peer_ifindex=peer.state.ifindex)
            if state.master is not None and state.master not in space.links:
                state = replace(state, master=None)
            links.append(state)
        return NamespaceState(
            name=ns,
            lab=lab,
            node=node,
            inode=space.inode,
            links=tuple(links),
            routes=tuple(space.routes),
            sysctls=tuple(sorted(space.sysctls.items())),
        )

    def ns_pids(self, ns: str) -> list[int]:
        """Return no processes (the fake runs none)."""
        return list(self.pids.get(ns, []))

    def lo_aliases(self, names: list[str]) -> Iterator[tuple[str, str | None]]:
        """Yield ``(namespace, alias of its lo)`` for each existing namespace of ``names``."""
        for n in names:
            if n in self.namespaces:
                yield n, self.namespaces[n].links["lo"].state.alias

    def ns_identity(self, ns: str) -> str | None:
        """The fake namespace's inode (a fresh one for every namespace made)."""
        space = self.namespaces.get(ns)
        return None if space is None else f"fake:{space.inode}"

    def ns_pids_map(self, names: list[str]) -> dict[str, list[int]]:
        """Return the recorded processes of ``names``."""
        return {n: list(self.pids[n]) for n in names if self.pids.get(n)}

    # -- links

    def link_alias(self, ns: str, name: str) -> str | None:
        """Return an interface's alias (ENODEV if none)."""
        return self._link(ns, name).state.alias

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
        """Create a veth pair (EEXIST if either name is taken)."""
        self._record("veth_add", ns, name, peer_ns, peer)
        self._ns(ns)
        if peer in self._ns(peer_ns).links or name in self._ns(ns).links:
            raise _err(errno.EEXIST, f"{ns}:{name}")
        a = self._add(ns, name, "veth", alias, mtu=mtu or 1500, mac=mac or "02:00:00:00:00:0a")
        b = self._add(
            peer_ns, peer, "veth", alias, mtu=mtu or 1500, mac=peer_mac or "02:00:00:00:00:0b"
        )
        a.peer, b.peer = (peer_ns, peer), (ns, name)

    def bridge_add(
        self, ns: str, name: str, alias: str, stp: bool = False, mtu: int | None = None
    ) -> None:
        """Create a bridge."""
        self._record("bridge_add", ns, name)
        self._add(ns, name, "bridge", alias, mtu=mtu or 1500, info=(("stp", "1" if stp else "0"),))

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
        """Create a VXLAN device (ENODEV if ``dev`` is missing); ``underlay``: a stitch."""
        self._record("vxlan_add", ns, name)
        if dev is not None:
            self._link(ns, dev)
        self._add(
            ns, name, "vxlan", alias, mtu=mtu or 1450, info=(("vni", str(vni)), ("port", str(port)))
        )

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
        """Create a macvlan child (ENODEV if the parent is missing)."""
        self._record("macvlan_add", ns, name)
        self._link(parent_ns, parent)
        self._add(ns, name, "macvtap" if tap else "macvlan", alias, info=(("mode", mode),))

    def tuntap_add(self, ns: str, name: str, alias: str, mode: str, uid: int) -> None:
        """Create a tun/tap device."""
        self._record("tuntap_add", ns, name)
        self._add(ns, name, mode, alias)

    def link_delete(self, ns: str, name: str) -> None:
        """Delete an interface and a veth's peer (ENODEV if none)."""
        self._record("link_delete", ns, name)
        link = self._link(ns, name)
        del self._ns(ns).links[name]
        if link.peer is not None:
            self.namespaces[link.peer[0]].links.pop(link.peer[1], None)

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
        """Change an interface (ENODEV if it or the master is missing)."""
        self._record("link_set", ns, name)
        link = self._link(ns, name)
        state = link.state
        if master is not None:
            self._link(ns, master)
            state = replace(state, master=master)
        elif nomaster:
            state = replace(state, master=None)
        if up is not None:
            state = replace(state, up=up)
        if mtu is not None:
            state = replace(state, mtu=mtu)
        if mac is not None:
            state = replace(state, mac=mac)
        link.state = state

    # -- addresses, routes, sysctls

    def addr_replace(self, ns: str, dev: str, address: str) -> None:
        """Add or replace an address."""
        self._record("addr_replace", ns, dev, address)
        link = self._link(ns, dev)
        address = str(ipaddress.ip_interface(address))
        if address not in link.state.addresses:
            link.state = replace(
                link.state, addresses=tuple(sorted((*link.state.addresses, address)))
            )

    def addr_delete(self, ns: str, dev: str, address: str) -> None:
        """Remove an address (EADDRNOTAVAIL if absent)."""
        self._record("addr_delete", ns, dev, address)
        link = self._link(ns, dev)
        if address not in link.state.addresses:
            raise _err(errno.EADDRNOTAVAIL, address)
        link.state = replace(
            link.state, addresses=tuple(a for a in link.state.addresses if a != address)
        )

    def route_replace(
        self, ns: str, dst: str, via: str | None, dev: str | None, metric: int | None
    ) -> None:
        """Add or replace a route (ENODEV for a missing ``dev``)."""
        self._record("route_replace", ns, dst)
        space = self._ns(ns)
        if dev is not None:
            self._link(ns, dev)
        space.routes = [r for r in space.routes if (r.dst, r.metric) != (dst, metric)]
        space.routes.append(RouteState(dst, via, dev or "eth0", metric))

    def route_delete(
        self, ns: str, dst: str, via: str | None, dev: str | None, metric: int | None
    ) -> None:
        """Remove a route (ESRCH if absent)."""
        self._record("route_delete", ns, dst)
        space = self._ns(ns)
        kept = [r for r in space.routes if (r.dst, r.metric) != (dst, metric)]
        if len(kept) == len(space.routes):
            raise _err(errno.ESRCH, dst)
        space.routes = kept

    def sysctl_set(self, ns: str, key: str, value: str) -> None:
        """Write a sysctl (ENOENT for a key outside net.*)."""
        self._record("sysctl_set", ns, key, value)
        if not key.startswith("net."):
            raise _err(errno.ENOENT, key)
        self._ns(ns).sysctls[key] = value

    def rate_set(self, ns: str, dev: str, rate_mbit: int | None) -> None:
        """Record a rate limit."""
        self._record("rate_set", ns, dev)
        self._link(ns, dev).rate_mbit = rate_mbit
