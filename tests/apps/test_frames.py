"""Unit tests of the pure packet code: codecs, checksums, the responder, trace fields.

Frames built here are cross-checked with dpkt, an independent implementation.
"""

from __future__ import annotations

import ipaddress
import os
import struct

import dpkt
import pytest
from hypothesis import given
from hypothesis import strategies as st

from worker.apps import AppError, app_argv
from worker.apps import frames as f
from worker.apps.runtime import LineWriter
from worker.apps.tunnel import HEADER, Counters, format_endpoint, parse_endpoint, unwrap, wrap
from worker.apps.tuntap import DeviceError, check_ifname, parse_devnum

ME_MAC = f.parse_mac("02:00:00:00:50:10")
ME_IP = ipaddress.IPv4Address("192.168.50.10")
PEER_MAC = f.parse_mac("02:00:00:00:50:01")
PEER_IP = ipaddress.IPv4Address("192.168.50.1")


def echo_request_frame(
    dst_ip: ipaddress.IPv4Address = ME_IP,
    dst_mac: bytes = ME_MAC,
    ident: int = 0x1234,
    seq: int = 7,
) -> bytes:
    """An echo request from PEER built by dpkt (independent of the code under test)."""
    icmp = dpkt.icmp.ICMP(
        type=8, code=0, data=dpkt.icmp.ICMP.Echo(id=ident, seq=seq, data=b"hello" * 8)
    )
    ip = dpkt.ip.IP(
        src=PEER_IP.packed, dst=dst_ip.packed, p=dpkt.ip.IP_PROTO_ICMP, ttl=64, data=icmp
    )
    eth = dpkt.ethernet.Ethernet(dst=dst_mac, src=PEER_MAC, type=dpkt.ethernet.ETH_TYPE_IP, data=ip)
    return bytes(eth)


def arp_request_frame(target: ipaddress.IPv4Address = ME_IP) -> bytes:
    arp = f.Arp(f.ARP_REQUEST, PEER_MAC, PEER_IP.packed, b"\x00" * 6, target.packed)
    return f.build_ethernet(f.BROADCAST_MAC, PEER_MAC, f.ETHERTYPE_ARP, f.build_arp(arp))


# --- addresses and checksum -------------------------------------------------------


def test_mac_round_trip_and_errors() -> None:
    assert f.format_mac(f.parse_mac("02-AA-bb-00-00-01")) == "02:aa:bb:00:00:01"
    with pytest.raises(ValueError, match="six hex pairs"):
        f.parse_mac("02:00:00:00:00")
    with pytest.raises(ValueError, match="not hexadecimal"):
        f.parse_mac("02:00:00:00:00:zz")
    assert f.mac_for_ip(ipaddress.IPv4Address("10.0.0.5")) == bytes.fromhex("02540a000005")


def test_parse_host_address() -> None:
    assert f.parse_host_address("192.168.50.10/24") == ME_IP
    assert f.parse_host_address("10.0.0.1") == ipaddress.IPv4Address("10.0.0.1")
    for bad in ("192.168.50.255/24", "224.0.0.1/4", "0.0.0.0/0", "fd00::1/64", "x"):
        with pytest.raises(ValueError):
            f.parse_host_address(bad)


def test_internet_checksum_known_vector() -> None:
    # RFC 1071's example words 0001 f203 f4f5 f6f7 sum to ddf2; the checksum is its complement.
    assert f.internet_checksum(bytes.fromhex("0001f203f4f5f6f7")) == 0xFFFF - 0xDDF2
    assert f.internet_checksum(b"\x01") == f.internet_checksum(b"\x01\x00")


@given(st.binary(min_size=0, max_size=200))
def test_checksum_verifies_to_zero(data: bytes) -> None:
    if len(data) % 2:
        data += b"\x00"
    csum = f.internet_checksum(data)
    assert f.internet_checksum(data + struct.pack("!H", csum)) == 0


# --- codecs cross-checked with dpkt ----------------------------------------------------


