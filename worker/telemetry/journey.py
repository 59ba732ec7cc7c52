"""Packet journey: follow a few pings hop by hop through every interface of a lab.

One AF_PACKET socket per node namespace (bound to no interface, so it sees every
interface there, in and out), opened from a thread that joined the namespace, with
kernel timestamps (SO_TIMESTAMPNS): all namespaces share one host clock, so sorting
by timestamp orders the hops. Then ICMP echo requests with a random id are sent from
a raw socket in the source namespace, and every captured frame whose ICMP id matches
(at any depth: inside VXLAN or a UDP tunnel) becomes a hop. Each hop says what
changed since the previous sighting of the same packet: TTL, MAC addresses,
encapsulation added or removed (with the VNI). `match_hops` is pure and unit-tested.
"""

from __future__ import annotations

import ctypes
import os
import secrets
import select
import socket
import struct
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from lab.wire import TopolabError
from worker.telemetry.decode import LINK_ETHERNET, LINK_RAW_IP, DecodeError, Packet, decode

ETH_P_ALL = 0x0003
SO_TIMESTAMPNS = 35
PACKET_OUTGOING = 4
ARPHRD_ETHER = 1
ARPHRD_LOOPBACK = 772
CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)
T = TypeVar("T")


class JourneyError(TopolabError):
    """A journey could not run. `code` is stable for clients; `field` names the input."""

    def __init__(self, code: str, message: str, field: str = "") -> None:
        super().__init__(message, code)
        self.field = field


@dataclass(frozen=True, slots=True)
class Sighting:
    """One frame seen on one interface of one node."""

    ts: float
    node: str
    interface: str
    direction: str  # "in" or "out"
    packet: Packet


def in_namespace(namespace: str, fn: Callable[[], T]) -> T:
    """Run `fn` in a short-lived thread that joined `namespace`; return its result.

    Raises:
        JourneyError: the namespace cannot be joined (code `journey.no_node`).
    """
    box: list[tuple[bool, Any]] = []

    def run() -> None:
        try:
            fd = os.open(f"/run/netns/{namespace}", os.O_RDONLY | os.O_CLOEXEC)
            try:
                if _libc.setns(fd, CLONE_NEWNET) != 0:
                    err = ctypes.get_errno()
                    raise OSError(err, os.strerror(err))
            finally:
                os.close(fd)
            box.append((True, fn()))
        except BaseException as exc:
            box.append((False, exc))

    thread = threading.Thread(target=run, name=f"netns-{namespace}")
    thread.start()
    thread.join()
    ok, value = box[0]
    if not ok:
        raise JourneyError("journey.no_node", f"namespace {namespace!r}: {value}") from value
    result: T = value
    return result


def _packet_socket() -> socket.socket:
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.setblocking(False)
    return sock


def _timestamp(ancdata: list[tuple[int, int, bytes]]) -> float:
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= 16:
            sec, nsec = struct.unpack_from("=qq", data)
            return float(sec + nsec / 1e9)
    return time.time()


def _kernel_stamps(timeout: float) -> bool:
    """Wait until the kernel timestamps packets as they pass; return whether it does.

    The kernel stamps packets only while some socket asks for timestamps, and it
    turns that on from a work queue a moment after the first socket asked (the
    journey's own sockets, a moment ago). A packet that passes before then is
    stamped when it is read, so it sorts by reading order (node by node): the first
    ping's hops came out of order. The proof is a probe on the loopback of the
    calling thread's namespace (the switch is one for the whole kernel): a frame
    stamped before it was read was stamped by the kernel.
    """
    sniff = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    send = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sniff.bind(("lo", 0))
        sniff.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        sniff.settimeout(0.5)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            send.sendto(b"topolab-journey-clock", ("127.0.0.1", 9))  # discard port
            sent = time.time()
            time.sleep(0.005)  # a stamp taken when the frame is read is this much later
            try:
                _data, anc, _flags, _addr = sniff.recvmsg(2048, socket.CMSG_SPACE(16))
            except TimeoutError:
                continue
            if _timestamp(anc) < sent + 0.002:
                return True
            time.sleep(0.01)
        return False
    except OSError:
        return False  # no loopback to probe on: the journey runs as before
    finally:
        sniff.close()
        send.close()


