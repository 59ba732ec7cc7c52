"""The real kernel: named namespaces without forking, one netlink socket per namespace.

A helper thread creates a namespace (unshare + bind mount, as iproute2 does)
and, while inside it, opens that namespace's netlink socket and an ioctl
socket; both stay bound to the namespace after the thread returns home, so
every later request is a plain ``send``/``recv`` from the calling thread.
"""

from __future__ import annotations

import ctypes
import dataclasses
import errno
import fcntl
import ipaddress
import os
import queue
import socket
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass

from lab.topology import naming
from worker.kernel import messages as msg
from worker.kernel import netlink as nl
from worker.kernel import netns, userns
from worker.kernel.base import MacsecSA, Shaping
from worker.kernel.errors import KernelError
from worker.state import FORWARDING_SYSCTLS, LinkState, NamespaceState, RouteState

SIOCETHTOOL = 0x8946
ETHTOOL_STXCSUM = 0x17
TUNSETIFF = 0x400454CA
TUNSETPERSIST = 0x400454CB
TUNSETOWNER = 0x400454CC
IFF_TUN = 0x0001
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000
IFA_F_NODAD = 0x02
ARPHRD_ETHER = 1
ARPHRD_LOOPBACK = 772


@dataclass
class _Handle:
    """What we hold open for one namespace."""

    fd: int
    inode: int
    sock: nl.NetlinkSocket
    ioctl: socket.socket
    lock: threading.Lock

    def close(self) -> None:
        self.sock.close()
        self.ioctl.close()
        os.close(self.fd)


def _open_sockets() -> tuple[nl.NetlinkSocket, socket.socket]:
    """Open the netlink and ioctl sockets (the caller's thread is inside the namespace)."""
    return nl.NetlinkSocket(), socket.socket(socket.AF_INET, socket.SOCK_DGRAM)