def test_build_ipv4_and_icmp_parse_with_dpkt() -> None:
    echo = f.IcmpEcho(f.ICMP_ECHO_REPLY, 0, 99, 3, b"payload!")
    packet = f.build_ipv4(ME_IP.packed, PEER_IP.packed, f.IPPROTO_ICMP, f.build_icmp_echo(echo), 42)
    parsed = dpkt.ip.IP(packet)
    assert parsed.sum == dpkt.ip.IP(bytes(dpkt.ip.IP(packet))).sum  # dpkt recomputes: equal
    assert f.internet_checksum(packet[:20]) == 0
    assert parsed.len == len(packet) and parsed.id == 42 and parsed.ttl == 64
    assert isinstance(parsed.data, dpkt.icmp.ICMP) and parsed.data.type == 0
    assert parsed.data.data.id == 99 and parsed.data.data.seq == 3
    assert f.internet_checksum(packet[20:]) == 0


def test_parse_ethernet_arp_ipv4_errors() -> None:
    with pytest.raises(f.FrameError, match="shorter than 14"):
        f.parse_ethernet(b"\x00" * 13)
    with pytest.raises(f.FrameError, match="need 28"):
        f.parse_arp(b"\x00" * 27)
    with pytest.raises(f.FrameError, match="not Ethernet/IPv4"):
        f.parse_arp(b"\x00\x06" + b"\x00" * 26)
    with pytest.raises(f.FrameError, match="version 6"):
        f.parse_ipv4(b"\x60" + b"\x00" * 39)
    with pytest.raises(f.FrameError, match="total length"):
        f.parse_ipv4(b"\x45\x00\x00\xff" + b"\x00" * 16)


def test_build_ethernet_pads_to_minimum() -> None:
    frame = f.build_ethernet(PEER_MAC, ME_MAC, f.ETHERTYPE_ARP, b"\x01\x02")
    assert len(frame) == 60
    assert f.parse_ethernet(frame).payload[:2] == b"\x01\x02"


# --- the responder ------------------------------------------------------------------


def test_responder_answers_arp_for_its_ip_only() -> None:
    responder = f.Responder(ME_MAC, ME_IP)
    answer = responder.answer(arp_request_frame())
    assert answer is not None and answer.action == "arp-reply"
    eth = dpkt.ethernet.Ethernet(answer.frame)
    assert eth.dst == PEER_MAC and eth.src == ME_MAC and eth.type == dpkt.ethernet.ETH_TYPE_ARP
    arp = eth.data
    assert arp.op == dpkt.arp.ARP_OP_REPLY
    assert (arp.sha, arp.spa, arp.tha, arp.tpa) == (ME_MAC, ME_IP.packed, PEER_MAC, PEER_IP.packed)
    assert responder.answer(arp_request_frame(ipaddress.IPv4Address("192.168.50.11"))) is None
    # A reply (not a request) for our IP is not answered.
    reply = f.Arp(f.ARP_REPLY, PEER_MAC, PEER_IP.packed, ME_MAC, ME_IP.packed)
    frame = f.build_ethernet(ME_MAC, PEER_MAC, f.ETHERTYPE_ARP, f.build_arp(reply))
    assert responder.answer(frame) is None


def test_responder_answers_echo_with_valid_checksums() -> None:
    responder = f.Responder(ME_MAC, ME_IP)
    request = echo_request_frame()
    answer = responder.answer(request)
    assert answer is not None and answer.action == "icmp-echo-reply"
    eth = dpkt.ethernet.Ethernet(answer.frame)
    assert eth.dst == PEER_MAC and eth.src == ME_MAC
    ip = eth.data
    assert (ip.src, ip.dst, ip.p) == (ME_IP.packed, PEER_IP.packed, dpkt.ip.IP_PROTO_ICMP)
    raw_ip = bytes(answer.frame[14 : 14 + ip.len])
    assert f.internet_checksum(raw_ip[:20]) == 0
    assert f.internet_checksum(raw_ip[20:]) == 0
    echo = ip.data
    assert echo.type == 0 and echo.data.id == 0x1234 and echo.data.seq == 7
    assert echo.data.data == b"hello" * 8