def _icmp_echo(ident: int, seq: int, payload: bytes) -> bytes:
    header = struct.pack("!BBHHH", 8, 0, 0, ident, seq)
    data = header + payload
    total = 0
    for i in range(0, len(data) - 1, 2):
        total += (data[i] << 8) + data[i + 1]
    if len(data) % 2:
        total += data[-1] << 8
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    checksum = ~total & 0xFFFF
    return struct.pack("!BBHHH", 8, 0, checksum, ident, seq) + payload


def _matches(pkt: Packet, ident: int) -> Packet | None:
    layer: Packet | None = pkt
    while layer is not None:
        if layer.icmp_id == ident and layer.icmp_type in (0, 8):
            return layer
        layer = layer.inner
    return None


def _encap(pkt: Packet) -> list[str]:
    layers = []
    layer: Packet | None = pkt
    while layer is not None and layer.inner is not None:
        if layer.inner_kind == "vxlan":
            layers.append(f"vxlan vni {layer.vni} {layer.src_ip} > {layer.dst_ip}")
        else:
            layers.append(f"udp tunnel {layer.src_ip}:{layer.sport} > {layer.dst_ip}:{layer.dport}")
        layer = layer.inner
    return layers


def match_hops(sightings: list[Sighting], ident: int) -> list[dict[str, Any]]:
    """Turn sightings into ordered hops of the echo packets with id `ident`. Pure.

    Each hop: time offset from the first, node, interface, direction, which packet
    (request/reply and sequence), the inner addresses and TTL, the encapsulation
    stack, and `changes` since this packet's previous hop.
    """
    hops: list[dict[str, Any]] = []
    last: dict[tuple[str, int], tuple[Packet, list[str], Packet]] = {}
    ordered = sorted(sightings, key=lambda s: s.ts)
    start = ordered[0].ts if ordered else 0.0
    for sighting in ordered:
        echo = _matches(sighting.packet, ident)
        if echo is None or echo.icmp_seq is None:
            continue
        kind = "request" if echo.icmp_type == 8 else "reply"
        key = (kind, echo.icmp_seq)
        encap = _encap(sighting.packet)
        outer = sighting.packet
        # The Ethernet header nearest the echo: the inner frame's for VXLAN.
        eth = outer
        layer: Packet | None = outer
        while layer is not None and layer is not echo:
            if layer.inner is not None and layer.inner_kind == "vxlan":
                eth = layer.inner
            layer = layer.inner
        changes: list[str] = []
        prev = last.get(key)
        if prev is not None:
            prev_echo, prev_encap, prev_eth = prev
            if prev_echo.ttl is not None and echo.ttl is not None and echo.ttl != prev_echo.ttl:
                changes.append(f"ttl {prev_echo.ttl} -> {echo.ttl}")
            # Only between two Ethernet sightings: a tun device has no MACs to compare.
            macs = (eth.src_mac, eth.dst_mac)
            if eth.src_mac and prev_eth.src_mac and (prev_eth.src_mac, prev_eth.dst_mac) != macs:
                changes.append(
                    f"mac {prev_eth.src_mac} > {prev_eth.dst_mac} rewritten to "
                    f"{eth.src_mac} > {eth.dst_mac}"
                )
            for added in encap[len(prev_encap) :] if len(encap) > len(prev_encap) else []:
                changes.append(f"encapsulated: {added}")
            for removed in prev_encap[len(encap) :] if len(prev_encap) > len(encap) else []:
                changes.append(f"decapsulated: {removed}")
        last[key] = (echo, encap, eth)
        hops.append(
            {
                "t_us": round((sighting.ts - start) * 1e6),
                "ts": sighting.ts,
                "node": sighting.node,
                "interface": sighting.interface,
                "direction": sighting.direction,
                "packet": kind,
                "seq": echo.icmp_seq,
                "src": echo.src_ip,
                "dst": echo.dst_ip,
                "ttl": echo.ttl,
                "src_mac": eth.src_mac,
                "dst_mac": eth.dst_mac,
                "encapsulation": encap,
                "vni": outer.vni,
                "length": outer.length,
                "changes": changes,
            }
        )
    return hops