class LinuxKernel:
    """``worker.kernel.base.Kernel`` on the running Linux kernel."""

    def __init__(self) -> None:
        self._thread = netns.NsThread()
        self._handles: dict[str, _Handle] = {}
        self._lock = threading.Lock()
        self._makers: dict[str, userns.NetnsMaker] = {}
        self._families: dict[str, int] = {}

    # -- namespaces -------------------------------------------------------------------------

    def close(self) -> None:
        """Close every socket held and stop the helper thread."""
        with self._lock:
            for handle in self._handles.values():
                handle.close()
            self._handles.clear()
        self._end_makers()
        self._thread.close()

    def _end_makers(self) -> None:
        with self._lock:
            makers = list(self._makers.values())
            self._makers.clear()
        for maker in makers:
            maker.close()

    def release(self) -> None:
        """Close the sockets held in namespaces (the helper thread stays).

        A socket keeps its namespace alive even after the name is deleted, so
        a long-lived worker lets go of them between jobs: another process may
        destroy the lab meanwhile.
        """
        with self._lock:
            handles = list(self._handles.values())
            self._handles.clear()
        for handle in handles:
            handle.close()
        self._end_makers()

    def ns_list(self) -> list[str]:
        """Return the names under /run/netns."""
        return netns.list_names()

    def _handle(self, ns: str) -> _Handle:
        path = netns.netns_path(ns)
        try:
            inode = os.stat(path).st_ino
        except FileNotFoundError:
            self._drop(ns)
            raise KernelError(errno.ENOENT, f"netns {ns}: no such namespace") from None
        with self._lock:
            handle = self._handles.get(ns)
        if handle is not None and handle.inode == inode:
            return handle
        self._drop(ns)  # deleted and re-made by someone else: our socket is stale

        def enter() -> _Handle:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                st = os.fstat(fd)
                netns.setns(fd)
                sock, io = _open_sockets()
            except BaseException:
                os.close(fd)
                raise
            return _Handle(fd, st.st_ino, sock, io, threading.Lock())

        try:
            handle = self._thread.call(enter)
        except OSError as exc:
            raise KernelError(exc.errno or errno.EIO, f"netns {ns}: {exc.strerror}") from None
        with self._lock:
            self._handles[ns] = handle
        return handle

    def _drop(self, ns: str) -> None:
        with self._lock:
            handle = self._handles.pop(ns, None)
        if handle is not None:
            handle.close()

    def lab_uid(self, lab: str) -> int:
        """Return the host uid of root in lab ``lab``'s user namespace (made on first use).

        Raises:
            KernelError: the uid pool is exhausted, or the user namespace could not be made.
        """
        # The lab's maker starts now, in the background, while the caller plans.
        return self._maker(lab).identity.uid

    def lab_release(self, lab: str) -> None:
        """Give back lab ``lab``'s user namespace and uid range."""
        with self._lock:
            maker = self._makers.pop(lab, None)
        if maker is not None:
            maker.close()
        userns.release_identity(lab)

    def _maker(self, lab: str) -> userns.NetnsMaker:
        with self._lock:
            maker = self._makers.get(lab)
        if maker is not None and userns.is_userns(maker.identity.userns):
            return maker
        maker = userns.open_maker(lab)
        with self._lock:
            old = self._makers.get(lab)
            self._makers[lab] = maker
        if old is not None:
            old.close()
        return maker

    def ns_create(self, ns: str, lo_alias: str, lab: str | None = None) -> None:
        """Create a namespace, bring ``lo`` up and tag it; with ``lab``, owned by the lab.

        Raises:
            KernelError: EEXIST when the name is taken, or the mount failed.
        """
        netns.ensure_run_dir()
        enter = self._maker(lab).enter_new if lab is not None else netns.unshare_net

        sockets: list[tuple[nl.NetlinkSocket, socket.socket]] = []

        def tag_lo() -> None:
            # Before the namespace has its name: a namespace under one of our names
            # always carries its tag, even when this process dies right after.
            sockets.append(_open_sockets())
            sockets[0][0].request(
                nl.RTM_NEWLINK,
                0,
                nl.ifinfo(1, nl.IFF_UP, nl.IFF_UP) + nl.nla_str(nl.IFLA_IFALIAS, lo_alias),
            )

        def make() -> _Handle:
            try:
                fd = netns.make_in_thread(ns, tag_lo, enter)
            except BaseException:
                for sock, io in sockets:
                    sock.close()
                    io.close()
                raise
            sock, io = sockets[0]
            return _Handle(fd, os.fstat(fd).st_ino, sock, io, threading.Lock())

        handle = self._thread.call(make)
        with self._lock:
            old = self._handles.pop(ns, None)
            self._handles[ns] = handle
        if old is not None:
            old.close()

    def ns_delete(self, ns: str) -> None:
        """Close our sockets in the namespace, then unmount and unlink it.

        Raises:
            KernelError: ENOENT when there is no such namespace.
        """
        self._drop(ns)
        netns.remove(ns)

    def lo_aliases(self, names: list[str]) -> Iterator[tuple[str, str | None]]:
        """Yield ``(namespace, alias of its lo)`` for each existing namespace of ``names``.

        The helper thread enters each namespace in turn and asks for ``lo`` on a
        short-lived socket; results stream back as they come, so the caller can
        already delete a verified namespace while the next one is read (a
        destroy then costs little more than the unmounts).
        """
        results: queue.SimpleQueue[tuple[str, str | None] | None] = queue.SimpleQueue()

        def read_all() -> None:
            try:
                for ns in names:
                    try:
                        fd = os.open(netns.netns_path(ns), os.O_RDONLY | os.O_CLOEXEC)
                    except OSError:
                        continue
                    alias: str | None = None
                    try:
                        netns.setns(fd)
                        sock = nl.NetlinkSocket()
                        try:
                            payload = sock.get_link("lo")
                        finally:
                            sock.close()
                        found = nl.find_attr(payload, _IFI.size, nl.IFLA_IFALIAS)
                        alias = nl.attr_str(found) or None
                    except (KernelError, OSError):
                        alias = None
                    finally:
                        os.close(fd)
                    results.put((ns, alias))
            finally:
                results.put(None)

        future = self._thread.submit(read_all)
        while True:
            item = results.get()
            if item is None:
                break
            yield item
        future.result()

    def ns_pids(self, ns: str) -> list[int]:
        """Return PIDs whose /proc/<pid>/ns/net is namespace ``ns`` (never our own)."""
        return self.ns_pids_map([ns]).get(ns, [])

    def ns_identity(self, ns: str) -> str | None:
        """Device, inode and change time (ns) of the namespace's file: a reused inode
        number gets a new change time, so a namespace made again never matches."""
        try:
            st = os.stat(netns.netns_path(ns))
        except OSError:
            return None
        return f"{st.st_dev}:{st.st_ino}:{st.st_ctime_ns}"

    def ns_pids_map(self, names: list[str]) -> dict[str, list[int]]:
        """Return ``{namespace: [pid, ...]}`` for ``names`` from one pass over /proc."""
        wanted: dict[tuple[int, int], str] = {}
        for ns in names:
            try:
                st = os.stat(netns.netns_path(ns))
            except FileNotFoundError:
                continue
            wanted[(st.st_dev, st.st_ino)] = ns
        found: dict[str, list[int]] = {}
        if not wanted:
            return found
        me = os.getpid()
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) == me:
                continue
            try:
                pst = os.stat(f"/proc/{entry}/ns/net")
            except OSError:
                continue
            ns_name = wanted.get((pst.st_dev, pst.st_ino))
            if ns_name is not None:
                found.setdefault(ns_name, []).append(int(entry))
        return found

    def ns_read_many(self, names: list[str]) -> list[NamespaceState | None]:
        """``ns_read`` of each of ``names``, in order, entering them in one trip.

        Opening a namespace's sockets means a hop through the helper thread; on a busy
        host each hop waits for the scheduler (milliseconds), which made discovery of
        a big lab cost a hop per namespace. Here the helper enters every namespace not
        held yet in one call; the reads then run on the held sockets.
        """
        self._open_handles([ns for ns in names if not self._holds(ns)])
        return [self.ns_read(ns) for ns in names]

    def _holds(self, ns: str) -> bool:
        with self._lock:
            return ns in self._handles

    def _open_handles(self, names: list[str]) -> None:
        """Enter each of ``names`` once from the helper thread and keep its sockets.

        A namespace that is gone (or cannot be entered) is skipped: ``ns_read`` then
        reports it as it would have.
        """
        if not names:
            return

        def enter_all() -> list[tuple[str, _Handle]]:
            out = []
            for ns in names:
                try:
                    fd = os.open(netns.netns_path(ns), os.O_RDONLY | os.O_CLOEXEC)
                except OSError:
                    continue
                try:
                    st = os.fstat(fd)
                    netns.setns(fd)
                    sock, io = _open_sockets()
                except (OSError, KernelError):
                    os.close(fd)
                    continue
                out.append((ns, _Handle(fd, st.st_ino, sock, io, threading.Lock())))
            return out

        opened = self._thread.call(enter_all)
        stale = []
        with self._lock:
            for ns, handle in opened:
                old = self._handles.get(ns)
                self._handles[ns] = handle
                if old is not None:
                    stale.append(old)
        for handle in stale:
            handle.close()

    def ns_read(self, ns: str) -> NamespaceState | None:
        """Read the namespace's links, addresses, static routes and forwarding sysctls."""
        try:
            handle = self._handle(ns)
        except KernelError as exc:
            if exc.errno == errno.ENOENT:
                return None
            raise
        with handle.lock:
            links = handle.sock.dump(nl.RTM_GETLINK, nl.ifinfo())
            addrs = handle.sock.dump(nl.RTM_GETADDR, nl.ifaddr(socket.AF_UNSPEC, 0, 0))
            routes = handle.sock.dump(nl.RTM_GETROUTE, nl.rtmsg(socket.AF_UNSPEC, 0, 0, protocol=0))
            # Forwarding over netlink on the socket already open in the namespace: no
            # trip through the helper thread (which costs more than the three dumps).
            netconf = _forwarding(handle.sock)
        missing = [key for key in FORWARDING_SYSCTLS if key not in netconf]

        def read_sysctls() -> dict[str, str]:
            netns.setns(handle.fd)
            out = {}
            for key in missing:
                try:
                    with open("/proc/sys/" + key.replace(".", "/")) as f:
                        out[key] = f.read().strip()
                except OSError:
                    continue
            return out

        if missing:  # a kernel without netconf for a family: read the files
            netconf.update(self._thread.call(read_sysctls))
        sysctls = [(key, netconf[key]) for key in FORWARDING_SYSCTLS if key in netconf]
        state = _namespace_state(ns, handle.inode, links, addrs, routes, tuple(sysctls))
        return self._seed_extras(handle, state, conditioned=any(map(_shaped, links)))

    def _seed_extras(
        self, handle: _Handle, state: NamespaceState, conditioned: bool = True
    ) -> NamespaceState:
        """Add what rtnetlink's link dump does not say about the seed kinds.

        A bond's primary by name, a team's mode and active port, a macsec device's SA
        numbers and key ids (generic netlink), a VLAN-filtering bridge's port VLANs.
        Each read happens only when the namespace has such a device, so a lab of
        veths and bridges is discovered as fast as before.
        """
        names = {link.ifindex: link.name for link in state.links}
        extra: dict[int, list[tuple[str, str]]] = {}
        # Link conditioning: one dump; only root netem and tbf qdiscs are decoded. The
        # link dump names each device's root qdisc, so a namespace with neither (every
        # unconditioned lab) skips the dump.
        qdiscs: list[bytes] = []
        if conditioned:
            with handle.lock:
                qdiscs = handle.sock.dump(msg.RTM_GETQDISC, msg.qdisc_dump())
        for payload in qdiscs:
            shaped = msg.read_qdisc(payload)
            if shaped is not None and shaped[1].text():
                extra.setdefault(shaped[0], []).append(("shaping", shaped[1].text()))
        for link in state.links:
            if link.kind == "bond" and link.get("primary_ifindex"):
                primary = names.get(int(link.get("primary_ifindex") or 0), "")
                extra.setdefault(link.ifindex, []).append(("primary", primary))
            elif link.kind == "team":
                answers = self._genl_read(
                    handle, "team", msg.team_options_get(link.ifindex), dump=False
                )
                options: dict[str, str | int] = {}
                for answer in answers:
                    options.update(msg.read_team_options(answer))
                items = extra.setdefault(link.ifindex, [])
                items.append(("runner", str(options.get("mode", ""))))
                active = options.get("activeport")
                if isinstance(active, int) and active:
                    items.append(("active", names.get(active, str(active))))
        if any(link.kind == "macsec" for link in state.links):
            for answer in self._genl_read(handle, "macsec", msg.macsec_dump(), dump=True):
                index, items = msg.read_macsec(answer)
                extra.setdefault(index, []).extend(items)
        if any(link.kind == "bridge" and link.get("vlan_filtering") == "1" for link in state.links):
            for index, (tagged, pvid) in self._port_vlans(handle).items():
                items = extra.setdefault(index, [])
                items.append(("vlans", ",".join(str(v) for v in tagged)))
                if pvid is not None:
                    items.append(("pvid", str(pvid)))
        if not extra:
            return state
        links = tuple(
            dataclasses.replace(link, info=link.info + tuple(extra[link.ifindex]))
            if link.ifindex in extra
            else link
            for link in state.links
        )
        return dataclasses.replace(state, links=links)

    # -- links ----------------------------------------------------------------------------

    def _index(self, handle: _Handle, name: str) -> int:
        return nl.link_index(handle.sock.get_link(name))

    def link_alias(self, ns: str, name: str) -> str | None:
        """Return interface ``name``'s alias.

        Raises:
            KernelError: ENODEV if there is no such interface; ENOENT if no namespace.
        """
        handle = self._handle(ns)
        with handle.lock:
            payload = handle.sock.get_link(name)
        return nl.attr_str(nl.find_attr(payload, _IFI.size, nl.IFLA_IFALIAS)) or None

    def _newlink(self, handle: _Handle, body: bytes) -> None:
        with handle.lock:
            handle.sock.request(nl.RTM_NEWLINK, nl.NLM_F_CREATE | nl.NLM_F_EXCL, body)

    def _tag(self, handle: _Handle, name: str, alias: str, up: bool = False) -> None:
        flags = nl.IFF_UP if up else 0
        with handle.lock:
            handle.sock.request(
                nl.RTM_NEWLINK,
                0,
                nl.ifinfo(0, flags, flags)
                + nl.nla_str(nl.IFLA_IFNAME, name)
                + nl.nla_str(nl.IFLA_IFALIAS, alias),
            )

    @staticmethod
    def _common(mtu: int | None, mac: str | None) -> bytes:
        out = b""
        if mtu is not None:
            out += nl.nla_u32(nl.IFLA_MTU, mtu)
        if mac is not None:
            out += nl.nla(nl.IFLA_ADDRESS, nl.mac_bytes(mac))
        return out

    def _tx_csum_off(self, handle: _Handle, name: str) -> None:
        # veths hand packets over with a partial checksum; captures would show
        # them as wrong. Turning tx checksum offload off makes the kernel fill
        # them in, so a capture teaches the right thing.
        value = ctypes.create_string_buffer(struct.pack("=II", ETHTOOL_STXCSUM, 0), 8)
        ifr = bytearray(
            struct.pack("16sP", name.encode(), ctypes.addressof(value)).ljust(40, b"\0")
        )
        try:
            fcntl.ioctl(handle.ioctl.fileno(), SIOCETHTOOL, ifr)
        except OSError as exc:
            raise KernelError(exc.errno or errno.EIO, f"ethtool tx off {name}: {exc}") from None

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
        """Create a veth pair, each end directly in its namespace, tagged, checksum offload off.

        Raises:
            KernelError: EEXIST if a name is taken; ENOENT if a namespace is missing.
        """
        handle = self._handle(ns)
        peer_handle = handle if peer_ns == ns else self._handle(peer_ns)
        peer_attrs = nl.nla_str(nl.IFLA_IFNAME, peer) + self._common(mtu, peer_mac)
        if peer_handle is not handle:
            peer_attrs += nl.nla_u32(nl.IFLA_NET_NS_FD, peer_handle.fd)
        body = (
            nl.ifinfo()
            + nl.nla_str(nl.IFLA_IFNAME, name)
            + self._common(mtu, mac)
            + nl.nla(
                nl.IFLA_LINKINFO,
                nl.nla_str(nl.IFLA_INFO_KIND, "veth")
                + nl.nla(nl.IFLA_INFO_DATA, nl.nla(nl.VETH_INFO_PEER, nl.ifinfo() + peer_attrs)),
            )
        )
        self._newlink(handle, body)
        self._tag(handle, name, alias)
        self._tag(peer_handle, peer, alias)
        self._tx_csum_off(handle, name)
        self._tx_csum_off(peer_handle, peer)

    def bridge_add(
        self,
        ns: str,
        name: str,
        alias: str,
        stp: bool = False,
        mtu: int | None = None,
        vlan_filtering: bool = False,
    ) -> None:
        """Create a bridge (STP on request, with a short forward delay).

        Raises:
            KernelError: EEXIST if the name is taken; EOPNOTSUPP for VLAN filtering on a
                kernel built without it.
        """
        handle = self._handle(ns)
        if vlan_filtering:
            attrs: list[tuple[str, object]] = [("IFLA_BR_STP_STATE", 1 if stp else 0)]
            if stp:
                attrs.append(("IFLA_BR_FORWARD_DELAY", 400))
            attrs.append(("IFLA_BR_VLAN_FILTERING", 1))
            self._newlink(handle, msg.newlink(name, "bridge", attrs, mtu=mtu))
            self._tag(handle, name, alias)
            return
        data = nl.nla_u32(nl.IFLA_BR_STP_STATE, 1 if stp else 0)
        if stp:
            data += nl.nla_u32(1, 400)  # IFLA_BR_FORWARD_DELAY: 4 s, so labs converge quickly
        body = (
            nl.ifinfo()
            + nl.nla_str(nl.IFLA_IFNAME, name)
            + self._common(mtu, None)
            + nl.nla(
                nl.IFLA_LINKINFO,
                nl.nla_str(nl.IFLA_INFO_KIND, "bridge") + nl.nla(nl.IFLA_INFO_DATA, data),
            )
        )
        self._newlink(handle, body)
        self._tag(handle, name, alias)

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
        """Create a VXLAN device; the destination port is always given (else 8472).

        With ``underlay`` (a cross-host stitch) the request goes to a socket in the
        calling thread's namespace, the lab host's underlay, with IFLA_NET_NS_FD
        naming ``ns``: the kernel keeps the device's UDP socket in the underlay and
        the device is born in the node under its own name (no transit name to clash).

        Raises:
            KernelError: EEXIST if the name is taken; ENODEV if ``dev`` is missing.
        """
        handle = self._handle(ns)
        data = nl.nla_u32(nl.IFLA_VXLAN_ID, vni) + nl.nla(
            nl.IFLA_VXLAN_PORT, struct.pack("!H", port)
        )
        peer = remote or group
        if peer is not None:
            ip = ipaddress.ip_address(peer)
            data += nl.nla(
                nl.IFLA_VXLAN_GROUP if ip.version == 4 else nl.IFLA_VXLAN_GROUP6, ip.packed
            )
        if local is not None:
            ip = ipaddress.ip_address(local)
            data += nl.nla(
                nl.IFLA_VXLAN_LOCAL if ip.version == 4 else nl.IFLA_VXLAN_LOCAL6, ip.packed
            )
        # A stitch asks from a socket in the calling thread's namespace (the lab
        # host's underlay): the kernel keeps the UDP socket, and ``dev``, there.
        home = nl.NetlinkSocket() if underlay else None
        if dev is not None:
            if home is not None:
                try:
                    data += nl.nla_u32(nl.IFLA_VXLAN_LINK, nl.link_index(home.get_link(dev)))
                except KernelError:
                    home.close()
                    raise
            else:
                with handle.lock:
                    data += nl.nla_u32(nl.IFLA_VXLAN_LINK, self._index(handle, dev))
        if ttl is not None:
            data += nl.nla_u8(nl.IFLA_VXLAN_TTL, ttl)
        data += nl.nla_u8(nl.IFLA_VXLAN_LEARNING, 1 if learning else 0)
        body = (
            nl.ifinfo()
            + nl.nla_str(nl.IFLA_IFNAME, name)
            + self._common(mtu, mac)
            + nl.nla(
                nl.IFLA_LINKINFO,
                nl.nla_str(nl.IFLA_INFO_KIND, "vxlan") + nl.nla(nl.IFLA_INFO_DATA, data),
            )
        )
        if home is not None:
            try:
                # EEXIST would only be reported by the node's namespace: check it first.
                self._exists_check(handle, name)
                home.request(
                    nl.RTM_NEWLINK,
                    nl.NLM_F_CREATE | nl.NLM_F_EXCL,
                    body + nl.nla_u32(nl.IFLA_NET_NS_FD, handle.fd),
                )
            finally:
                home.close()
        else:
            self._newlink(handle, body)
        self._tag(handle, name, alias)

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
        """Create a macvlan/macvtap child on ``parent`` (possibly another namespace).

        The request goes to the parent's namespace (the kernel looks the parent
        up there) with IFLA_NET_NS_FD naming the child's namespace, so the child
        is born where it belongs under its own name.

        Raises:
            KernelError: EEXIST if the name is taken; ENODEV if the parent is missing.
        """
        handle = self._handle(ns)
        parent_handle = handle if parent_ns == ns else self._handle(parent_ns)
        data = nl.nla_u32(nl.IFLA_MACVLAN_MODE, nl.MACVLAN_MODES[mode])
        if mode == "source" and source_macs:
            data += nl.nla_u32(nl.IFLA_MACVLAN_MACADDR_MODE, nl.MACVLAN_MACADDR_SET)
            data += nl.nla(
                nl.IFLA_MACVLAN_MACADDR_DATA,
                b"".join(nl.nla(nl.IFLA_MACVLAN_MACADDR, nl.mac_bytes(m)) for m in source_macs),
            )
        with parent_handle.lock:
            parent_index = self._index(parent_handle, parent)
        body = (
            nl.ifinfo()
            + nl.nla_str(nl.IFLA_IFNAME, name)
            + nl.nla_u32(nl.IFLA_LINK, parent_index)
            + self._common(mtu, mac)
            + nl.nla(
                nl.IFLA_LINKINFO,
                nl.nla_str(nl.IFLA_INFO_KIND, "macvtap" if tap else "macvlan")
                + nl.nla(nl.IFLA_INFO_DATA, data),
            )
        )
        if parent_handle is not handle:
            body += nl.nla_u32(nl.IFLA_NET_NS_FD, handle.fd)
        # EEXIST is only reported by the namespace the child goes to; check it
        # first, since a name clash would otherwise look like success elsewhere.
        self._exists_check(handle, name)
        self._newlink(parent_handle, body)
        self._tag(handle, name, alias)

    def _exists_check(self, handle: _Handle, name: str) -> None:
        try:
            with handle.lock:
                handle.sock.get_link(name)
        except KernelError as exc:
            if exc.errno == errno.ENODEV:
                return
            raise
        raise KernelError(errno.EEXIST, f"interface {name} exists")

    def tuntap_add(self, ns: str, name: str, alias: str, mode: str, uid: int) -> None:
        """Create a persistent tun/tap in ``ns`` owned by ``uid`` (so a program can open it).

        Raises:
            KernelError: EEXIST if the name is taken.
        """
        handle = self._handle(ns)
        self._exists_check(handle, name)
        flags = (IFF_TAP if mode == "tap" else IFF_TUN) | IFF_NO_PI

        def make() -> None:
            # /dev/net/tun makes the device in the opener's namespace.
            netns.setns(handle.fd)
            fd = os.open("/dev/net/tun", os.O_RDWR | os.O_CLOEXEC)
            try:
                fcntl.ioctl(
                    fd, TUNSETIFF, struct.pack("16sH", name.encode(), flags).ljust(40, b"\0")
                )
                fcntl.ioctl(fd, TUNSETOWNER, uid)
                fcntl.ioctl(fd, TUNSETPERSIST, 1)
            finally:
                os.close(fd)

        try:
            self._thread.call(make)
        except OSError as exc:
            raise KernelError(exc.errno or errno.EIO, f"{mode} {name}: {exc.strerror}") from None
        self._tag(handle, name, alias)

    # -- the seed articles' other kinds: messages from pyroute2's classes (messages.py) --

    def _linked(self, handle: _Handle, parent: str) -> int:
        with handle.lock:
            return self._index(handle, parent)

    def dummy_add(self, ns: str, name: str, alias: str, mtu: int | None = None) -> None:
        """Create a dummy device.

        Raises:
            KernelError: EEXIST if the name is taken; EOPNOTSUPP without the dummy module.
        """
        handle = self._handle(ns)
        self._newlink(handle, msg.newlink(name, "dummy", mtu=mtu))
        self._tag(handle, name, alias)

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
        """Create a VLAN sub-interface of ``parent``.

        Raises:
            KernelError: EEXIST if the name (or the id on the parent) is taken; ENODEV if
                the parent is missing; EOPNOTSUPP without 8021q.
        """
        handle = self._handle(ns)
        body = msg.newlink(
            name,
            "vlan",
            msg.vlan_data(vlan_id, protocol),
            link=self._linked(handle, parent),
            mtu=mtu,
        )
        self._newlink(handle, body)
        self._tag(handle, name, alias)

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
        """Create a bond; ``primary`` (a member, made before the bond) is named by ifindex.

        Raises:
            KernelError: EEXIST if the name is taken; ENODEV if the primary is missing;
                EOPNOTSUPP without bonding.
        """
        handle = self._handle(ns)
        index = self._linked(handle, primary) if primary is not None else None
        self._newlink(
            handle, msg.newlink(name, "bond", msg.bond_data(mode, miimon, index), mtu=mtu)
        )
        self._tag(handle, name, alias)

    def team_add(self, ns: str, name: str, alias: str, runner: str, mtu: int | None = None) -> None:
        """Create a team device and set its mode (the kernel takes a mode only without ports).

        Raises:
            KernelError: EEXIST if the name is taken; EOPNOTSUPP without team; ENOENT
                when the mode's module (team_mode_<runner>) is missing.
        """
        handle = self._handle(ns)
        self._newlink(handle, msg.newlink(name, "team", mtu=mtu))
        self._tag(handle, name, alias)
        index = self._linked(handle, name)
        self._genl(handle, "team", [msg.team_option(index, "mode", runner)])

    def team_ports_set(
        self, ns: str, name: str, ports: tuple[str, ...], active: str | None = None
    ) -> None:
        """Give every port the team's MAC (teamd's ``same_all``) and set the active port.

        Raises:
            KernelError: ENODEV if the team or a port is missing; ENOENT if ``active``
                is not a port of the team.
        """
        handle = self._handle(ns)
        mac = self.link_mac(ns, name)
        for port in ports:
            self.link_set(ns, port, mac=mac)
        if active is not None:
            team, member = self._linked(handle, name), self._linked(handle, active)
            self._genl(handle, "team", [msg.team_option(team, "activeport", member)])

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
        """Create an ipvlan/ipvtap child on ``parent`` (possibly in another namespace).

        As for macvlan, the request goes to the parent's namespace and names the
        child's with IFLA_NET_NS_FD, so the child is born where it belongs.

        Raises:
            KernelError: EEXIST if the name is taken; ENODEV if the parent is missing;
                EBUSY if the parent has another kind of upper; EOPNOTSUPP without the module.
        """
        handle = self._handle(ns)
        parent_handle = handle if parent_ns == ns else self._handle(parent_ns)
        body = msg.newlink(
            name,
            "ipvtap" if tap else "ipvlan",
            msg.ipvlan_mode(mode),
            link=self._linked(parent_handle, parent),
            mtu=mtu,
            netns_fd=handle.fd if parent_handle is not handle else None,
        )
        self._exists_check(handle, name)
        self._newlink(parent_handle, body)
        self._tag(handle, name, alias)

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
        """Create a MACsec device on ``parent`` and give it its transmit SA (generic netlink).

        Raises:
            KernelError: EEXIST if the name is taken; ENODEV if the parent is missing;
                EBUSY if the parent has another upper; EOPNOTSUPP without macsec.
        """
        handle = self._handle(ns)
        data = msg.macsec_link_data(port, cipher, encrypt, tx.an if tx is not None else 0)
        body = msg.newlink(name, "macsec", data, link=self._linked(handle, parent), mtu=mtu)
        self._newlink(handle, body)
        self._tag(handle, name, alias)
        if tx is not None:
            self._genl(handle, "macsec", [msg.macsec_txsa(self._linked(handle, name), tx)])

    def macsec_rx_set(
        self, ns: str, name: str, peer_mac: str, peer_port: int, sa: MacsecSA
    ) -> None:
        """Accept the peer's channel with ``sa`` (an SA of that number is replaced).

        Raises:
            KernelError: ENODEV if the device is missing; EINVAL for a key of the wrong length.
        """
        handle = self._handle(ns)
        index = self._linked(handle, name)
        channel = msg.sci(peer_mac, peer_port)
        sock = self._genl_socket(handle)
        try:
            family = self._family(sock, "macsec")
            for body, tolerated in (
                (msg.macsec_rxsc(index, channel), errno.EEXIST),
                (msg.macsec_rxsa(index, channel, sa, "deactivate"), errno.ENODEV),
                (msg.macsec_rxsa(index, channel, sa, "delete"), errno.ENODEV),
                (msg.macsec_rxsa(index, channel, sa), None),
            ):
                try:
                    sock.request(family, 0, body)
                except KernelError as exc:
                    if exc.errno != tolerated:
                        raise
        finally:
            sock.close()

    def vcan_add(self, ns: str, name: str, alias: str) -> None:
        """Create a virtual CAN device.

        Raises:
            KernelError: EEXIST if the name is taken; EOPNOTSUPP without vcan.
        """
        handle = self._handle(ns)
        self._newlink(handle, msg.newlink(name, "vcan"))
        self._tag(handle, name, alias)

    def vxcan_add(self, ns: str, name: str, peer_ns: str, peer: str, alias: str) -> None:
        """Create a vxcan pair, each end directly in its namespace (like a veth).

        Raises:
            KernelError: EEXIST if a name is taken; EOPNOTSUPP without vxcan.
        """
        handle = self._handle(ns)
        peer_handle = handle if peer_ns == ns else self._handle(peer_ns)
        fd = peer_handle.fd if peer_handle is not handle else None
        # A name taken in the peer's namespace would fail after ours was checked: check it.
        self._exists_check(peer_handle, peer)
        self._newlink(handle, msg.newlink(name, "vxcan", msg.vxcan_peer(peer, fd)))
        self._tag(handle, name, alias)
        self._tag(peer_handle, peer, alias)

    def port_vlans_set(self, ns: str, dev: str, vlans: tuple[int, ...], pvid: int | None) -> None:
        """Make bridge port ``dev`` carry exactly ``vlans`` tagged and ``pvid`` untagged.

        Raises:
            KernelError: ENODEV if the port is missing; EOPNOTSUPP if its bridge does not
                filter VLANs.
        """
        handle = self._handle(ns)
        index = self._linked(handle, dev)
        want = {v: msg.vlan_flags(False) for v in vlans}
        if pvid is not None:
            want[pvid] = msg.vlan_flags(True)
        have = self._port_vlans(handle).get(index, ([], None))
        current = {v: msg.vlan_flags(False) for v in have[0]}
        if have[1] is not None:
            current[have[1]] = msg.vlan_flags(True)
        drop = [(v, 0) for v in current if v not in want]
        add = [(v, f) for v, f in sorted(want.items()) if current.get(v) != f]
        with handle.lock:
            if drop:
                handle.sock.request(nl.RTM_DELLINK, 0, msg.port_vlans(index, drop))
            if add:
                handle.sock.request(msg.RTM_SETLINK, 0, msg.port_vlans(index, add))

    def _port_vlans(self, handle: _Handle) -> dict[int, tuple[list[int], int | None]]:
        with handle.lock:
            payloads = handle.sock.dump(nl.RTM_GETLINK, msg.bridge_vlan_dump())
        out: dict[int, tuple[list[int], int | None]] = {}
        for payload in payloads:
            index, tagged, pvid = msg.read_port_vlans(payload)
            out[index] = (tagged, pvid)
        return out

    def link_mac(self, ns: str, name: str) -> str:
        """Return the MAC address of interface ``name``.

        Raises:
            KernelError: ENODEV if there is no such interface.
        """
        handle = self._handle(ns)
        with handle.lock:
            payload = handle.sock.get_link(name)
        return _mac(nl.find_attr(payload, _IFI.size, nl.IFLA_ADDRESS))

    def _genl_socket(self, handle: _Handle) -> nl.NetlinkSocket:
        """Open a generic netlink socket in the namespace (families act on its devices)."""

        def open_in() -> nl.NetlinkSocket:
            netns.setns(handle.fd)
            return nl.NetlinkSocket(msg.NETLINK_GENERIC)

        return self._thread.call(open_in)

    def _family(self, sock: nl.NetlinkSocket, name: str) -> int:
        # Family ids are the kernel's, not a namespace's: resolved once per process.
        if name not in self._families:
            try:
                answer = sock.query(msg.GENL_ID_CTRL, msg.get_family(name))
            except KernelError as exc:
                if exc.errno == errno.ENOENT:
                    raise KernelError(
                        errno.EOPNOTSUPP, f"no {name} generic netlink family (module missing)"
                    ) from None
                raise
            self._families[name] = msg.family_id(answer[0])
        return self._families[name]

    def _genl(self, handle: _Handle, family: str, bodies: list[bytes]) -> None:
        sock = self._genl_socket(handle)
        try:
            fid = self._family(sock, family)
            for body in bodies:
                try:
                    sock.request(fid, 0, body)
                except KernelError as exc:
                    # The team driver sets the option, then announces the change to its
                    # multicast group and returns ESRCH when nobody listens (no teamd).
                    if not (family == "team" and exc.errno == errno.ESRCH):
                        raise
        finally:
            sock.close()

    def _genl_read(self, handle: _Handle, family: str, body: bytes, dump: bool) -> list[bytes]:
        sock = self._genl_socket(handle)
        try:
            fid = self._family(sock, family)
            return sock.dump(fid, body) if dump else sock.query(fid, body)
        finally:
            sock.close()

    def link_delete(self, ns: str, name: str) -> None:
        """Delete interface ``name``.

        Raises:
            KernelError: ENODEV if there is no such interface; ENOENT if no namespace.
        """
        handle = self._handle(ns)
        with handle.lock:
            handle.sock.request(nl.RTM_DELLINK, 0, nl.ifinfo() + nl.nla_str(nl.IFLA_IFNAME, name))

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
        """Change state, bridge, MTU or MAC of ``name``.

        Raises:
            KernelError: ENODEV if the interface (or the master) is missing.
        """
        handle = self._handle(ns)
        flags = change = 0
        if up is not None:
            change = nl.IFF_UP
            flags = nl.IFF_UP if up else 0
        body = self._common(mtu, mac)
        with handle.lock:
            if master is not None:
                body += nl.nla_u32(nl.IFLA_MASTER, self._index(handle, master))
            elif nomaster:
                body += nl.nla_u32(nl.IFLA_MASTER, 0)
            handle.sock.request(
                nl.RTM_NEWLINK,
                0,
                nl.ifinfo(0, flags, change) + nl.nla_str(nl.IFLA_IFNAME, name) + body,
            )

    # -- addresses and routes -------------------------------------------------------------

    def _addr(self, ns: str, dev: str, address: str, mtype: int, flags: int) -> None:
        handle = self._handle(ns)
        iface = ipaddress.ip_interface(address)
        family = socket.AF_INET if iface.version == 4 else socket.AF_INET6
        packed = iface.ip.packed
        body_attrs = nl.nla(nl.IFA_LOCAL, packed) + nl.nla(nl.IFA_ADDRESS, packed)
        if iface.version == 6:
            body_attrs = nl.nla(nl.IFA_ADDRESS, packed) + nl.nla_u32(8, IFA_F_NODAD)  # IFA_FLAGS
        with handle.lock:
            index = self._index(handle, dev)
            handle.sock.request(
                mtype, flags, nl.ifaddr(family, iface.network.prefixlen, index) + body_attrs
            )

    def addr_replace(self, ns: str, dev: str, address: str) -> None:
        """Add or replace an address (IPv6 without duplicate detection, usable at once).

        Raises:
            KernelError: ENODEV if ``dev`` is missing.
        """
        self._addr(ns, dev, address, nl.RTM_NEWADDR, nl.NLM_F_CREATE | nl.NLM_F_REPLACE)

    def addr_delete(self, ns: str, dev: str, address: str) -> None:
        """Remove an address.

        Raises:
            KernelError: EADDRNOTAVAIL if absent; ENODEV if ``dev`` is missing.
        """
        self._addr(ns, dev, address, nl.RTM_DELADDR, 0)

    def _route(
        self,
        ns: str,
        dst: str,
        via: str | None,
        dev: str | None,
        metric: int | None,
        mtype: int,
        flags: int,
    ) -> None:
        handle = self._handle(ns)
        net = ipaddress.ip_network(dst)
        family = socket.AF_INET if net.version == 4 else socket.AF_INET6
        scope = nl.RT_SCOPE_UNIVERSE if via is not None else nl.RT_SCOPE_LINK
        body = nl.rtmsg(family, net.prefixlen, scope)
        if net.prefixlen:
            body += nl.nla(nl.RTA_DST, net.network_address.packed)
        if via is not None:
            body += nl.nla(nl.RTA_GATEWAY, ipaddress.ip_address(via).packed)
        if metric is not None:
            body += nl.nla_u32(nl.RTA_PRIORITY, metric)
        with handle.lock:
            if dev is not None:
                body += nl.nla_u32(nl.RTA_OIF, self._index(handle, dev))
            handle.sock.request(mtype, flags, body)

    def route_replace(
        self, ns: str, dst: str, via: str | None, dev: str | None, metric: int | None
    ) -> None:
        """Add or replace a static route.

        Raises:
            KernelError: ENETUNREACH if the gateway is not on a link; ENODEV for ``dev``.
        """
        self._route(ns, dst, via, dev, metric, nl.RTM_NEWROUTE, nl.NLM_F_CREATE | nl.NLM_F_REPLACE)

    def route_delete(
        self, ns: str, dst: str, via: str | None, dev: str | None, metric: int | None
    ) -> None:
        """Remove a static route.

        Raises:
            KernelError: ESRCH if there is no such route.
        """
        self._route(ns, dst, via, dev, metric, nl.RTM_DELROUTE, 0)

    # -- the rest -------------------------------------------------------------------------

    def sysctl_set(self, ns: str, key: str, value: str) -> None:
        """Write a sysctl from a thread inside ``ns`` (/proc/sys/net follows the thread).

        Raises:
            KernelError: ENOENT for an unknown key; EINVAL for a bad value.
        """
        handle = self._handle(ns)
        path = "/proc/sys/" + key.replace(".", "/")

        def write() -> None:
            netns.setns(handle.fd)
            with open(path, "w") as f:
                f.write(value)

        try:
            self._thread.call(write)
        except OSError as exc:
            raise KernelError(exc.errno or errno.EIO, f"sysctl {key}: {exc.strerror}") from None

    def shaping_set(self, ns: str, dev: str, shaping: Shaping) -> None:
        """Replace ``dev``'s root qdisc: netem with impairments, tbf for a rate alone.

        Nothing to do removes the root qdisc (absent is success). The device stays.

        Raises:
            KernelError: ENODEV if ``dev`` is missing; ENOENT when the qdisc's module
                (sch_netem, sch_tbf) is missing; EINVAL for a rate above 34 Gbit/s.
        """
        handle = self._handle(ns)
        index = self._linked(handle, dev)
        if shaping.rate_mbit is not None and shaping.rate_mbit * 125_000 >= 2**32:
            raise KernelError(errno.EINVAL, f"rate {shaping.rate_mbit} Mbit/s: at most 34000")
        with handle.lock:
            if not shaping.text():
                try:
                    handle.sock.request(msg.RTM_DELQDISC, 0, msg.root_qdisc(index))
                except KernelError as exc:
                    if exc.errno not in (errno.ENOENT, errno.EINVAL):
                        raise
                return
            handle.sock.request(
                msg.RTM_NEWQDISC,
                nl.NLM_F_CREATE | nl.NLM_F_REPLACE,
                msg.shaping_qdisc(index, shaping),
            )