def test_responder_ignores_what_a_host_would_drop() -> None:
    responder = f.Responder(ME_MAC, ME_IP)
    other_ip = ipaddress.IPv4Address("192.168.50.11")
    assert responder.answer(echo_request_frame(dst_ip=other_ip)) is None
    assert responder.answer(echo_request_frame(dst_mac=f.parse_mac("02:00:00:00:00:99"))) is None
    # A corrupted ICMP checksum, a corrupted IP header checksum, a fragment.
    request = bytearray(echo_request_frame())
    request[-1] ^= 0xFF
    assert responder.answer(bytes(request)) is None
    request = bytearray(echo_request_frame())
    request[14 + 8] ^= 0x01  # TTL changed, header checksum now wrong
    assert responder.answer(bytes(request)) is None
    request = bytearray(echo_request_frame())
    request[14 + 6] |= 0x20  # more fragments
    struct.pack_into("!H", request, 14 + 10, 0)
    struct.pack_into("!H", request, 14 + 10, f.internet_checksum(bytes(request[14:34])))
    assert responder.answer(bytes(request)) is None
    # Garbage and non-IP frames.
    assert responder.answer(b"\x00" * 5) is None
    assert responder.answer(f.build_ethernet(ME_MAC, PEER_MAC, f.ETHERTYPE_IPV6, b"\x60")) is None
    assert responder.answer(f.build_ethernet(ME_MAC, PEER_MAC, f.ETHERTYPE_IPV4, b"\x45")) is None


@given(st.binary(max_size=120))
def test_responder_never_raises(frame: bytes) -> None:
    f.Responder(ME_MAC, ME_IP).answer(frame)
    f.describe_frame(frame)
    f.summarize_frame(frame)
    f.describe_ip(frame)


# --- trace fields and summaries ---------------------------------------------------------


def test_describe_ip_icmp_tcp_udp_ipv6() -> None:
    icmp = f.describe_ip(echo_request_frame()[14:])
    assert icmp == {
        "ip": 4,
        "src": "192.168.50.1",
        "dst": "192.168.50.10",
        "proto": "icmp",
        "ttl": 64,
        "icmp_type": 8,
        "icmp_code": 0,
        "icmp_id": 0x1234,
        "icmp_seq": 7,
    }
    tcp = dpkt.ip.IP(
        src=PEER_IP.packed, dst=ME_IP.packed, p=6, data=dpkt.tcp.TCP(sport=4000, dport=80)
    )
    assert f.describe_ip(bytes(tcp))["sport"] == 4000
    assert f.describe_ip(bytes(tcp))["proto"] == "tcp"
    udp = dpkt.ip.IP(
        src=PEER_IP.packed, dst=ME_IP.packed, p=17, data=dpkt.udp.UDP(sport=1, dport=53)
    )
    assert f.describe_ip(bytes(udp))["dport"] == 53
    v6 = dpkt.ip6.IP6(
        src=b"\xfd" + b"\x00" * 14 + b"\x01",
        dst=b"\xfd" + b"\x00" * 14 + b"\x02",
        nxt=58,
        hlim=64,
        data=b"",
    )
    assert f.describe_ip(bytes(v6)) == {
        "ip": 6,
        "src": "fd00::1",
        "dst": "fd00::2",
        "proto": "icmp6",
    }
    assert f.describe_ip(b"")["error"] == "empty packet"


def test_summaries_read_like_tcpdump() -> None:
    assert f.summarize_frame(arp_request_frame()) == (
        "02:00:00:00:50:01 > ff:ff:ff:ff:ff:ff, arp, length 60: "
        "ARP, Request who-has 192.168.50.10 tell 192.168.50.1"
    )
    reply = f.Responder(ME_MAC, ME_IP).answer(arp_request_frame())
    assert reply is not None
    assert f.summarize_frame(reply.frame).endswith(
        "ARP, Reply 192.168.50.10 is-at 02:00:00:00:50:10"
    )
    assert f.summarize_frame(echo_request_frame()).endswith(
        "IP 192.168.50.1 > 192.168.50.10: ICMP echo request, id 4660, seq 7"
    )


