"""Pure packet and frame code shared by the apps: parse, build, describe, answer.

Nothing here touches the kernel: every function takes bytes and returns bytes or
plain data, so the whole module is unit-tested without a namespace.

Layouts follow the RFCs: Ethernet II (14 bytes, no 802.1Q tag is interpreted),
ARP for IPv4 over Ethernet (RFC 826, 28 bytes), IPv4 (RFC 791), ICMP echo
(RFC 792) and the Internet checksum (RFC 1071).
"""

from __future__ import annotations

import ipaddress
import struct
import time
from dataclasses import dataclass
from typing import Any

ETH_HEADER_LEN = 14
ETH_MIN_FRAME = 60  # without the FCS, which tap/tun never carry
ETHERTYPE_IPV4 = 0x0800
ETHERTYPE_ARP = 0x0806
ETHERTYPE_IPV6 = 0x86DD
ETHERTYPE_VLAN = 0x8100

ARP_LEN = 28
ARP_REQUEST = 1
ARP_REPLY = 2

IPPROTO_ICMP = 1
IPPROTO_TCP = 6
IPPROTO_UDP = 17
IPPROTO_ICMPV6 = 58

ICMP_ECHO_REPLY = 0
ICMP_ECHO_REQUEST = 8

BROADCAST_MAC = b"\xff" * 6

PROTO_NAMES = {
    IPPROTO_ICMP: "icmp",
    IPPROTO_TCP: "tcp",
    IPPROTO_UDP: "udp",
    IPPROTO_ICMPV6: "icmp6",
}
ETHERTYPE_NAMES = {
    ETHERTYPE_IPV4: "ipv4",
    ETHERTYPE_ARP: "arp",
    ETHERTYPE_IPV6: "ipv6",
    ETHERTYPE_VLAN: "vlan",
}


class FrameError(ValueError):
    """A frame or packet is too short or malformed; the message names the layer and field."""


# --- addresses -----------------------------------------------------------------


def parse_mac(text: str) -> bytes:
    """Parse ``02:00:00:00:50:10`` (``-`` also accepted) into 6 bytes.

    Raises:
        ValueError: not six two-digit hexadecimal groups.
    """
    parts = text.replace("-", ":").split(":")
    if len(parts) != 6 or not all(len(p) == 2 for p in parts):
        raise ValueError(f"MAC address {text!r} is not six hex pairs like 02:00:00:00:00:01")
    try:
        return bytes(int(p, 16) for p in parts)
    except ValueError:
        raise ValueError(f"MAC address {text!r} has a group that is not hexadecimal") from None


def format_mac(mac: bytes) -> str:
    """Format 6 bytes as ``aa:bb:cc:dd:ee:ff``."""
    return ":".join(f"{b:02x}" for b in mac)


def mac_for_ip(ip: ipaddress.IPv4Address) -> bytes:
    """A stable locally administered unicast MAC derived from an IPv4 address (02:54:a.b.c.d)."""
    return b"\x02\x54" + ip.packed


def parse_host_address(text: str) -> ipaddress.IPv4Address:
    """Parse ``192.168.50.10/24`` (or a bare address) into a usable IPv4 host address.

    Raises:
        ValueError: not IPv4, or multicast, unspecified, or the subnet's broadcast.
    """
    try:
        iface = ipaddress.IPv4Interface(text)
    except ValueError:
        raise ValueError(f"{text!r} is not an IPv4 address like 192.168.50.10/24") from None
    ip, network = iface.ip, iface.network
    is_broadcast = network.prefixlen < 31 and ip == network.broadcast_address
    if ip.is_multicast or ip.is_unspecified or is_broadcast:
        raise ValueError(f"{ip} cannot be a host address")
    return ip


def ip_text(raw: bytes) -> str:
    """Format a 4-byte IPv4 address."""
    return str(ipaddress.IPv4Address(raw))


# --- checksum ------------------------------------------------------------------


def internet_checksum(data: bytes) -> int:
    """Return the RFC 1071 ones'-complement checksum of ``data`` (odd length padded)."""
    if len(data) % 2:
        data += b"\x00"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


# --- Ethernet ------------------------------------------------------------------


@dataclass(frozen=True)
class Ethernet:
    """An Ethernet II header and its payload."""

    dst: bytes
    src: bytes
    ethertype: int
    payload: bytes


