"""Packet journey across a VXLAN overlay: every hop in order, the encapsulation included."""

from __future__ import annotations

import pytest

from tests.telemetry.conftest import Net, ip
from tests.telemetry.test_decode import eth, icmp_echo
from worker.telemetry.decode import decode
from worker.telemetry.journey import JourneyError, Sighting, match_hops, run_journey


def test_match_hops_reports_ttl_and_order() -> None:
    a = decode(eth(icmp_echo("10.0.0.1", "10.0.1.2", 9, 1, ttl=64)))
    b = decode(eth(icmp_echo("10.0.0.1", "10.0.1.2", 9, 1, ttl=63)))
    other = decode(eth(icmp_echo("10.0.0.1", "10.0.1.2", 8, 1)))
    hops = match_hops(
        [
            Sighting(2.0, "r", "eth1", "out", b),
            Sighting(1.0, "h1", "eth0", "out", a),
            Sighting(1.5, "x", "eth0", "in", other),
        ],
        9,
    )
    assert [(h["node"], h["direction"]) for h in hops] == [("h1", "out"), ("r", "out")]
    assert hops[1]["changes"] == ["ttl 64 -> 63"]
    assert hops[0]["t_us"] == 0 and hops[1]["t_us"] == 1_000_000


def test_journey_over_vxlan(net: Net) -> None:
    h1, s1, s2, h2 = (net.ns(x) for x in ("h1", "s1", "s2", "h2"))
    net.veth(h1, "eth0", s1, "eth0")
    net.veth(h2, "eth0", s2, "eth0")
    net.veth(s1, "ul0", s2, "ul0")
    net.addr(h1, "eth0", "10.50.0.1/24")
    net.addr(h2, "eth0", "10.50.0.2/24")
    net.addr(s1, "ul0", "192.168.50.1/24")
    net.addr(s2, "ul0", "192.168.50.2/24")
    for s, local, remote in (
        (s1, "192.168.50.1", "192.168.50.2"),
        (s2, "192.168.50.2", "192.168.50.1"),
    ):
        ip("-n", s, "link", "add", "br0", "type", "bridge")
        ip(
            "-n",
            s,
            "link",
            "add",
            "vxlan0",
            "type",
            "vxlan",
            "id",
            "100",
            "local",
            local,
            "remote",
            remote,
            "dstport",
            "4789",
            "dev",
            "ul0",
        )
        for dev in ("eth0", "vxlan0"):
            ip("-n", s, "link", "set", dev, "master", "br0")
        for dev in ("br0", "vxlan0"):
            ip("-n", s, "link", "set", dev, "up")
    nodes = {"h1": h1, "s1": s1, "s2": s2, "h2": h2}
    # warm ARP and the bridges' FDBs so the journey shows the steady path
    run_journey(nodes, "h1", "10.50.0.2", count=1)
    result = run_journey(nodes, "h1", "10.50.0.2", count=2)
    assert result["replies"] == 2, result
    req = [
        (h["node"], h["interface"], h["direction"])
        for h in result["hops"]
        if h["packet"] == "request" and h["seq"] == 1
    ]
    assert req == [
        ("h1", "eth0", "out"),
        ("s1", "eth0", "in"),
        ("s1", "vxlan0", "out"),
        ("s1", "ul0", "out"),
        ("s2", "ul0", "in"),
        ("s2", "vxlan0", "in"),
        ("s2", "eth0", "out"),
        ("h2", "eth0", "in"),
    ], result
    by_hop = {(h["node"], h["interface"], h["packet"], h["seq"]): h for h in result["hops"]}
    wrapped = by_hop[("s1", "ul0", "request", 1)]
    assert wrapped["vni"] == 100
    assert any(c.startswith("encapsulated: vxlan vni 100") for c in wrapped["changes"])
    unwrapped = by_hop[("s2", "vxlan0", "request", 1)]
    assert any(c.startswith("decapsulated: vxlan vni 100") for c in unwrapped["changes"])
    reply = [h for h in result["hops"] if h["packet"] == "reply" and h["seq"] == 1]
    assert reply[0]["node"] == "h2" and reply[-1]["node"] == "h1"
    ts = [h["ts"] for h in result["hops"]]
    assert ts == sorted(ts)


def routed(net: Net, left: int, right: int) -> tuple[str, str, str]:
    """Namespaces a - r - b: a on 10.<left>.0.0/24, b on 10.<right>.0.0/24, r routes."""
    a, r, b = net.ns("a"), net.ns("r"), net.ns("b")
    net.veth(a, "eth0", r, "eth0")
    net.veth(r, "eth1", b, "eth0")
    net.addr(a, "eth0", f"10.{left}.0.1/24")
    net.addr(r, "eth0", f"10.{left}.0.254/24")
    net.addr(r, "eth1", f"10.{right}.0.254/24")
    net.addr(b, "eth0", f"10.{right}.0.1/24")
    ip("-n", a, "route", "add", "default", "via", f"10.{left}.0.254")
    ip("-n", b, "route", "add", "default", "via", f"10.{right}.0.254")
    ip("netns", "exec", r, "sysctl", "-qw", "net.ipv4.ip_forward=1")
    return a, r, b