# --- tunnel wire format and endpoints ------------------------------------------------


def test_tunnel_header_round_trip_and_rejections() -> None:
    packet = echo_request_frame()[14:]
    assert wrap(packet) == b"TL\x01\x00" + packet == HEADER + packet
    assert unwrap(wrap(packet)) == packet
    assert wrap(packet, header=False) == packet and unwrap(packet, header=False) == packet
    with pytest.raises(f.FrameError, match="bad magic"):
        unwrap(b"XX\x01\x00" + packet)
    with pytest.raises(f.FrameError, match="unknown version 2"):
        unwrap(b"TL\x02\x00" + packet)
    with pytest.raises(f.FrameError, match="unknown flags"):
        unwrap(b"TL\x01\x80" + packet)
    with pytest.raises(f.FrameError, match="has no packet"):
        unwrap(b"TL\x01\x00")
    with pytest.raises(f.FrameError, match="empty"):
        unwrap(b"", header=False)


def test_parse_endpoint() -> None:
    assert parse_endpoint("10.9.0.1:5555") == ("10.9.0.1", 5555)
    assert parse_endpoint("[fd00::1]:443") == ("fd00::1", 443)
    for text in ("10.9.0.1:5555", "[fd00::1]:443"):
        assert format_endpoint(*parse_endpoint(text)) == text
    for bad, message in (
        ("10.9.0.1", "is not ADDRESS:PORT"),
        ("host.example:53", "is not an IP address"),
        ("10.9.0.1:0", "not in 1-65535"),
        ("10.9.0.1:http", "not in 1-65535"),
    ):
        with pytest.raises(AppError, match=message):
            parse_endpoint(bad, "--peer")


def test_counters_line() -> None:
    counters = Counters()
    counters.tun_to_udp = 2
    counters.drop("bad-header")
    assert counters.total() == 3
    assert counters.line() == "tun->udp 2, udp->tun 0, dropped: bad-header 1"


# --- device helpers and the engine's argv --------------------------------------------


def test_check_ifname_and_parse_devnum() -> None:
    assert check_ifname("tun0") == "tun0"
    for bad in ("", "a" * 16, "a/b", "a b", ".."):
        with pytest.raises(DeviceError):
            check_ifname(bad)
    assert parse_devnum("246:1\n") == (246, 1)
    with pytest.raises(DeviceError, match="major:minor"):
        parse_devnum("246")


def test_app_argv_puts_the_device_first() -> None:
    argv = app_argv("tunnel", "tun0", ["--local", "1.2.3.4:5", "--peer", "1.2.3.5:5"], python="py")
    assert argv == [
        "py",
        "-m",
        "worker.apps.tunnel",
        "--tun",
        "tun0",
        "--local",
        "1.2.3.4:5",
        "--peer",
        "1.2.3.5:5",
    ]
    assert app_argv("tap-endpoint", "tap0", python="py")[2:4] == [
        "worker.apps.tap_endpoint",
        "--tap",
    ]
    assert app_argv("macvtap-reader", "mv0", python="py")[3] == "--macvtap"
    assert app_argv("hold", "tun0", python="py")[3] == "--dev"
    with pytest.raises(AppError, match="unknown app 'vpn'"):
        app_argv("vpn", "tun0")


def test_line_writer_drops_instead_of_blocking_on_a_full_pipe() -> None:
    r, w = os.pipe()
    try:
        writer = LineWriter(w)
        line = "x" * 1000
        for _ in range(200):  # 200 KB into a 64 KB pipe nobody reads
            writer.write_line(line)
        assert writer.dropped > 0
        first = os.read(r, 1001)
        assert first == line.encode() + b"\n"  # whole lines only
    finally:
        os.close(r)
        os.close(w)
    writer.write_line("after close")  # EBADF: switched off, counted, no exception
    assert writer.closed