def parse_ethernet(frame: bytes) -> Ethernet:
    """Split an Ethernet II frame into header fields and payload.

    Raises:
        FrameError: shorter than the 14-byte header.
    """
    if len(frame) < ETH_HEADER_LEN:
        raise FrameError(f"ethernet: frame of {len(frame)} bytes is shorter than 14")
    dst, src, ethertype = struct.unpack("!6s6sH", frame[:ETH_HEADER_LEN])
    return Ethernet(dst, src, ethertype, frame[ETH_HEADER_LEN:])


def build_ethernet(dst: bytes, src: bytes, ethertype: int, payload: bytes) -> bytes:
    """Build an Ethernet II frame, padded to the 60-byte minimum (FCS excluded)."""
    frame = struct.pack("!6s6sH", dst, src, ethertype) + payload
    if len(frame) < ETH_MIN_FRAME:
        frame += b"\x00" * (ETH_MIN_FRAME - len(frame))
    return frame


# --- ARP -----------------------------------------------------------------------


@dataclass(frozen=True)
class Arp:
    """An ARP packet for IPv4 over Ethernet."""

    op: int
    sender_mac: bytes
    sender_ip: bytes
    target_mac: bytes
    target_ip: bytes


def parse_arp(payload: bytes) -> Arp:
    """Parse an Ethernet/IPv4 ARP packet.

    Raises:
        FrameError: too short, or not hardware type 1 / protocol 0x0800 / lengths 6 and 4.
    """
    if len(payload) < ARP_LEN:
        raise FrameError(f"arp: {len(payload)} bytes, need 28")
    htype, ptype, hlen, plen, op, sha, spa, tha, tpa = struct.unpack(
        "!HHBBH6s4s6s4s", payload[:ARP_LEN]
    )
    if (htype, ptype, hlen, plen) != (1, ETHERTYPE_IPV4, 6, 4):
        raise FrameError(f"arp: not Ethernet/IPv4 (htype {htype}, ptype {ptype:#06x})")
    return Arp(op, sha, spa, tha, tpa)


def build_arp(arp: Arp) -> bytes:
    """Build the 28-byte ARP packet (no Ethernet header)."""
    return struct.pack(
        "!HHBBH6s4s6s4s",
        1,
        ETHERTYPE_IPV4,
        6,
        4,
        arp.op,
        arp.sender_mac,
        arp.sender_ip,
        arp.target_mac,
        arp.target_ip,
    )


# --- IPv4 ----------------------------------------------------------------------


@dataclass(frozen=True)
class IPv4:
    """The fields of an IPv4 header the apps use, and the payload it frames."""

    header_len: int
    total_len: int
    ident: int
    flags_frag: int
    ttl: int
    proto: int
    src: bytes
    dst: bytes
    payload: bytes

    @property
    def is_fragment(self) -> bool:
        """True for any fragment (more-fragments set or a non-zero offset)."""
        return bool(self.flags_frag & 0x3FFF)


def parse_ipv4(packet: bytes) -> IPv4:
    """Parse an IPv4 header; the payload is cut at the header's total length.

    Raises:
        FrameError: not version 4, a header length under 20, or a truncated packet.
    """
    if len(packet) < 20:
        raise FrameError(f"ipv4: {len(packet)} bytes, need at least 20")
    ver_ihl, _tos, total_len, ident, flags_frag, ttl, proto, _csum, src, dst = struct.unpack(
        "!BBHHHBBH4s4s", packet[:20]
    )
    if ver_ihl >> 4 != 4:
        raise FrameError(f"ipv4: version {ver_ihl >> 4}")
    header_len = (ver_ihl & 0x0F) * 4
    if header_len < 20 or header_len > total_len or total_len > len(packet):
        raise FrameError(
            f"ipv4: header length {header_len}, total length {total_len}, have {len(packet)}"
        )
    return IPv4(
        header_len,
        total_len,
        ident,
        flags_frag,
        ttl,
        proto,
        src,
        dst,
        packet[header_len:total_len],
    )


def build_ipv4(
    src: bytes, dst: bytes, proto: int, payload: bytes, ident: int, ttl: int = 64
) -> bytes:
    """Build an IPv4 packet (20-byte header, DF clear) with a correct header checksum."""
    header = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident & 0xFFFF, 0, ttl, proto, 0, src, dst
    )
    csum = internet_checksum(header)
    return header[:10] + struct.pack("!H", csum) + header[12:] + payload


# --- ICMP ----------------------------------------------------------------------


@dataclass(frozen=True)
class IcmpEcho:
    """An ICMP echo request or reply."""

    type: int
    code: int
    ident: int
    seq: int
    data: bytes


