"""A small rtnetlink socket: hand-packed requests, acks checked by errno.

Why not ``pyroute2.IPRoute``: in 0.9 it runs an asyncio loop per socket and,
with ``netns=``, a forked helper per namespace; even its message classes cost
~100 us to encode and ~200 us to decode a link, more than the kernel takes to
make one. Packing and parsing the few messages the engine needs by hand keeps
the kernel the limit. pyroute2's constants check ours (see the asserts).
"""

from __future__ import annotations

import errno
import os
import socket
import struct
from collections.abc import Iterable, Iterator

from pyroute2.netlink import rtnl

from worker.kernel.errors import KernelError

# Message types (linux/rtnetlink.h).
RTM_NEWLINK = 16
RTM_DELLINK = 17
RTM_GETLINK = 18
RTM_NEWADDR = 20
RTM_DELADDR = 21
RTM_GETADDR = 22
RTM_NEWROUTE = 24
RTM_DELROUTE = 25
RTM_GETROUTE = 26
RTM_NEWQDISC = 36
NLMSG_ERROR = 2
NLMSG_DONE = 3

NLM_F_REQUEST = 0x1
NLM_F_MULTI = 0x2
NLM_F_ACK = 0x4
NLM_F_ROOT = 0x100
NLM_F_MATCH = 0x200
NLM_F_DUMP = NLM_F_ROOT | NLM_F_MATCH
NLM_F_REPLACE = 0x100
NLM_F_EXCL = 0x200
NLM_F_CREATE = 0x400

# Link attributes (linux/if_link.h).
IFLA_ADDRESS = 1
IFLA_IFNAME = 3
IFLA_MTU = 4
IFLA_LINK = 5
IFLA_MASTER = 10
IFLA_LINKINFO = 18
IFLA_IFALIAS = 20
IFLA_NET_NS_FD = 28
IFLA_EXT_MASK = 29
RTEXT_FILTER_SKIP_STATS = 1 << 3
IFLA_INFO_KIND = 1
IFLA_INFO_DATA = 2
VETH_INFO_PEER = 1
IFLA_BR_STP_STATE = 5
IFLA_VXLAN_ID = 1
IFLA_VXLAN_GROUP = 2
IFLA_VXLAN_LINK = 3
IFLA_VXLAN_LOCAL = 4
IFLA_VXLAN_TTL = 5
IFLA_VXLAN_LEARNING = 7
IFLA_VXLAN_PORT = 15
IFLA_VXLAN_GROUP6 = 16
IFLA_VXLAN_LOCAL6 = 17
IFLA_MACVLAN_MODE = 1
IFLA_MACVLAN_MACADDR_MODE = 3
IFLA_MACVLAN_MACADDR_DATA = 5
IFLA_MACVLAN_MACADDR = 4
MACVLAN_MACADDR_SET = 3
MACVLAN_MODES = {"private": 1, "vepa": 2, "bridge": 4, "passthru": 8, "source": 16}
MACVLAN_MODE_NAMES = {v: k for k, v in MACVLAN_MODES.items()}

IFA_ADDRESS = 1
IFA_LOCAL = 2
RTA_DST = 1
RTA_OIF = 4
RTA_GATEWAY = 5
RTA_PRIORITY = 6
RTA_TABLE = 15
RT_TABLE_MAIN = 254
RTPROT_STATIC = 4
RT_SCOPE_UNIVERSE = 0
RT_SCOPE_LINK = 253
RTN_UNICAST = 1
IFF_UP = 0x1

# Cross-check the message numbers against pyroute2's.
assert (rtnl.RTM_NEWLINK, rtnl.RTM_GETADDR, rtnl.RTM_NEWROUTE) == (16, 22, 24)

TCA_KIND = 1
TCA_OPTIONS = 2

_HDR = struct.Struct("=IHHII")
_IFINFO = struct.Struct("=BxHiII")
_IFADDR = struct.Struct("=BBBBI")
_RTMSG = struct.Struct("=BBBBBBBBI")
_NLA = struct.Struct("=HH")


def nla(kind: int, payload: bytes) -> bytes:
    """Return one netlink attribute, padded to 4 bytes."""
    length = 4 + len(payload)
    return _NLA.pack(length, kind) + payload + b"\0" * ((4 - length % 4) % 4)


def nla_str(kind: int, value: str) -> bytes:
    """Return a NUL-terminated string attribute."""
    return nla(kind, value.encode() + b"\0")


def nla_u32(kind: int, value: int) -> bytes:
    """Return a native-endian u32 attribute."""
    return nla(kind, struct.pack("=I", value))


def nla_u8(kind: int, value: int) -> bytes:
    """Return a u8 attribute."""
    return nla(kind, struct.pack("=B", value))


def ifinfo(index: int = 0, flags: int = 0, change: int = 0) -> bytes:
    """Return a ``struct ifinfomsg``."""
    return _IFINFO.pack(socket.AF_UNSPEC, 0, index, flags, change)


def ifaddr(family: int, prefixlen: int, index: int, scope: int = 0) -> bytes:
    """Return a ``struct ifaddrmsg``."""
    return _IFADDR.pack(family, prefixlen, 0, scope, index)


def rtmsg(family: int, dst_len: int, scope: int, protocol: int = RTPROT_STATIC) -> bytes:
    """Return a ``struct rtmsg`` for the main table."""
    return _RTMSG.pack(family, dst_len, 0, 0, RT_TABLE_MAIN, protocol, scope, RTN_UNICAST, 0)


def mac_bytes(mac: str) -> bytes:
    """Return the six bytes of ``aa:bb:cc:dd:ee:ff``."""
    return bytes(int(part, 16) for part in mac.split(":"))