IFLA_STATS64 = 23
_IFI = struct.Struct("=BxHiII")
_IFA = struct.Struct("=BBBBI")
_RTM = struct.Struct("=BBBBBBBBI")
_STATS = struct.Struct("=QQQQ")


def _mac(value: bytes | None) -> str:
    return ":".join(f"{b:02x}" for b in value) if value else ""


RTM_GETNETCONF = 82
NETCONFA_IFINDEX = 1
NETCONFA_FORWARDING = 2
NETCONFA_IFINDEX_ALL = -1  # the "all" devconf: what net.ipv4.ip_forward sets
_NETCONF_KEYS = (
    ("net.ipv4.ip_forward", socket.AF_INET),
    ("net.ipv6.conf.all.forwarding", socket.AF_INET6),
)


def _forwarding(sock: nl.NetlinkSocket) -> dict[str, str]:
    """The namespace's forwarding sysctls (``FORWARDING_SYSCTLS``) read over netlink.

    A family the kernel has no netconf for (IPv6 disabled) is left out.
    """
    out: dict[str, str] = {}
    for key, family in _NETCONF_KEYS:
        body = struct.pack("=Bxxx", family) + nl.nla(
            NETCONFA_IFINDEX, struct.pack("=i", NETCONFA_IFINDEX_ALL)
        )
        try:
            answers = sock.query(RTM_GETNETCONF, body)
        except KernelError:
            continue
        for payload in answers:
            value = nl.find_attr(payload, 4, NETCONFA_FORWARDING)
            if value is not None:
                out[key] = str(struct.unpack_from("=i", value)[0])
                break
    return out


