"""A small pure decoder: Ethernet, ARP, IPv4, IPv6, ICMP/ICMPv6, UDP, TCP, VXLAN.

Enough to follow one packet through a lab (`journey.py`): addresses, TTL, ICMP id and
sequence, VXLAN with the inner frame decoded, and an IP packet carried as a UDP payload
(the TUN VPN demo's tunnel). No I/O; unit-tested on frames built with dpkt.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import asdict, dataclass
from typing import Any

ETH_P_IP = 0x0800
ETH_P_ARP = 0x0806
ETH_P_IPV6 = 0x86DD
ETH_P_8021Q = 0x8100
VXLAN_PORT = 4789
TUNNEL_HEADER = b"TL\x01\x00"

LINK_ETHERNET = "ethernet"
LINK_RAW_IP = "raw"  # tun devices: the frame starts with the IP header

TCP_FLAG_NAMES = (
    (0x01, "F"), (0x02, "S"), (0x04, "R"), (0x08, "P"), (0x10, "."), (0x20, "U"),
)  # fmt: skip


class DecodeError(ValueError):
    """The bytes are too short or malformed for the header being read."""


@dataclass(frozen=True, slots=True)
class Packet:
    """What the decoder found in one frame; `inner` is the frame a VXLAN or UDP tunnel
    carried. Fields are None when the layer is absent."""

    src_mac: str | None = None
    dst_mac: str | None = None
    ethertype: int | None = None
    vlan: int | None = None
    arp_op: int | None = None
    ip_version: int | None = None
    src_ip: str | None = None
    dst_ip: str | None = None
    ttl: int | None = None
    proto: int | None = None
    icmp_type: int | None = None
    icmp_code: int | None = None
    icmp_id: int | None = None
    icmp_seq: int | None = None
    sport: int | None = None
    dport: int | None = None
    tcp_flags: str | None = None
    vni: int | None = None
    length: int = 0
    inner: Packet | None = None
    inner_kind: str | None = None  # "vxlan" or "udp-tunnel"

    def innermost(self) -> Packet:
        """The deepest encapsulated packet (self when not encapsulated)."""
        pkt = self
        while pkt.inner is not None:
            pkt = pkt.inner
        return pkt

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict (None fields dropped)."""
        data = asdict(self)
        if self.inner is not None:
            data["inner"] = self.inner.to_json()
        return {k: v for k, v in data.items() if v is not None}


def _mac(raw: bytes) -> str:
    return ":".join(f"{b:02x}" for b in raw)


def decode(
    data: bytes, link: str = LINK_ETHERNET, vxlan_ports: tuple[int, ...] = (VXLAN_PORT,)
) -> Packet:
    """Decode one frame as captured on a link of type `link`.

    Raises:
        DecodeError: a header is cut short.
    """
    if link == LINK_RAW_IP:
        return _decode_ip(data, {}, vxlan_ports, depth=0)
    return _decode_ethernet(data, vxlan_ports, depth=0)


def _decode_ethernet(data: bytes, vxlan_ports: tuple[int, ...], depth: int) -> Packet:
    if len(data) < 14:
        raise DecodeError(f"ethernet header needs 14 bytes, got {len(data)}")
    fields: dict[str, Any] = {
        "dst_mac": _mac(data[0:6]),
        "src_mac": _mac(data[6:12]),
        "length": len(data),
    }
    (ethertype,) = struct.unpack_from("!H", data, 12)
    off = 14
    if ethertype == ETH_P_8021Q and len(data) >= 18:
        tci, ethertype = struct.unpack_from("!HH", data, 14)
        fields["vlan"] = tci & 0x0FFF
        off = 18
    fields["ethertype"] = ethertype
    payload = data[off:]
    if ethertype == ETH_P_ARP:
        if len(payload) >= 28:
            (op,) = struct.unpack_from("!H", payload, 6)
            fields["arp_op"] = op
            fields["src_ip"] = str(ipaddress.IPv4Address(payload[14:18]))
            fields["dst_ip"] = str(ipaddress.IPv4Address(payload[24:28]))
        return Packet(**fields)
    if ethertype in (ETH_P_IP, ETH_P_IPV6):
        return _decode_ip(payload, fields, vxlan_ports, depth)
    return Packet(**fields)


