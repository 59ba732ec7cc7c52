"""Raw rtnetlink counters: one RTM_GETSTATS dump per namespace per sample.

pyroute2's generic link dump parses every attribute of every link (~0.5 ms per
interface); the sampler only needs `struct rtnl_link_stats64`, so it asks the kernel
for exactly that (RTM_GETSTATS with the IFLA_STATS_LINK_64 filter) and unpacks it
with `struct.unpack_from` (~2 us per interface). Names and oper state come from a
link dump with RTEXT_FILTER_SKIP_STATS, which the caller refreshes rarely.

A netlink socket belongs to the namespace of the thread that created it, so
`NamespaceStats` opens its socket from a short-lived thread that `setns()`'d into
the namespace, then keeps it: reopening per sample would cost a thread and a setns.
An open socket keeps a deleted namespace alive, so owners must call `close()`.
"""

from __future__ import annotations

import ctypes
import errno
import os
import socket
import struct
import threading
from dataclasses import dataclass
from pathlib import Path

NETNS_RUN_DIR = Path("/run/netns")

CLONE_NEWNET = 0x40000000

NLMSG_ERROR = 2
NLMSG_DONE = 3
NLM_F_REQUEST = 0x1
NLM_F_DUMP = 0x300
RTM_GETLINK = 18
RTM_NEWLINK = 16
RTM_GETSTATS = 94
RTM_NEWSTATS = 92

IFLA_IFNAME = 3
IFLA_OPERSTATE = 16
IFLA_EXT_MASK = 29
RTEXT_FILTER_SKIP_STATS = 1 << 3
IFLA_STATS_LINK_64 = 1

_NLMSGHDR = struct.Struct("=IHHII")
_IFSTATSMSG = struct.Struct("=BBHII")
_IFINFOMSG = struct.Struct("=BBHiII")
_RTATTR = struct.Struct("=HH")
# The first eight u64 of struct rtnl_link_stats64 (stable since 2.6.35).
_STATS64_HEAD = struct.Struct("=8Q")

# RFC 2863 oper states as the kernel numbers them (include/uapi/linux/if.h).
OPER_STATES = ("unknown", "notpresent", "down", "lowerlayerdown", "testing", "dormant", "up")

_RECV_SIZE = 1 << 16


class StatsError(Exception):
    """A namespace could not be opened or a netlink request failed.

    Attributes:
        namespace: the namespace name.
        errno: the errno the kernel returned (0 when not an OS error).
    """

    def __init__(self, namespace: str, message: str, err: int = 0) -> None:
        super().__init__(f"namespace {namespace!r}: {message}")
        self.namespace = namespace
        self.errno = err


@dataclass(frozen=True, slots=True)
class LinkCounters:
    """The counters of one interface, straight from `struct rtnl_link_stats64`."""

    ifindex: int
    rx_packets: int
    tx_packets: int
    rx_bytes: int
    tx_bytes: int
    rx_errors: int
    tx_errors: int
    rx_dropped: int
    tx_dropped: int


@dataclass(frozen=True, slots=True)
class LinkInfo:
    """Name and RFC 2863 oper state of one interface."""

    ifindex: int
    name: str
    oper_state: str


_libc = ctypes.CDLL(None, use_errno=True)


def _setns(fd: int, nstype: int) -> None:
    if _libc.setns(fd, nstype) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def open_netlink_in(namespace: str) -> socket.socket:
    """Open a NETLINK_ROUTE socket that lives in network namespace `namespace`.

    The socket is created from a helper thread that joined the namespace, so the
    calling thread never changes namespace.

    Raises:
        StatsError: the namespace does not exist or cannot be joined.
    """
    path = NETNS_RUN_DIR / namespace
    result: list[socket.socket | BaseException] = []

    def opener() -> None:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                _setns(fd, CLONE_NEWNET)
            finally:
                os.close(fd)
            sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, 0)
            sock.bind((0, 0))
            result.append(sock)
        except BaseException as exc:  # handed back to the caller's thread
            result.append(exc)

    thread = threading.Thread(target=opener, name=f"netns-open-{namespace}")
    thread.start()
    thread.join()
    outcome = result[0]
    if isinstance(outcome, BaseException):
        err = getattr(outcome, "errno", 0) or 0
        raise StatsError(namespace, f"cannot open: {outcome}", err) from outcome
    return outcome


def _attrs(data: bytes | memoryview, start: int, end: int) -> dict[int, tuple[int, int]]:
    """Map attribute type -> (payload offset, payload length) for rtattrs in a range."""
    found: dict[int, tuple[int, int]] = {}
    off = start
    while off + 4 <= end:
        length, kind = _RTATTR.unpack_from(data, off)
        if length < 4:
            break
        found[kind & 0x3FFF] = (off + 4, length - 4)
        off += (length + 3) & ~3
    return found