IFLA_QDISC = 6  # string: the kind of the device's root qdisc (linux/if_link.h)
SHAPING_QDISCS = frozenset({"netem", "tbf"})  # the root qdiscs conditioning makes


def _shaped(link_payload: bytes) -> bool:
    """Whether a link dump entry's root qdisc is one conditioning makes."""
    return nl.attr_str(nl.find_attr(link_payload, _IFI.size, IFLA_QDISC)) in SHAPING_QDISCS


def _namespace_state(
    ns: str,
    inode: int,
    links: list[bytes],
    addrs: list[bytes],
    routes: list[bytes],
    sysctls: tuple[tuple[str, str], ...],
) -> NamespaceState:
    parsed = []
    by_index: dict[int, str] = {}
    for payload in links:
        _family, ifi_type, index, flags, _change = _IFI.unpack_from(payload)
        at = nl.parse_attrs(payload, _IFI.size)
        name = nl.attr_str(at.get(nl.IFLA_IFNAME)) or f"if{index}"
        by_index[index] = name
        parsed.append((ifi_type, index, flags, name, at))
    addr_map: dict[int, list[str]] = {}
    for payload in addrs:
        family, prefixlen, _flags, _scope, index = _IFA.unpack_from(payload)
        at = nl.parse_attrs(payload, _IFA.size)
        raw = at.get(nl.IFA_LOCAL) if family == socket.AF_INET else None
        raw = raw or at.get(nl.IFA_ADDRESS)
        if raw is None:
            continue
        iface = ipaddress.ip_interface((ipaddress.ip_address(raw), prefixlen))
        if iface.version == 6 and iface.ip.is_link_local:
            continue
        addr_map.setdefault(index, []).append(str(iface))
    out: list[LinkState] = []
    lab: str | None = None
    node: str | None = None
    for ifi_type, index, flags, name, at in parsed:
        alias = nl.attr_str(at.get(nl.IFLA_IFALIAS)) or None
        kind = ""
        data: list[tuple[str, str]] = []
        info = at.get(nl.IFLA_LINKINFO)
        if info is not None:
            info_at = nl.parse_attrs(info)
            kind = nl.attr_str(info_at.get(nl.IFLA_INFO_KIND)) or ""
            idata = info_at.get(nl.IFLA_INFO_DATA)
            if idata is not None:
                data = _info_items(kind, nl.parse_attrs(idata)) + msg.info_items(kind, idata)
        if ifi_type == ARPHRD_LOOPBACK:
            kind = "loopback"
            owner = naming.parse_owner_alias(alias)
            if owner is not None and owner[1] is not None:
                lab, node = owner
        elif kind == "tun":
            kind = "tap" if ifi_type == ARPHRD_ETHER else "tun"
        master = nl.attr_u32(at.get(nl.IFLA_MASTER))
        peer = nl.attr_u32(at.get(nl.IFLA_LINK))
        stats = at.get(IFLA_STATS64)
        rx_p, tx_p, rx_b, tx_b = _STATS.unpack_from(stats) if stats else (0, 0, 0, 0)
        out.append(
            LinkState(
                name=name,
                ifindex=index,
                kind=kind,
                alias=alias,
                up=bool(flags & nl.IFF_UP),
                mtu=nl.attr_u32(at.get(nl.IFLA_MTU)) or 0,
                mac=_mac(at.get(nl.IFLA_ADDRESS)),
                master=by_index.get(master) if master else None,
                peer_ifindex=peer,
                addresses=tuple(sorted(addr_map.get(index, []))),
                info=tuple(data),
                rx_packets=rx_p,
                tx_packets=tx_p,
                rx_bytes=rx_b,
                tx_bytes=tx_b,
            )
        )
    route_out: list[RouteState] = []
    for payload in routes:
        family, dst_len, _s, _t, table, proto, _scope, rtype, _f = _RTM.unpack_from(payload)
        at = nl.parse_attrs(payload, _RTM.size)
        table = nl.attr_u32(at.get(nl.RTA_TABLE)) or table
        if proto != nl.RTPROT_STATIC or table != nl.RT_TABLE_MAIN or rtype != nl.RTN_UNICAST:
            continue
        raw_dst = at.get(nl.RTA_DST)
        dst = (
            ipaddress.ip_address(raw_dst)
            if raw_dst
            else ipaddress.ip_address("0.0.0.0" if family == socket.AF_INET else "::")
        )
        gw = at.get(nl.RTA_GATEWAY)
        oif = nl.attr_u32(at.get(nl.RTA_OIF))
        route_out.append(
            RouteState(
                dst=str(ipaddress.ip_network((dst, dst_len), strict=False)),
                via=str(ipaddress.ip_address(gw)) if gw else None,
                dev=by_index.get(oif) if oif else None,
                metric=nl.attr_u32(at.get(nl.RTA_PRIORITY)),
            )
        )
    return NamespaceState(
        name=ns,
        lab=lab,
        node=node,
        inode=inode,
        links=tuple(out),
        routes=tuple(route_out),
        sysctls=sysctls,
    )