def parse_icmp_echo(payload: bytes) -> IcmpEcho | None:
    """Parse an ICMP message; return it when it is an echo request/reply, else None.

    Raises:
        FrameError: shorter than the 8-byte ICMP header.
    """
    if len(payload) < 8:
        raise FrameError(f"icmp: {len(payload)} bytes, need 8")
    icmp_type, code, _csum, ident, seq = struct.unpack("!BBHHH", payload[:8])
    if icmp_type not in (ICMP_ECHO_REQUEST, ICMP_ECHO_REPLY):
        return None
    return IcmpEcho(icmp_type, code, ident, seq, payload[8:])


def build_icmp_echo(echo: IcmpEcho) -> bytes:
    """Build an ICMP echo message with a correct checksum."""
    body = struct.pack("!BBHHH", echo.type, echo.code, 0, echo.ident, echo.seq) + echo.data
    csum = internet_checksum(body)
    return body[:2] + struct.pack("!H", csum) + body[4:]


# --- describing packets (trace lines, summaries) -----------------------------------


def describe_ip(packet: bytes) -> dict[str, Any]:
    """Return the trace fields of an IP packet: src, dst, proto, ports or ICMP type/id/seq.

    Never raises: a packet that does not parse yields ``{"proto": "unknown"}`` with a
    ``"error"`` field, since the trace must describe whatever crossed the device.
    """
    if not packet:
        return {"proto": "unknown", "error": "empty packet"}
    version = packet[0] >> 4
    if version == 6:
        if len(packet) < 40:
            return {"proto": "unknown", "error": "ipv6: truncated header"}
        next_header = packet[6]
        return {
            "ip": 6,
            "src": str(ipaddress.IPv6Address(packet[8:24])),
            "dst": str(ipaddress.IPv6Address(packet[24:40])),
            "proto": PROTO_NAMES.get(next_header, str(next_header)),
        }
    try:
        ip = parse_ipv4(packet)
    except FrameError as exc:
        return {"proto": "unknown", "error": str(exc)}
    out: dict[str, Any] = {
        "ip": 4,
        "src": ip_text(ip.src),
        "dst": ip_text(ip.dst),
        "proto": PROTO_NAMES.get(ip.proto, str(ip.proto)),
        "ttl": ip.ttl,
    }
    if ip.flags_frag & 0x1FFF:
        out["fragment"] = True  # a non-first fragment carries no transport header
        return out
    if ip.proto == IPPROTO_ICMP and len(ip.payload) >= 8:
        icmp_type, code, _c, ident, seq = struct.unpack("!BBHHH", ip.payload[:8])
        out["icmp_type"] = icmp_type
        out["icmp_code"] = code
        if icmp_type in (ICMP_ECHO_REQUEST, ICMP_ECHO_REPLY):
            out["icmp_id"] = ident
            out["icmp_seq"] = seq
    elif ip.proto in (IPPROTO_TCP, IPPROTO_UDP) and len(ip.payload) >= 4:
        out["sport"], out["dport"] = struct.unpack("!HH", ip.payload[:4])
    return out


def describe_frame(frame: bytes) -> dict[str, Any]:
    """Return the trace fields of an Ethernet frame (MACs, ethertype, ARP or IP fields).

    Never raises; an unparseable frame yields an ``"error"`` field.
    """
    try:
        eth = parse_ethernet(frame)
    except FrameError as exc:
        return {"error": str(exc)}
    out: dict[str, Any] = {
        "eth_src": format_mac(eth.src),
        "eth_dst": format_mac(eth.dst),
        "ethertype": ETHERTYPE_NAMES.get(eth.ethertype, f"{eth.ethertype:#06x}"),
    }
    if eth.ethertype == ETHERTYPE_ARP:
        try:
            arp = parse_arp(eth.payload)
        except FrameError as exc:
            out["error"] = str(exc)
            return out
        out["arp_op"] = {ARP_REQUEST: "request", ARP_REPLY: "reply"}.get(arp.op, str(arp.op))
        out["arp_sender_ip"] = ip_text(arp.sender_ip)
        out["arp_sender_mac"] = format_mac(arp.sender_mac)
        out["arp_target_ip"] = ip_text(arp.target_ip)
    elif eth.ethertype in (ETHERTYPE_IPV4, ETHERTYPE_IPV6):
        out.update(describe_ip(eth.payload))
    return out