def test_journey_routed_ttl(net: Net) -> None:
    a, r, b = routed(net, 60, 61)
    result = run_journey({"a": a, "r": r, "b": b}, "a", "10.61.0.1", count=1)
    hop = next(
        h
        for h in result["hops"]
        if h["node"] == "r" and h["direction"] == "out" and h["packet"] == "request"
    )
    assert "ttl 64 -> 63" in hop["changes"]
    assert any(c.startswith("mac ") for c in hop["changes"])


def test_journey_bad_input(net: Net) -> None:
    a = net.ns("a")
    with pytest.raises(JourneyError) as err:
        run_journey({"a": a}, "zz", "10.0.0.1")
    assert err.value.field == "src"
    with pytest.raises(JourneyError) as err:
        run_journey({"a": a}, "a", "10.0.0")
    assert err.value.field == "dst"


def test_journey_through_tun_tunnel_program(net: Net) -> None:
    """The TUN VPN demo: tun0 -> user-space program -> UDP over the underlay -> tun0."""
    import subprocess
    import sys

    a, b = net.ns("ta"), net.ns("tb")
    net.veth(a, "ul0", b, "ul0")
    net.addr(a, "ul0", "198.18.0.1/24")
    net.addr(b, "ul0", "198.18.0.2/24")
    procs = []
    try:
        for ns, local, peer, addr, route in (
            (a, "198.18.0.1:5555", "198.18.0.2:5555", "172.16.1.1/24", "172.16.2.0/24"),
            (b, "198.18.0.2:5555", "198.18.0.1:5555", "172.16.2.1/24", "172.16.1.0/24"),
        ):
            procs.append(
                subprocess.Popen(
                    [
                        "ip",
                        "netns",
                        "exec",
                        ns,
                        sys.executable,
                        "-m",
                        "worker.apps.tunnel",
                        "--tun",
                        "tun0",
                        "--create",
                        "--unpersist",
                        "--local",
                        local,
                        "--peer",
                        peer,
                        "--address",
                        addr,
                        "--route",
                        route,
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        import time

        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            ready = all(
                subprocess.run(
                    ["ip", "-n", n, "route", "show", r], capture_output=True, text=True, check=False
                ).stdout.strip()
                for n, r in ((a, "172.16.2.0/24"), (b, "172.16.1.0/24"))
            )
            if ready:
                break
            time.sleep(0.1)
        result = run_journey({"a": a, "b": b}, "a", "172.16.2.1", count=1)
    finally:
        for p in procs:
            p.terminate()
            p.wait(timeout=10)
    assert result["replies"] == 1
    req = [h for h in result["hops"] if h["packet"] == "request"]
    assert [(h["node"], h["interface"], h["direction"]) for h in req] == [
        ("a", "tun0", "out"),
        ("a", "ul0", "out"),
        ("b", "ul0", "in"),
        ("b", "tun0", "in"),
    ]
    assert req[0]["src_mac"] is None  # a tun device carries bare IP
    assert any(c.startswith("encapsulated: udp tunnel 198.18.0.1") for c in req[1]["changes"])
    assert any(c.startswith("decapsulated: udp tunnel") for c in req[3]["changes"])


def test_pings_wait_until_the_kernel_stamps_packets() -> None:
    """The kernel stamps packets only once a socket asked, from a work queue a moment
    later: a ping sent at once was stamped when read, so the first ping's hops sorted
    node by node (issue 15, bug 3). The journey waits for ``_kernel_stamps``' proof."""
    import socket as s
    import struct
    import time

    from worker.telemetry.journey import SO_TIMESTAMPNS, _kernel_stamps, _packet_socket

    reader = _packet_socket()  # asks for timestamps, as each journey reader does
    sniff = s.socket(s.AF_PACKET, s.SOCK_RAW, s.htons(3))
    send = s.socket(s.AF_INET, s.SOCK_DGRAM)
    try:
        assert _kernel_stamps(2.0)
        sniff.bind(("lo", 0))
        sniff.setsockopt(s.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        send.sendto(b"after the proof", ("127.0.0.1", 9))
        sent = time.time()
        time.sleep(0.05)
        _data, anc, _flags, _addr = sniff.recvmsg(2048, s.CMSG_SPACE(16))
        sec, nsec = struct.unpack_from("=qq", anc[0][2])
        # Stamped as it passed (before ``sent``), not 50 ms later when read.
        assert sec + nsec / 1e9 < sent + 0.005
    finally:
        for sock in (reader, sniff, send):
            sock.close()


def test_journey_hops_follow_the_path_after_a_quiet_spell(net: Net) -> None:
    """Each journey after a pause (timestamps off meanwhile): every ping in path order."""
    import time

    a, r, b = routed(net, 62, 63)
    path = [("a", "eth0", "out"), ("r", "eth0", "in"), ("r", "eth1", "out"), ("b", "eth0", "in")]
    for _ in range(3):
        time.sleep(1.0)
        result = run_journey({"a": a, "r": r, "b": b}, "a", "10.63.0.1", count=2)
        for seq in (1, 2):
            seen = [
                (h["node"], h["interface"], h["direction"])
                for h in result["hops"]
                if h["packet"] == "request" and h["seq"] == seq
            ]
            assert seen == path, (seq, seen)