IFLA_BR_VLAN_FILTERING = 7  # u8 (linux/if_link.h)


def _info_items(kind: str, at: dict[int, bytes]) -> list[tuple[str, str]]:
    items: list[tuple[str, str]] = []
    if kind == "vxlan":
        vni = nl.attr_u32(at.get(nl.IFLA_VXLAN_ID))
        if vni is not None:
            items.append(("vni", str(vni)))
        port = at.get(nl.IFLA_VXLAN_PORT)
        if port is not None:
            items.append(("port", str(struct.unpack("!H", port[:2])[0])))
    elif kind in ("macvlan", "macvtap"):
        mode = nl.attr_u32(at.get(nl.IFLA_MACVLAN_MODE))
        if mode is not None:
            items.append(("mode", nl.MACVLAN_MODE_NAMES.get(mode, str(mode))))
    elif kind == "bridge":
        stp = nl.attr_u32(at.get(nl.IFLA_BR_STP_STATE))
        if stp is not None:
            items.append(("stp", str(stp)))
        filtering = at.get(IFLA_BR_VLAN_FILTERING)
        if filtering is not None:
            items.append(("vlan_filtering", str(filtering[0])))
    return items


def probe_kind(kernel: LinuxKernel, ns: str, kind: str) -> int:
    """Try to create a device of ``kind`` in throwaway namespace ``ns``; return the errno.

    0 means it was made; EOPNOTSUPP means the kernel lacks the kind's module.
    """
    handle = kernel._handle(ns)
    body = (
        nl.ifinfo()
        + nl.nla_str(nl.IFLA_IFNAME, "probe0")
        + nl.nla(nl.IFLA_LINKINFO, nl.nla_str(nl.IFLA_INFO_KIND, kind))
    )
    try:
        with handle.lock:
            handle.sock.request(nl.RTM_NEWLINK, nl.NLM_F_CREATE | nl.NLM_F_EXCL, body)
    except KernelError as exc:
        return exc.errno
    with handle.lock:
        handle.sock.request(nl.RTM_DELLINK, 0, nl.ifinfo() + nl.nla_str(nl.IFLA_IFNAME, "probe0"))
    return 0