def parse_stats_dump(data: bytes) -> list[LinkCounters]:
    """Parse RTM_NEWSTATS messages (one or several, back to back) into counters.

    Pure: unit-tested on bytes built by hand.
    """
    out: list[LinkCounters] = []
    off = 0
    end = len(data)
    while off + _NLMSGHDR.size <= end:
        length, kind, _flags, _seq, _pid = _NLMSGHDR.unpack_from(data, off)
        if length < _NLMSGHDR.size:
            break
        if kind == RTM_NEWSTATS:
            body = off + _NLMSGHDR.size
            _fam, _p1, _p2, ifindex, _mask = _IFSTATSMSG.unpack_from(data, body)
            attrs = _attrs(data, body + _IFSTATSMSG.size, off + length)
            if IFLA_STATS_LINK_64 in attrs:
                pos, size = attrs[IFLA_STATS_LINK_64]
                if size >= _STATS64_HEAD.size:
                    out.append(LinkCounters(ifindex, *_STATS64_HEAD.unpack_from(data, pos)))
        off += (length + 3) & ~3
    return out


def parse_link_dump(data: bytes) -> list[LinkInfo]:
    """Parse RTM_NEWLINK messages into (ifindex, name, oper state)."""
    out: list[LinkInfo] = []
    off = 0
    end = len(data)
    while off + _NLMSGHDR.size <= end:
        length, kind, _flags, _seq, _pid = _NLMSGHDR.unpack_from(data, off)
        if length < _NLMSGHDR.size:
            break
        if kind == RTM_NEWLINK:
            body = off + _NLMSGHDR.size
            _fam, _pad, _type, ifindex, _flags2, _change = _IFINFOMSG.unpack_from(data, body)
            attrs = _attrs(data, body + _IFINFOMSG.size, off + length)
            name = ""
            if IFLA_IFNAME in attrs:
                pos, size = attrs[IFLA_IFNAME]
                name = bytes(data[pos : pos + size]).split(b"\0", 1)[0].decode()
            state = "unknown"
            if IFLA_OPERSTATE in attrs:
                code = data[attrs[IFLA_OPERSTATE][0]]
                state = OPER_STATES[code] if code < len(OPER_STATES) else "unknown"
            out.append(LinkInfo(ifindex, name, state))
        off += (length + 3) & ~3
    return out


def _inode(namespace: str) -> int:
    return os.stat(NETNS_RUN_DIR / namespace).st_ino


class NamespaceStats:
    """A kept-open rtnetlink socket in one namespace that dumps counters and links.

    Not thread-safe: one owner (the sampler) uses it at a time.
    """

    def __init__(self, namespace: str) -> None:
        """Open the socket inside `namespace`.

        Raises:
            StatsError: the namespace does not exist or cannot be joined.
        """
        self.namespace = namespace
        self._sock: socket.socket | None = open_netlink_in(namespace)
        self._seq = 0
        try:
            self.inode = _inode(namespace)
        except OSError as exc:  # deleted between the open and now
            self.close()
            raise StatsError(namespace, f"cannot open: {exc}", exc.errno or 0) from exc

    def stale(self) -> bool:
        """True when the namespace was deleted (or replaced by a new one of that name).

        The socket would keep the deleted namespace, and every device in it, alive.
        """
        try:
            return _inode(self.namespace) != self.inode
        except FileNotFoundError:
            return True

    def _dump(self, kind: int, payload: bytes) -> bytes:
        sock = self._sock
        if sock is None:
            raise StatsError(self.namespace, "socket is closed", errno.EBADF)
        self._seq += 1
        seq = self._seq
        header = _NLMSGHDR.pack(
            _NLMSGHDR.size + len(payload), kind, NLM_F_REQUEST | NLM_F_DUMP, seq, 0
        )
        try:
            sock.send(header + payload)
        except OSError as exc:
            raise StatsError(self.namespace, f"send failed: {exc}", exc.errno or 0) from exc
        chunks: list[bytes] = []
        while True:
            try:
                data = sock.recv(_RECV_SIZE)
            except OSError as exc:
                raise StatsError(self.namespace, f"recv failed: {exc}", exc.errno or 0) from exc
            done = False
            off = 0
            while off + _NLMSGHDR.size <= len(data):
                length, mtype, _f, mseq, _pid = _NLMSGHDR.unpack_from(data, off)
                if length < _NLMSGHDR.size:
                    break
                if mseq == seq:
                    if mtype == NLMSG_DONE:
                        done = True
                    elif mtype == NLMSG_ERROR:
                        (code,) = struct.unpack_from("=i", data, off + _NLMSGHDR.size)
                        if code:
                            raise StatsError(
                                self.namespace, f"netlink error {os.strerror(-code)}", -code
                            )
                off += (length + 3) & ~3
            chunks.append(data)
            if done:
                return b"".join(chunks)

    def counters(self) -> list[LinkCounters]:
        """Dump the 64-bit counters of every interface in the namespace.

        Raises:
            StatsError: the socket is closed or the kernel refused the request.
        """
        payload = _IFSTATSMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 1 << (IFLA_STATS_LINK_64 - 1))
        return parse_stats_dump(self._dump(RTM_GETSTATS, payload))

    def links(self) -> list[LinkInfo]:
        """Dump names and oper states (no statistics attached, to keep it small).

        Raises:
            StatsError: the socket is closed or the kernel refused the request.
        """
        ext = _RTATTR.pack(8, IFLA_EXT_MASK) + struct.pack("=I", RTEXT_FILTER_SKIP_STATS)
        payload = _IFINFOMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0, 0) + ext
        return parse_link_dump(self._dump(RTM_GETLINK, payload))

    def close(self) -> None:
        """Close the socket (which otherwise keeps a deleted namespace alive)."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self) -> NamespaceStats:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