class NetlinkSocket:
    """One NETLINK_ROUTE socket, bound to the namespace it was opened in.

    A socket stays in the namespace that was current when it was created, so
    the engine opens one per namespace (from a thread that entered it) and
    reuses it for every request there.
    """

    def __init__(self, protocol: int = socket.NETLINK_ROUTE) -> None:
        # NETLINK_GENERIC for the team and macsec families (messages.py builds those).
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, protocol)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.sock.bind((0, 0))
        self.seq = 0

    def close(self) -> None:
        """Close the socket (a held socket keeps a deleted namespace alive)."""
        self.sock.close()

    def _send(self, mtype: int, flags: int, body: bytes) -> int:
        self.seq += 1
        self.sock.send(_HDR.pack(_HDR.size + len(body), mtype, flags, self.seq, 0) + body)
        return self.seq

    def request(self, mtype: int, flags: int, body: bytes) -> None:
        """Send one request and wait for its ack.

        Raises:
            KernelError: the kernel answered with an error (its errno).
        """
        seq = self._send(mtype, flags | NLM_F_REQUEST | NLM_F_ACK, body)
        while True:
            data = self.sock.recv(65536)
            for mseq, mtype_, payload in _split(data):
                if mseq != seq or mtype_ != NLMSG_ERROR:
                    continue
                code = struct.unpack_from("=i", payload)[0]
                if code:
                    raise KernelError(-code, os.strerror(-code))
                return

    def dump(self, mtype: int, body: bytes) -> list[bytes]:
        """Dump objects of one type; return each message's payload (after the header).

        Raises:
            KernelError: the kernel refused the dump.
        """
        return self._answers(self._send(mtype, NLM_F_REQUEST | NLM_F_DUMP, body), ack=False)

    def query(self, mtype: int, body: bytes) -> list[bytes]:
        """Send one request that answers with messages (not a dump); return their payloads.

        Raises:
            KernelError: the kernel answered with an error (its errno).
        """
        return self._answers(self._send(mtype, NLM_F_REQUEST | NLM_F_ACK, body), ack=True)

    def _answers(self, seq: int, ack: bool) -> list[bytes]:
        """Collect the payloads answering ``seq`` until DONE (or, asked for, the ack)."""
        out: list[bytes] = []
        while True:
            data = self.sock.recv(1 << 20)
            for mseq, mtype_, payload in _split(data):
                if mseq != seq:
                    continue
                if mtype_ == NLMSG_DONE:
                    return out
                if mtype_ == NLMSG_ERROR:
                    code = struct.unpack_from("=i", payload)[0]
                    if code:
                        raise KernelError(-code, os.strerror(-code))
                    if ack:
                        return out  # the ack: every answer came before it
                    continue
                out.append(payload)

    def get_link(self, name: str) -> bytes:
        """Return the RTM_NEWLINK payload (ifinfomsg + attributes) of link ``name``.

        Statistics are left out (RTEXT_FILTER_SKIP_STATS): callers want names,
        indexes and aliases, and a smaller message is quicker to build and read.

        Raises:
            KernelError: ENODEV when there is no such link.
        """
        seq = self._send(
            RTM_GETLINK,
            NLM_F_REQUEST,
            ifinfo() + nla_str(IFLA_IFNAME, name) + nla_u32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS),
        )
        while True:
            data = self.sock.recv(65536)
            for mseq, mtype_, payload in _split(data):
                if mseq != seq:
                    continue
                if mtype_ == NLMSG_ERROR:
                    code = -struct.unpack_from("=i", payload)[0] or errno.EIO
                    raise KernelError(code, f"{name}: {os.strerror(code)}")
                return payload


def parse_attrs(data: bytes, offset: int = 0) -> dict[int, bytes]:
    """Return ``{type: payload}`` of the attributes in ``data[offset:]`` (nested flag masked)."""
    out: dict[int, bytes] = {}
    end = len(data)
    while offset + 4 <= end:
        length, kind = _NLA.unpack_from(data, offset)
        if length < 4:
            break
        out[kind & 0x3FFF] = data[offset + 4 : offset + length]
        offset += (length + 3) & ~3
    return out


def find_attr(data: bytes, offset: int, kind: int) -> bytes | None:
    """Return the payload of the first top-level attribute ``kind`` (stops there)."""
    end = len(data)
    while offset + 4 <= end:
        length, k = _NLA.unpack_from(data, offset)
        if length < 4:
            return None
        if k & 0x3FFF == kind:
            return data[offset + 4 : offset + length]
        offset += (length + 3) & ~3
    return None


def attr_str(value: bytes | None) -> str | None:
    """Decode a NUL-terminated string attribute."""
    return None if value is None else value.split(b"\0", 1)[0].decode(errors="replace")


def attr_u32(value: bytes | None) -> int | None:
    """Decode a u32 attribute."""
    return None if value is None else int(struct.unpack_from("=I", value)[0])


def link_index(payload: bytes) -> int:
    """Return the ifindex of an RTM_NEWLINK payload."""
    return int(_IFINFO.unpack_from(payload)[2])


def _split(data: bytes) -> Iterator[tuple[int, int, bytes]]:
    """Yield ``(seq, type, payload)`` for every message in a datagram."""
    offset = 0
    while offset + _HDR.size <= len(data):
        length, mtype, _flags, seq, _pid = _HDR.unpack_from(data, offset)
        if length < _HDR.size:
            break
        yield seq, mtype, data[offset + _HDR.size : offset + length]
        offset += (length + 3) & ~3


def attrs(parts: Iterable[bytes]) -> bytes:
    """Join encoded attributes."""
    return b"".join(parts)