class _Reader:
    """The AF_PACKET sockets of a journey, read from one thread until stopped."""

    def __init__(self, nodes: Mapping[str, str], vxlan_ports: tuple[int, ...]) -> None:
        self.socks: dict[int, tuple[str, socket.socket]] = {}
        self.vxlan_ports = vxlan_ports
        self.sightings: list[Sighting] = []
        self.stop = threading.Event()
        try:
            for node, namespace in nodes.items():
                sock = in_namespace(namespace, _packet_socket)
                self.socks[sock.fileno()] = (node, sock)
        except BaseException:
            self.close()
            raise
        self.thread = threading.Thread(target=self.run, daemon=True, name="journey-reader")
        self.thread.start()

    def run(self) -> None:
        fds = list(self.socks)
        while not self.stop.is_set():
            ready, _, _ = select.select(fds, [], [], 0.05)
            for fd in ready:
                node, sock = self.socks[fd]
                while True:
                    try:
                        data, anc, _flags, addr = sock.recvmsg(65535, socket.CMSG_SPACE(16))
                    except BlockingIOError:
                        break
                    ifname, _proto, pkttype, hatype = addr[0], addr[1], addr[2], addr[3]
                    if hatype == ARPHRD_LOOPBACK:
                        continue
                    link = LINK_ETHERNET if hatype == ARPHRD_ETHER else LINK_RAW_IP
                    try:
                        pkt = decode(data, link, self.vxlan_ports)
                    except DecodeError:
                        continue
                    direction = "out" if pkttype == PACKET_OUTGOING else "in"
                    self.sightings.append(Sighting(_timestamp(anc), node, ifname, direction, pkt))

    def close(self) -> None:
        self.stop.set()
        thread = getattr(self, "thread", None)
        if thread is not None:
            thread.join(timeout=5)
        for _node, sock in self.socks.values():
            sock.close()
        self.socks.clear()


def _replies(sightings: list[Sighting], ident: int, src: str) -> int:
    seqs = set()
    for s in list(sightings):  # appended by the reader thread; copy first
        echo = _matches(s.packet, ident)
        if echo is not None and echo.icmp_type == 0 and s.node == src and s.direction == "in":
            seqs.add(echo.icmp_seq)
    return len(seqs)


def run_journey(
    nodes: Mapping[str, str],
    src: str,
    dst_ip: str,
    count: int = 3,
    interval: float = 0.2,
    settle: float = 2.0,
    vxlan_ports: tuple[int, ...] = (4789,),
) -> dict[str, Any]:
    """Send `count` pings from node `src` to `dst_ip`, watching every node's interfaces.

    Args:
        nodes: node name -> namespace name, every node of the lab.
        src: the node that pings.
        dst_ip: an IPv4 address.
        settle: how long to wait, after the last ping, for replies still missing.
    Returns:
        JSON-able `{"icmp_id", "src", "dst", "sent", "replies", "hops": [...]}`.
    Raises:
        JourneyError: unknown src (`field="src"`), bad address (`field="dst"`), bad count,
            or a namespace that cannot be joined.
    """
    if src not in nodes:
        raise JourneyError("journey.unknown_node", f"no node {src!r} in this lab", "src")
    try:
        socket.inet_aton(dst_ip)
        if dst_ip.count(".") != 3:
            raise OSError
    except OSError:
        raise JourneyError(
            "journey.bad_address", f"{dst_ip!r} is not an IPv4 address", "dst"
        ) from None
    if not 1 <= count <= 10:
        raise JourneyError("journey.bad_count", "count must be between 1 and 10", "count")
    ident = secrets.randbelow(0xFFFF) + 1
    reader = _Reader(nodes, vxlan_ports)
    try:
        # The reader's sockets asked for timestamps; the pings wait until they are on.
        _kernel_stamps(2.0)
        sender = in_namespace(
            nodes[src],
            lambda: socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP),
        )
        try:
            for seq in range(1, count + 1):
                try:
                    sender.sendto(_icmp_echo(ident, seq, b"topolab-journey"), (dst_ip, 0))
                except OSError as exc:
                    raise JourneyError(
                        "journey.send_failed", f"cannot send from {src}: {exc.strerror}", "dst"
                    ) from exc
                time.sleep(interval)
        finally:
            sender.close()
        # Wait for every reply back at src (or `settle` seconds), then a moment more for
        # hops after it; a fixed sleep would be too short on a loaded host.
        deadline = time.monotonic() + settle
        while time.monotonic() < deadline and _replies(reader.sightings, ident, src) < count:
            time.sleep(0.05)
        time.sleep(0.1)
    finally:
        reader.close()
    hops = match_hops(reader.sightings, ident)
    replies = {
        h["seq"]
        for h in hops
        if h["packet"] == "reply" and h["node"] == src and h["direction"] == "in"
    }
    return {
        "icmp_id": ident,
        "src": src,
        "dst": dst_ip,
        "sent": count,
        "replies": len(replies),
        "hops": hops,
    }
