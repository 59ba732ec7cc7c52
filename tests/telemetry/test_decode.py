"""The pure decoder on frames built with dpkt."""

from __future__ import annotations

import dpkt
import pytest

from worker.telemetry.decode import LINK_RAW_IP, DecodeError, decode

MAC_A = b"\x02\x00\x00\x00\x00\x0a"
MAC_B = b"\x02\x00\x00\x00\x00\x0b"


def _ip(a: str) -> bytes:
    return bytes(int(x) for x in a.split("."))


def icmp_echo(
    src: str, dst: str, ident: int, seq: int, ttl: int = 64, reply: bool = False
) -> dpkt.ip.IP:
    echo = dpkt.icmp.ICMP.Echo(id=ident, seq=seq, data=b"topolab")
    icmp = dpkt.icmp.ICMP(type=0 if reply else 8, code=0, data=echo)
    return dpkt.ip.IP(src=_ip(src), dst=_ip(dst), ttl=ttl, p=dpkt.ip.IP_PROTO_ICMP, data=icmp)


def eth(payload: dpkt.Packet, etype: int = dpkt.ethernet.ETH_TYPE_IP) -> bytes:
    return bytes(dpkt.ethernet.Ethernet(src=MAC_A, dst=MAC_B, type=etype, data=payload))


def test_icmp_echo() -> None:
    p = decode(eth(icmp_echo("10.0.0.1", "10.0.0.2", 0x1234, 7, ttl=63)))
    assert (p.src_mac, p.dst_mac) == ("02:00:00:00:00:0a", "02:00:00:00:00:0b")
    assert (p.src_ip, p.dst_ip, p.ttl) == ("10.0.0.1", "10.0.0.2", 63)
    assert (p.icmp_type, p.icmp_id, p.icmp_seq) == (8, 0x1234, 7)
    assert p.inner is None


def test_arp() -> None:
    arp = dpkt.arp.ARP(
        op=dpkt.arp.ARP_OP_REQUEST, sha=MAC_A, spa=_ip("10.0.0.1"), tpa=_ip("10.0.0.2")
    )
    p = decode(eth(arp, dpkt.ethernet.ETH_TYPE_ARP))
    assert (p.arp_op, p.src_ip, p.dst_ip) == (1, "10.0.0.1", "10.0.0.2")


def test_tcp_flags_and_ports() -> None:
    tcp = dpkt.tcp.TCP(sport=40000, dport=80, flags=dpkt.tcp.TH_SYN | dpkt.tcp.TH_ACK)
    ip4 = dpkt.ip.IP(src=_ip("1.1.1.1"), dst=_ip("2.2.2.2"), p=dpkt.ip.IP_PROTO_TCP, data=tcp)
    p = decode(eth(ip4))
    assert (p.sport, p.dport, p.tcp_flags) == (40000, 80, "S.")


def test_ipv6_icmp_echo() -> None:
    echo = dpkt.icmp6.ICMP6.Echo(id=99, seq=3)
    icmp6 = dpkt.icmp6.ICMP6(type=128, code=0, data=echo)
    ip6 = dpkt.ip6.IP6(
        src=b"\xfd" + b"\0" * 14 + b"\x01",
        dst=b"\xfd" + b"\0" * 14 + b"\x02",
        nxt=58,
        hlim=64,
        data=icmp6,
        plen=len(bytes(icmp6)),
    )
    p = decode(eth(ip6, dpkt.ethernet.ETH_TYPE_IP6))
    assert (p.ip_version, p.src_ip, p.icmp_type, p.icmp_id, p.icmp_seq) == (
        6,
        "fd00::1",
        128,
        99,
        3,
    )


def _udp(src: str, dst: str, dport: int, payload: bytes) -> dpkt.ip.IP:
    udp = dpkt.udp.UDP(sport=50000, dport=dport, data=payload)
    udp.ulen = 8 + len(payload)
    return dpkt.ip.IP(src=_ip(src), dst=_ip(dst), p=dpkt.ip.IP_PROTO_UDP, data=udp)


def test_vxlan_inner_frame() -> None:
    inner = eth(icmp_echo("10.42.0.1", "10.42.0.2", 77, 1))
    vx = b"\x08\x00\x00\x00" + (42).to_bytes(3, "big") + b"\x00" + inner
    p = decode(eth(_udp("192.168.0.1", "192.168.0.2", 4789, vx)))
    assert (p.dport, p.vni, p.inner_kind) == (4789, 42, "vxlan")
    assert p.inner is not None and p.inner.icmp_id == 77
    assert p.innermost().dst_ip == "10.42.0.2"
    # a non-standard port decodes only when named
    p2 = decode(eth(_udp("192.168.0.1", "192.168.0.2", 8472, vx)), vxlan_ports=(8472,))
    assert p2.vni == 42
    assert decode(eth(_udp("192.168.0.1", "192.168.0.2", 8472, vx))).vni is None


def test_udp_tunnel_and_raw_ip() -> None:
    inner = bytes(icmp_echo("10.8.0.1", "10.8.0.2", 5, 2))
    p = decode(eth(_udp("172.16.0.1", "172.16.0.2", 5555, inner)))
    assert p.inner_kind == "udp-tunnel"
    assert p.innermost().icmp_seq == 2
    framed = decode(eth(_udp("172.16.0.1", "172.16.0.2", 5555, b"TL\x01\x00" + inner)))
    assert framed.inner_kind == "udp-tunnel" and framed.innermost().icmp_id == 5
    raw = decode(inner, link=LINK_RAW_IP)
    assert raw.src_mac is None and raw.icmp_id == 5


def test_short_frames_raise() -> None:
    with pytest.raises(DecodeError):
        decode(b"\x00" * 10)
    with pytest.raises(DecodeError):
        decode(b"\x45" + b"\x00" * 5, link=LINK_RAW_IP)
    assert "inner" not in decode(eth(icmp_echo("1.1.1.1", "2.2.2.2", 1, 1))).to_json()