def summarize_ip(info: dict[str, Any]) -> str:
    """A tcpdump-like one-line text for the fields :func:`describe_ip` returned."""
    if "src" not in info:
        return f"IP (unparsed: {info.get('error', '?')})"
    text = f"IP{'6' if info.get('ip') == 6 else ''} {info['src']}"
    if "sport" in info:
        text += f".{info['sport']} > {info['dst']}.{info['dport']}: {info['proto'].upper()}"
        return text
    text += f" > {info['dst']}: "
    if info.get("proto") == "icmp" and "icmp_type" in info:
        kind = {ICMP_ECHO_REQUEST: "echo request", ICMP_ECHO_REPLY: "echo reply"}.get(
            info["icmp_type"], f"type {info['icmp_type']}"
        )
        text += f"ICMP {kind}"
        if "icmp_id" in info:
            text += f", id {info['icmp_id']}, seq {info['icmp_seq']}"
        return text
    return text + str(info.get("proto", "?")).upper()


def summarize_frame(frame: bytes, info: dict[str, Any] | None = None) -> str:
    """A tcpdump-like one-line summary of an Ethernet frame (``tcpdump -e -n`` flavour)."""
    info = describe_frame(frame) if info is None else info
    if "eth_src" not in info:
        return f"(unparsed frame: {info.get('error', '?')}), length {len(frame)}"
    head = f"{info['eth_src']} > {info['eth_dst']}, {info['ethertype']}, length {len(frame)}: "
    if "arp_op" in info:
        if info["arp_op"] == "request":
            body = f"ARP, Request who-has {info['arp_target_ip']} tell {info['arp_sender_ip']}"
        elif info["arp_op"] == "reply":
            body = f"ARP, Reply {info['arp_sender_ip']} is-at {info['arp_sender_mac']}"
        else:
            body = f"ARP, op {info['arp_op']}"
        return head + body
    if info["ethertype"] in ("ipv4", "ipv6"):
        return head + summarize_ip(info)
    return head + str(info.get("error", ""))


# --- the endpoint: what a minimal host on a wire answers -----------------------------


@dataclass(frozen=True)
class Answer:
    """A frame to send back and what it is (``arp-reply`` or ``icmp-echo-reply``)."""

    action: str
    frame: bytes


class Responder:
    """Answers ARP requests for one IPv4 address and ICMP echo requests sent to it.

    This is the whole "operating system" of the user-space endpoints: everything else
    is ignored, as a host with no other service would drop it.
    """

    def __init__(self, mac: bytes, ip: ipaddress.IPv4Address) -> None:
        """Answer as ``mac`` / ``ip``."""
        self.mac = mac
        self.ip = ip
        self._ip_raw = ip.packed
        self._ident = int(time.time()) & 0xFFFF  # IP ids only need to vary per packet

    def answer(self, frame: bytes) -> Answer | None:
        """Return the reply to ``frame``, or None when the endpoint stays silent.

        Never raises: malformed frames are ignored, as a NIC driver would drop them.
        """
        try:
            eth = parse_ethernet(frame)
            if eth.ethertype == ETHERTYPE_ARP:
                return self._answer_arp(eth)
            if eth.ethertype == ETHERTYPE_IPV4 and eth.dst in (self.mac, BROADCAST_MAC):
                return self._answer_ipv4(eth)
        except FrameError:
            return None
        return None

    def _answer_arp(self, eth: Ethernet) -> Answer | None:
        arp = parse_arp(eth.payload)
        if arp.op != ARP_REQUEST or arp.target_ip != self._ip_raw:
            return None
        reply = Arp(ARP_REPLY, self.mac, self._ip_raw, arp.sender_mac, arp.sender_ip)
        return Answer(
            "arp-reply", build_ethernet(arp.sender_mac, self.mac, ETHERTYPE_ARP, build_arp(reply))
        )

    def _answer_ipv4(self, eth: Ethernet) -> Answer | None:
        ip = parse_ipv4(eth.payload)
        if ip.dst != self._ip_raw or ip.proto != IPPROTO_ICMP or ip.is_fragment:
            return None
        if internet_checksum(eth.payload[: ip.header_len]) != 0:
            return None  # a corrupt header is dropped, as the kernel would
        echo = parse_icmp_echo(ip.payload)
        if echo is None or echo.type != ICMP_ECHO_REQUEST or internet_checksum(ip.payload) != 0:
            return None
        reply = IcmpEcho(ICMP_ECHO_REPLY, 0, echo.ident, echo.seq, echo.data)
        self._ident = (self._ident + 1) & 0xFFFF
        packet = build_ipv4(self._ip_raw, ip.src, IPPROTO_ICMP, build_icmp_echo(reply), self._ident)
        return Answer("icmp-echo-reply", build_ethernet(eth.src, self.mac, ETHERTYPE_IPV4, packet))
