"""An in-memory kernel with the real one's errno behaviour, for unit tests.

EEXIST when a name is taken, ENOENT for a missing namespace, ENODEV for a
missing interface, EADDRNOTAVAIL / ESRCH for a missing address / route;
deleting one veth end removes the other; deleting a namespace removes its
devices (and the peers of its veths); deleting a parent removes its children
(vlan, macvlan, ipvlan, macsec). One rx_handler upper per device: a second kind
of upper (bridge or bond/team port, macvlan, ipvlan, macsec) gets EBUSY, and a
team refuses a port that is up (EBUSY), as the kernel does.
"""

from __future__ import annotations

import errno
import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

from worker.kernel.base import MacsecSA, Shaping
from worker.kernel.errors import KernelError
from worker.state import LinkState, NamespaceState, RouteState


@dataclass
class _Link:
    state: LinkState
    peer: tuple[str, str] | None = None  # (ns, name) of a veth peer
    lower: tuple[str, str] | None = None  # (ns, name) of the parent a child goes with
    upper: str | None = None  # what holds this device's rx_handler: macvlan, ipvlan, macsec


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
        self.lab_uids: dict[str, int] = {}
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

    def ns_create(self, ns: str, lo_alias: str, lab: str | None = None) -> None:
        """Create a namespace (EEXIST if taken), owned by ``lab``'s identity when given."""
        self._record("ns_create", ns)
        if lab is not None:
            self.lab_uid(lab)
        if ns in self.namespaces:
            raise _err(errno.EEXIST, f"netns {ns}")
        self._inode += 1
        space = _Ns(inode=self._inode)
        space.links["lo"] = _Link(
            LinkState(name="lo", ifindex=1, kind="loopback", alias=lo_alias, up=True, mtu=65536)
        )
        space.sysctls = {"net.ipv4.ip_forward": "0", "net.ipv6.conf.all.forwarding": "0"}
        self.namespaces[ns] = space

    def lab_uid(self, lab: str) -> int:
        """Return the lab's uid, handing out a new range per lab (like the real pool)."""
        if lab not in self.lab_uids:
            self.lab_uids[lab] = 1_000_000_000 + len(self.lab_uids) * 65536
        return self.lab_uids[lab]

    def lab_release(self, lab: str) -> None:
        """Forget the lab's uid range."""
        self._record("lab_release", lab)
        self.lab_uids.pop(lab, None)

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

    def ns_read_many(self, names: list[str]) -> list[NamespaceState | None]:
        """``ns_read`` of each of ``names``, in order."""
        return [self.ns_read(ns) for ns in names]

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
        self,
        ns: str,
        name: str,
        alias: str,
        stp: bool = False,
        mtu: int | None = None,
        vlan_filtering: bool = False,
    ) -> None:
        """Create a bridge."""
        self._record("bridge_add", ns, name)
        info = (("stp", "1" if stp else "0"), ("vlan_filtering", "1" if vlan_filtering else "0"))
        self._add(ns, name, "bridge", alias, mtu=mtu or 1500, info=info)

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
        """Create a macvlan child (ENODEV if the parent is missing, EBUSY if it is taken)."""
        self._record("macvlan_add", ns, name)
        self._take(parent_ns, parent, "macvlan")
        child = self._add(ns, name, "macvtap" if tap else "macvlan", alias, info=(("mode", mode),))
        child.lower = (parent_ns, parent)

    def _take(self, ns: str, name: str, upper: str) -> _Link:
        """Claim the rx_handler of ``ns:name`` for ``upper`` (children of one kind share it)."""
        link = self._link(ns, name)
        if (link.upper not in (None, upper)) or link.state.master is not None:
            raise _err(errno.EBUSY, f"{ns}:{name} already has an upper device")
        return link

    def _child(
        self, ns: str, name: str, kind: str, alias: str, lower: tuple[str, str], **kw: object
    ) -> _Link:
        child = self._add(ns, name, kind, alias, **kw)
        child.lower = lower
        return child

    def dummy_add(self, ns: str, name: str, alias: str, mtu: int | None = None) -> None:
        """Create a dummy device."""
        self._record("dummy_add", ns, name)
        self._add(ns, name, "dummy", alias, mtu=mtu or 1500)

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
        """Create a VLAN (ENODEV without the parent; EEXIST for its id on the parent twice)."""
        self._record("vlan_add", ns, name)
        lower = self._link(ns, parent)
        for other in self._ns(ns).links.values():
            if other.lower == (ns, parent) and other.state.get("vlan_id") == str(vlan_id):
                raise _err(errno.EEXIST, f"VLAN {vlan_id} on {ns}:{parent}")
        info = (("vlan_id", str(vlan_id)), ("protocol", protocol))
        self._child(
            ns, name, "vlan", alias, (ns, parent), mtu=mtu or 1500, info=info,
            peer_ifindex=lower.state.ifindex,
        )  # fmt: skip

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
        """Create a bond (ENODEV if the primary is missing)."""
        self._record("bond_add", ns, name)
        info = [("mode", mode), ("miimon", str(miimon))]
        if primary is not None:
            self._link(ns, primary)
            info.append(("primary", primary))
        self._add(ns, name, "bond", alias, mtu=mtu or 1500, info=tuple(info))

    def team_add(self, ns: str, name: str, alias: str, runner: str, mtu: int | None = None) -> None:
        """Create a team device in mode ``runner``."""
        self._record("team_add", ns, name)
        self._add(ns, name, "team", alias, mtu=mtu or 1500, info=(("runner", runner),))

    def team_ports_set(
        self, ns: str, name: str, ports: tuple[str, ...], active: str | None = None
    ) -> None:
        """Give ports the team's MAC; set the active port (ENODEV for a port not the team's)."""
        self._record("team_ports_set", ns, name, ports, active)
        team = self._link(ns, name)
        for port in ports:
            link = self._link(ns, port)
            if link.state.master != name:
                raise _err(errno.ENODEV, f"{port} is no port of {name}")
            link.state = replace(link.state, mac=team.state.mac)
        if active is not None:
            info = (*((k, v) for k, v in team.state.info if k != "active"), ("active", active))
            team.state = replace(team.state, info=info)

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
        """Create an ipvlan/ipvtap child (ENODEV without the parent, EBUSY if it is taken)."""
        self._record("ipvlan_add", ns, name)
        lower = self._take(parent_ns, parent, "ipvlan")
        self._child(
            ns, name, "ipvtap" if tap else "ipvlan", alias, (parent_ns, parent),
            mtu=mtu or lower.state.mtu, mac=lower.state.mac, info=(("mode", mode),),
        )  # fmt: skip
        lower.upper = "ipvlan"

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
        """Create a MACsec device (ENODEV without the parent, EBUSY if it is taken)."""
        self._record("macsec_add", ns, name)
        lower = self._take(ns, parent, "macsec")
        if lower.upper == "macsec":
            raise _err(errno.EBUSY, f"{ns}:{parent} already carries a macsec device")
        info = [
            ("port", str(port)), ("cipher", cipher), ("encrypt", "1" if encrypt else "0"),
            ("tx_an", str(tx.an if tx is not None else 0)),
        ]  # fmt: skip
        if tx is not None:
            info.append(("tx", f"{tx.an}:{tx.key_id}"))
        self._child(
            ns, name, "macsec", alias, (ns, parent),
            mtu=mtu or lower.state.mtu - 32, mac=lower.state.mac, info=tuple(info),
        )  # fmt: skip
        lower.upper = "macsec"

    def macsec_rx_set(
        self, ns: str, name: str, peer_mac: str, peer_port: int, sa: MacsecSA
    ) -> None:
        """Accept the peer's channel (an SA of the same number is replaced)."""
        self._record("macsec_rx_set", ns, name, peer_mac)
        link = self._link(ns, name)
        channel = peer_mac.replace(":", "") + f"{peer_port:04x}"
        kept = [
            (k, v)
            for k, v in link.state.info
            if not (k == "rx" and v.startswith(f"{channel}:{sa.an}:"))
        ]
        kept.append(("rx", f"{channel}:{sa.an}:{sa.key_id}"))
        link.state = replace(link.state, info=tuple(kept))

    def vcan_add(self, ns: str, name: str, alias: str) -> None:
        """Create a virtual CAN device."""
        self._record("vcan_add", ns, name)
        self._add(ns, name, "vcan", alias, mtu=72)

    def vxcan_add(self, ns: str, name: str, peer_ns: str, peer: str, alias: str) -> None:
        """Create a vxcan pair (EEXIST if either name is taken)."""
        self._record("vxcan_add", ns, name, peer_ns, peer)
        if peer in self._ns(peer_ns).links or name in self._ns(ns).links:
            raise _err(errno.EEXIST, f"{ns}:{name}")
        a = self._add(ns, name, "vxcan", alias, mtu=72)
        b = self._add(peer_ns, peer, "vxcan", alias, mtu=72)
        a.peer, b.peer = (peer_ns, peer), (ns, name)

    def port_vlans_set(self, ns: str, dev: str, vlans: tuple[int, ...], pvid: int | None) -> None:
        """Set a port's VLANs (EOPNOTSUPP unless it is a port of a VLAN-filtering bridge)."""
        self._record("port_vlans_set", ns, dev, vlans, pvid)
        link = self._link(ns, dev)
        master = link.state.master
        bridge = self._ns(ns).links.get(master) if master is not None else None
        if bridge is None or bridge.state.get("vlan_filtering") != "1":
            raise _err(errno.EOPNOTSUPP, f"{ns}:{dev} is no port of a VLAN-filtering bridge")
        info = [(k, v) for k, v in link.state.info if k not in ("vlans", "pvid")]
        info.append(("vlans", ",".join(str(v) for v in sorted(vlans))))
        if pvid is not None:
            info.append(("pvid", str(pvid)))
        link.state = replace(link.state, info=tuple(info))

    def link_mac(self, ns: str, name: str) -> str:
        """Return an interface's MAC (ENODEV if none)."""
        return self._link(ns, name).state.mac

    def tuntap_add(self, ns: str, name: str, alias: str, mode: str, uid: int) -> None:
        """Create a tun/tap device."""
        self._record("tuntap_add", ns, name)
        self._add(ns, name, mode, alias)

    def link_delete(self, ns: str, name: str) -> None:
        """Delete an interface, a veth's peer and the children on it (ENODEV if none)."""
        self._record("link_delete", ns, name)
        link = self._link(ns, name)
        del self._ns(ns).links[name]
        if link.peer is not None:
            self.namespaces[link.peer[0]].links.pop(link.peer[1], None)
        if link.lower is not None:
            lower = self.namespaces.get(link.lower[0], _Ns(0)).links.get(link.lower[1])
            if lower is not None and not any(
                other.lower == link.lower for space in self.namespaces.values()
                for other in space.links.values()
            ):  # fmt: skip
                lower.upper = None
        for other in self._ns(ns).links.values():
            if other.state.master == name:  # a bridge, bond or team releases its ports
                other.state = replace(other.state, master=None)
        for space_name, space in list(self.namespaces.items()):
            for child_name, child in list(space.links.items()):
                if child.lower == (ns, name):
                    self.link_delete(space_name, child_name)

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
        """Change an interface (ENODEV if it or the master is missing).

        EBUSY for a master when the device already has another upper, or when the
        master is a team and the device is up (the team driver refuses it).
        """
        self._record("link_set", ns, name)
        link = self._link(ns, name)
        state = link.state
        if master is not None:
            target = self._link(ns, master)
            if link.upper is not None:
                raise _err(errno.EBUSY, f"{ns}:{name} already has an upper device")
            if target.state.kind == "team" and state.up:
                raise _err(errno.EBUSY, f"{ns}:{name} is up; set it down before adding it")
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

    def shaping_set(self, ns: str, dev: str, shaping: Shaping) -> None:
        """Record the shaping, shown by discovery as the real kernel's is."""
        self._record("shaping_set", ns, dev, shaping)
        link = self._link(ns, dev)
        info = [(k, v) for k, v in link.state.info if k != "shaping"]
        if shaping.text():
            info.append(("shaping", shaping.text()))
        link.state = replace(link.state, info=tuple(info))
