"""Traffic in lab namespaces from the test process: a socket made in a namespace stays there.

Under the test guest's emulated CPU every process costs ~0.15 s, so kind tests send
their probes from sockets this process opens inside the namespaces (through the
engine's own ``setns`` helper) instead of running ``ip netns exec ping``.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import struct
import time
from collections.abc import Callable

from worker.kernel import netns

_thread = netns.NsThread()
ETH_P_ALL = 0x0003
ETH_P_MACSEC = 0x88E5


def socket_in(ns: str, family: int, kind: int, proto: int = 0) -> socket.socket:
    """Return a socket opened inside network namespace ``ns``."""
    path = netns.netns_path(ns)

    def make() -> socket.socket:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            netns.setns(fd)
        finally:
            os.close(fd)
        return socket.socket(family, kind, proto)

    return _thread.call(make)


def udp_roundtrip(src_ns: str, dst_ns: str, dst: str, tries: int = 3, wait: float = 1.5) -> bool:
    """Send a datagram from ``src_ns`` to ``dst`` (an address in ``dst_ns``) and echo it back.

    True when the echo came back: both directions work. Each try waits ``wait`` s.
    """
    family = socket.AF_INET6 if ":" in dst else socket.AF_INET
    rx = socket_in(dst_ns, family, socket.SOCK_DGRAM)
    tx = socket_in(src_ns, family, socket.SOCK_DGRAM)
    try:
        rx.bind((dst, 0))
        port = rx.getsockname()[1]
        for _ in range(tries):
            marker = os.urandom(8)
            try:
                tx.sendto(marker, (dst, port))
            except OSError:  # no route (the interface is down): it does not reach
                continue
            got = _recv(rx, marker, wait)
            if got is None:
                continue
            rx.sendto(marker, got)
            if _recv(tx, marker, wait) is not None:
                return True
        return False
    finally:
        rx.close()
        tx.close()


def _recv(sock: socket.socket, marker: bytes, wait: float) -> tuple[str, int] | None:
    deadline = time.monotonic() + wait
    while (left := deadline - time.monotonic()) > 0:
        ready, _, _ = select.select([sock], [], [], left)
        if not ready:
            return None
        data, addr = sock.recvfrom(2048)
        if data == marker:
            return addr
    return None


def eventually(check: Callable[[], bool], seconds: float) -> bool:
    """Return True as soon as ``check()`` is, False after ``seconds`` of trying."""
    deadline = time.monotonic() + seconds
    while True:
        if check():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)


class Capture:
    """Every frame on one interface of a namespace (an AF_PACKET socket), while open."""

    def __init__(self, ns: str, ifname: str) -> None:
        self.sock = socket_in(ns, socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        self.sock.bind((ifname, 0))

    def frames(self, wait: float = 1.0) -> list[bytes]:
        """Return the frames seen so far (waiting up to ``wait`` s for the first)."""
        out: list[bytes] = []
        deadline = time.monotonic() + wait
        while (left := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select([self.sock], [], [], left if not out else 0)
            if not ready:
                break
            out.append(self.sock.recv(65536))
        return out

    def close(self) -> None:
        """Close the socket."""
        self.sock.close()


def ethertype(frame: bytes) -> int:
    """Return the EtherType of an Ethernet frame."""
    return int(struct.unpack_from("!H", frame, 12)[0])


def can_socket(ns: str, ifname: str) -> socket.socket:
    """Return a raw CAN socket on ``ifname`` in ``ns``."""
    sock = socket_in(ns, socket.AF_CAN, socket.SOCK_RAW, socket.CAN_RAW)
    sock.bind((ifname,))
    sock.settimeout(2)
    return sock


CAN_FRAME = struct.Struct("=IB3x8s")


def can_frame(can_id: int, data: bytes) -> bytes:
    """Return a classic CAN frame (``struct can_frame``)."""
    return CAN_FRAME.pack(can_id, len(data), data.ljust(8, b"\0"))


def read_can(sock: socket.socket) -> tuple[int, bytes]:
    """Read one CAN frame: ``(id, data)``."""
    can_id, length, data = CAN_FRAME.unpack(sock.recv(CAN_FRAME.size))
    return can_id, data[:length]


def can_echo(
    src: tuple[str, str], dst: tuple[str, str], can_id: int, data: bytes
) -> tuple[int, bytes]:
    """Send one CAN frame on ``src`` (namespace, interface); return what ``dst`` reads."""
    rx, tx = can_socket(*dst), can_socket(*src)
    try:
        tx.send(can_frame(can_id, data))
        return read_can(rx)
    finally:
        rx.close()
        tx.close()


def udp_rtts(src_ns: str, dst_ns: str, dst: str, count: int) -> list[float]:
    """Return the round-trip times (ms) of ``count`` echoed datagrams (lost ones left out)."""
    rx = socket_in(dst_ns, socket.AF_INET, socket.SOCK_DGRAM)
    tx = socket_in(src_ns, socket.AF_INET, socket.SOCK_DGRAM)
    rtts: list[float] = []
    try:
        rx.bind((dst, 0))
        port = rx.getsockname()[1]
        for _ in range(count):
            marker = os.urandom(8)
            start = time.perf_counter()
            tx.sendto(marker, (dst, port))
            got = _recv(rx, marker, 1.0)
            if got is None:
                continue
            rx.sendto(marker, got)
            if _recv(tx, marker, 1.0) is not None:
                rtts.append((time.perf_counter() - start) * 1000)
    finally:
        rx.close()
        tx.close()
    return rtts


def udp_delivered(src_ns: str, dst_ns: str, dst: str, count: int) -> int:
    """Send ``count`` datagrams one way; return how many arrived."""
    rx = socket_in(dst_ns, socket.AF_INET, socket.SOCK_DGRAM)
    tx = socket_in(src_ns, socket.AF_INET, socket.SOCK_DGRAM)
    try:
        rx.bind((dst, 0))
        rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        port = rx.getsockname()[1]
        seen: set[int] = set()
        for n in range(count):
            tx.sendto(struct.pack("!I", n), (dst, port))
            while select.select([rx], [], [], 0)[0]:
                seen.add(struct.unpack("!I", rx.recv(64)[:4])[0])
        while select.select([rx], [], [], 0.5)[0]:
            seen.add(struct.unpack("!I", rx.recv(64)[:4])[0])
        return len(seen)
    finally:
        rx.close()
        tx.close()


def tcp_transfer_seconds(src_ns: str, dst_ns: str, dst: str, size: int) -> float:
    """Send ``size`` bytes over TCP from ``src_ns`` to ``dst``; return the seconds it took."""
    server = socket_in(dst_ns, socket.AF_INET, socket.SOCK_STREAM)
    client = socket_in(src_ns, socket.AF_INET, socket.SOCK_STREAM)
    try:
        server.bind((dst, 0))
        server.listen(1)
        client.connect(server.getsockname())
        peer, _ = server.accept()
        chunk = b"\0" * 65536
        start = time.perf_counter()
        sent = got = 0
        client.setblocking(False)
        while got < size:
            if sent < size:
                with contextlib.suppress(BlockingIOError):  # the shaper holds it back
                    sent += client.send(chunk[: size - sent])
            if select.select([peer], [], [], 0.01)[0]:
                data = peer.recv(1 << 20)
                if not data:
                    break
                got += len(data)
        elapsed = time.perf_counter() - start
        peer.close()
        return elapsed
    finally:
        server.close()
        client.close()