def _decode_ip(
    data: bytes, fields: dict[str, Any], vxlan_ports: tuple[int, ...], depth: int
) -> Packet:
    fields.setdefault("length", len(data))
    if not data:
        raise DecodeError("empty IP packet")
    version = data[0] >> 4
    if version == 4:
        if len(data) < 20:
            raise DecodeError(f"IPv4 header needs 20 bytes, got {len(data)}")
        ihl = (data[0] & 0x0F) * 4
        fields.update(
            ip_version=4,
            ttl=data[8],
            proto=data[9],
            src_ip=str(ipaddress.IPv4Address(data[12:16])),
            dst_ip=str(ipaddress.IPv4Address(data[16:20])),
        )
        (frag,) = struct.unpack_from("!H", data, 6)
        body = data[ihl:] if frag & 0x1FFF == 0 else b""  # later fragments: no L4 header
        icmp_proto = 1
    elif version == 6:
        if len(data) < 40:
            raise DecodeError(f"IPv6 header needs 40 bytes, got {len(data)}")
        fields.update(
            ip_version=6,
            ttl=data[7],
            proto=data[6],
            src_ip=str(ipaddress.IPv6Address(data[8:24])),
            dst_ip=str(ipaddress.IPv6Address(data[24:40])),
        )
        body = data[40:]
        icmp_proto = 58
    else:
        raise DecodeError(f"not an IP packet (version {version})")
    proto = fields["proto"]
    if proto == icmp_proto and len(body) >= 4:
        fields.update(icmp_type=body[0], icmp_code=body[1])
        echo = (8, 0) if version == 4 else (128, 129)
        if body[0] in echo and len(body) >= 8:
            icmp_id, seq = struct.unpack_from("!HH", body, 4)
            fields.update(icmp_id=icmp_id, icmp_seq=seq)
    elif proto == 6 and len(body) >= 14:
        sport, dport = struct.unpack_from("!HH", body, 0)
        flags = body[13]
        fields.update(
            sport=sport,
            dport=dport,
            tcp_flags="".join(name for bit, name in TCP_FLAG_NAMES if flags & bit),
        )
    elif proto == 17 and len(body) >= 8:
        sport, dport = struct.unpack_from("!HH", body, 0)
        fields.update(sport=sport, dport=dport)
        payload = body[8:]
        if depth < 3:
            inner = _decode_udp_payload(payload, dport, sport, vxlan_ports, depth)
            if inner is not None:
                fields["inner"], fields["inner_kind"], vni = inner
                if vni is not None:
                    fields["vni"] = vni
    return Packet(**fields)


def _decode_udp_payload(
    payload: bytes, dport: int, sport: int, vxlan_ports: tuple[int, ...], depth: int
) -> tuple[Packet, str, int | None] | None:
    if (dport in vxlan_ports or sport in vxlan_ports) and len(payload) >= 8 + 14:
        flags = payload[0]
        if flags & 0x08:  # the I flag: a valid VNI follows
            vni = int.from_bytes(payload[4:7], "big")
            try:
                return _decode_ethernet(payload[8:], vxlan_ports, depth + 1), "vxlan", vni
            except DecodeError:
                return None
    # A user-space tunnel (the TUN VPN demo, worker/apps/tunnel.py) sends the IP packet
    # as the UDP payload, bare or after its 4-byte header "TL", version 1, flags 0.
    if payload[:4] == TUNNEL_HEADER:
        payload = payload[4:]
    if len(payload) >= 20 and payload[0] >> 4 == 4 and (payload[0] & 0x0F) >= 5:
        (total,) = struct.unpack_from("!H", payload, 2)
        if total == len(payload):
            try:
                return _decode_ip(payload, {}, vxlan_ports, depth + 1), "udp-tunnel", None
            except DecodeError:
                return None
    return None
