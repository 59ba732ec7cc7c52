"""The TUN/UDP tunnel between two real namespaces: ping, TCP, and the wire format.

Underlay: a veth between ``a`` (10.9.0.1/24) and ``b`` (10.9.0.2/24).
Overlay: ``a``'s tun0 (172.16.1.1/24, created by the program with --create) and
``b``'s tun0 (172.16.2.1/24, a persistent tun made beforehand, as the engine does).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import dpkt
import pytest

from tests.apps.harness import Lab, run, started

pytestmark = pytest.mark.kernel

SERVER = """
import hashlib, socket, sys
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind((sys.argv[1], int(sys.argv[2])))
srv.listen(1)
print("listening", flush=True)
srv.settimeout(20)
conn, _ = srv.accept()
conn.settimeout(20)
digest, total = hashlib.sha256(), 0
while chunk := conn.recv(65536):
    digest.update(chunk)
    total += len(chunk)
print(total, digest.hexdigest(), flush=True)
"""

CLIENT = """
import socket, sys
data = sys.stdin.buffer.read()
with socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=20) as sock:
    sock.sendall(data)
"""

# From b's underlay address but not from the peer's port 5555.
STRAY = (
    "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
    "s.sendto(b'TL\\x01\\x00x', ('10.9.0.1', 5555))"
)


def _underlay(lab: Lab) -> tuple[str, str]:
    a, b = lab.netns("a"), lab.netns("b")
    lab.ip(a, "link", "add", "under0", "type", "veth", "peer", "name", "under0", "netns", b)
    lab.ip(a, "address", "add", "10.9.0.1/24", "dev", "under0")
    lab.ip(b, "address", "add", "10.9.0.2/24", "dev", "under0")
    lab.ip(a, "link", "set", "under0", "up")
    lab.ip(b, "link", "set", "under0", "up")
    # b's tun0 exists before its program, persistent, as the engine makes it.
    lab.ip(b, "tuntap", "add", "dev", "tun0", "mode", "tun")
    lab.ip(b, "link", "set", "tun0", "mtu", "1400")
    lab.ip(b, "address", "add", "172.16.2.1/24", "dev", "tun0")
    lab.ip(b, "link", "set", "tun0", "up")
    lab.ip(b, "route", "add", "172.16.1.0/24", "dev", "tun0")
    return a, b


def test_tunnel_carries_ping_and_tcp(lab: Lab, tmp_path: Path) -> None:
    a, b = _underlay(lab)
    pcap = tmp_path / "underlay.pcap"
    dump = lab.start(
        lab.exec_argv(
            a,
            [
                "tcpdump",
                "-n",
                "-U",
                "--immediate-mode",
                "-i",
                "under0",
                "-w",
                str(pcap),
                "udp",
                "port",
                "5555",
            ],
        ),
        "tcpdump",
    )
    dump.wait_for(lambda p: "listening on" in p.stderr(), "tcpdump listening")

    tun_a = lab.app(
        a,
        "tunnel",
        [
            "--tun",
            "tun0",
            "--local",
            "10.9.0.1:5555",
            "--peer",
            "10.9.0.2:5555",
            "--create",
            "--address",
            "172.16.1.1/24",
            "--route",
            "172.16.2.0/24",
            "--mtu",
            "1400",
            "--trace",
        ],
        "tunnel-a",
    )
    tun_b = lab.app(
        b,
        "tunnel",
        [
            "--tun",
            "tun0",
            "--local",
            "10.9.0.2:5555",
            "--peer",
            "10.9.0.1:5555",
            "--user",
            "nobody",
            "--trace",
            "--verbose",
            "--log-every",
            "50",
        ],
        "tunnel-b",
    )
    tun_a.wait_for(started, "tunnel a start")
    tun_b.wait_for(started, "tunnel b start")

    # b dropped to nobody after opening the device and binding the socket.
    status = Path(f"/proc/{tun_b.pid}/status").read_text()
    uid_line = next(line for line in status.splitlines() if line.startswith("Uid:"))
    assert uid_line.split()[1:] == ["65534"] * 4

    ping = run(
        lab.exec_argv(a, ["ping", "-c", "3", "-i", "0.2", "-W", "2", "172.16.2.1"]), check=False
    )
    assert ping.returncode == 0, ping.stdout + ping.stderr
    assert "3 received" in ping.stdout

    # TCP through the tunnel: 200 KB of random bytes, checked end to end by sha256.
    payload = os.urandom(200_000)
    server = lab.start(
        lab.exec_argv(b, [sys.executable, "-c", SERVER, "172.16.2.1", "7000"]), "tcp-server"
    )
    server.wait_for(lambda p: "listening" in p.stdout(), "tcp server listening")
    client = subprocess.run(
        lab.exec_argv(a, [sys.executable, "-c", CLIENT, "172.16.2.1", "7000"]),
        input=payload,
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert client.returncode == 0, client.stderr
    assert server.proc.wait(timeout=20) == 0, server.stderr()
    total, digest = server.stdout().split()[-2:]
    assert int(total) == len(payload)
    assert digest == hashlib.sha256(payload).hexdigest()

    # A datagram from anyone but the peer is dropped and traced, never written into tun0.
    run(lab.exec_argv(b, [sys.executable, "-c", STRAY]))
    tun_a.wait_for(
        lambda p: any(e["event"] == "drop" and e["reason"] == "not-from-peer" for e in p.events()),
        "the stray datagram dropped",
    )

    # Clean exit on SIGTERM, counters reported.
    assert tun_a.stop() == 0
    assert tun_b.stop() == 0
    assert "stopped by signal 15" in tun_a.stderr()
    assert "not-from-peer 1" in tun_a.stderr()
    assert "tun->udp" in tun_b.stderr()  # --verbose counter lines
    dump.stop()

    # a's tun0 was created by the program and went with it; b's persistent one stays.
    assert "tun0" not in lab.ip(a, "-o", "link", "show")
    assert "tun0" in lab.ip(b, "-o", "link", "show")

    # Trace lines: a saw its echo requests leave as UDP and the replies come back.
    events = [e for e in tun_a.events() if e["event"] == "packet"]
    out = [e for e in events if e["dir"] == "tun->udp" and e.get("icmp_type") == 8]
    back = [e for e in events if e["dir"] == "udp->tun" and e.get("icmp_type") == 0]
    assert [e["icmp_seq"] for e in out[:3]] == [1, 2, 3]
    assert {e["src"] for e in out} == {"172.16.1.1"} and {e["dst"] for e in out} == {"172.16.2.1"}
    assert len(back) >= 3 and back[0]["icmp_id"] == out[0]["icmp_id"]
    assert out[0]["len"] == 84 and out[0]["udp_len"] == 88 and out[0]["peer"] == "10.9.0.2:5555"
    assert any(e.get("proto") == "tcp" and e.get("dport") == 7000 for e in events)

    # The underlay capture: UDP 10.9.0.1 -> 10.9.0.2:5555, TL header, inner ICMP echo.
    inner_icmp = []
    with pcap.open("rb") as fh:
        for _ts, buf in dpkt.pcap.Reader(fh):
            ip = dpkt.ethernet.Ethernet(buf).data
            if not isinstance(ip, dpkt.ip.IP) or not isinstance(ip.data, dpkt.udp.UDP):
                continue
            udp = ip.data
            if udp.sport != 5555:
                continue  # the stray datagram
            assert udp.dport == 5555
            assert bytes(udp.data[:4]) == b"TL\x01\x00"
            if udp.data[4] >> 4 != 4:
                continue  # the tuns' own IPv6 router solicitations travel too
            inner = dpkt.ip.IP(bytes(udp.data[4:]))
            if inner.p == dpkt.ip.IP_PROTO_ICMP and isinstance(inner.data, dpkt.icmp.ICMP):
                inner_icmp.append((ip.src, ip.dst, inner.src, inner.dst, inner.data.type))
    request = (
        bytes([10, 9, 0, 1]),
        bytes([10, 9, 0, 2]),
        bytes([172, 16, 1, 1]),
        bytes([172, 16, 2, 1]),
        8,
    )
    reply = (
        bytes([10, 9, 0, 2]),
        bytes([10, 9, 0, 1]),
        bytes([172, 16, 2, 1]),
        bytes([172, 16, 1, 1]),
        0,
    )
    assert inner_icmp.count(request) == 3
    assert inner_icmp.count(reply) == 3


def test_tunnel_refuses_a_missing_device_and_bad_peer(lab: Lab) -> None:
    a = lab.netns("a")
    missing = run(
        lab.exec_argv(
            a,
            [
                sys.executable,
                "-m",
                "worker.apps.tunnel",
                "--tun",
                "tun9",
                "--local",
                "10.9.0.1:5555",
                "--peer",
                "10.9.0.2:5555",
            ],
        ),
        check=False,
    )
    assert missing.returncode == 1
    assert "tun device tun9 does not exist in this network namespace" in missing.stderr
    assert "tun9" not in lab.ip(a, "-o", "link", "show")  # nothing half-built

    bad = run(
        lab.exec_argv(
            a,
            [
                sys.executable,
                "-m",
                "worker.apps.tunnel",
                "--tun",
                "tun9",
                "--create",
                "--local",
                "10.9.0.1:5555",
                "--peer",
                "10.9.0.2:99999",
            ],
        ),
        check=False,
    )
    assert bad.returncode == 1 and "--peer: port '99999' is not in 1-65535" in bad.stderr
    assert "tun9" not in lab.ip(a, "-o", "link", "show")


def test_tunnel_over_an_ipv6_underlay_without_header(lab: Lab) -> None:
    a, b = lab.netns("a"), lab.netns("b")
    lab.ip(a, "link", "add", "under0", "type", "veth", "peer", "name", "under0", "netns", b)
    for ns, address in ((a, "fd00:9::1/64"), (b, "fd00:9::2/64")):
        lab.ip(ns, "address", "add", address, "dev", "under0", "nodad")
        lab.ip(ns, "link", "set", "under0", "up")
    sides = []
    for ns, me, peer, overlay, route in (
        (a, "[fd00:9::1]:6000", "[fd00:9::2]:6000", "172.16.1.1/24", "172.16.2.0/24"),
        (b, "[fd00:9::2]:6000", "[fd00:9::1]:6000", "172.16.2.1/24", "172.16.1.0/24"),
    ):
        args = [
            "--tun",
            "tun0",
            "--local",
            me,
            "--peer",
            peer,
            "--no-header",
            "--create",
            "--address",
            overlay,
            "--route",
            route,
            "--trace",
        ]
        sides.append(lab.app(ns, "tunnel", args, f"tunnel6-{ns[-1]}"))
    for side in sides:
        side.wait_for(started, "tunnel start")
    ping = run(lab.exec_argv(a, ["ping", "-c", "1", "-W", "2", "172.16.2.1"]), check=False)
    assert ping.returncode == 0, ping.stdout + ping.stderr
    start = next(e for e in sides[0].events() if e["event"] == "start")
    assert start["header"] is False
    out = [e for e in sides[0].events() if e.get("dir") == "tun->udp" and e.get("icmp_type") == 8]
    assert out and out[0]["udp_len"] == out[0]["len"] == 84  # bare packets, no header
    assert out[0]["peer"] == "[fd00:9::2]:6000"
