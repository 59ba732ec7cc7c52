"""The tap endpoint on a bridge, the way a VM's NIC is wired, pinged from a host.

``hv`` holds bridge br0 with a persistent tap0 and eth1; eth1 is a veth to ``client``
(192.168.50.1/24). The endpoint answers for 192.168.50.10 at 02:00:00:00:50:10.
"""

from __future__ import annotations

import sys

import pytest

from tests.apps.harness import Lab, run, started

pytestmark = pytest.mark.kernel

MAC = "02:00:00:00:50:10"


def test_tap_endpoint_answers_arp_and_ping_across_a_bridge(lab: Lab) -> None:
    hv, client = lab.netns("hv"), lab.netns("client")
    lab.ip(hv, "link", "add", "br0", "type", "bridge")
    lab.ip(hv, "tuntap", "add", "dev", "tap0", "mode", "tap")
    lab.ip(hv, "link", "add", "eth1", "type", "veth", "peer", "name", "eth0", "netns", client)
    for port in ("tap0", "eth1"):
        lab.ip(hv, "link", "set", port, "master", "br0")
        lab.ip(hv, "link", "set", port, "up")
    lab.ip(hv, "link", "set", "br0", "up")
    lab.ip(client, "address", "add", "192.168.50.1/24", "dev", "eth0")
    lab.ip(client, "link", "set", "eth0", "up")

    endpoint = lab.app(
        hv,
        "tap_endpoint",
        ["--tap", "tap0", "--ip", "192.168.50.10/24", "--mac", MAC, "--trace", "--user", "nobody"],
        "tap-endpoint",
    )
    endpoint.wait_for(started, "tap endpoint start")

    ping = run(
        lab.exec_argv(client, ["ping", "-c", "2", "-i", "0.2", "-W", "2", "192.168.50.10"]),
        check=False,
    )
    assert ping.returncode == 0, ping.stdout + ping.stderr
    assert "2 received" in ping.stdout

    # The client learnt the endpoint's MAC from the ARP reply the program built.
    neigh = lab.ip(client, "neigh", "show", "192.168.50.10", "dev", "eth0")
    assert f"lladdr {MAC}" in neigh

    assert endpoint.stop() == 0
    assert "stopped by signal 15" in endpoint.stderr()
    events = [e for e in endpoint.events() if e["event"] == "packet"]
    arp_in = [
        e
        for e in events
        if e["dir"] == "in"
        and e.get("arp_op") == "request"
        and e["arp_target_ip"] == "192.168.50.10"
    ]
    arp_out = [e for e in events if e.get("action") == "arp-reply"]
    echo_in = [e for e in events if e["dir"] == "in" and e.get("icmp_type") == 8]
    echo_out = [e for e in events if e.get("action") == "icmp-echo-reply"]
    assert arp_in and arp_in[0]["arp_sender_ip"] == "192.168.50.1"
    assert arp_out and arp_out[0]["arp_sender_mac"] == MAC and arp_out[0]["eth_src"] == MAC
    assert [e["icmp_seq"] for e in echo_in] == [1, 2]
    assert [e["icmp_seq"] for e in echo_out] == [1, 2]
    assert echo_out[0]["src"] == "192.168.50.10" and echo_out[0]["dst"] == "192.168.50.1"
    assert echo_out[0]["icmp_id"] == echo_in[0]["icmp_id"]
    # The persistent tap outlives the endpoint (the engine owns its lifetime).
    assert "tap0" in lab.ip(hv, "-o", "link", "show")


def test_tap_endpoint_rejects_bad_arguments(lab: Lab) -> None:
    hv = lab.netns("hv")
    base = [sys.executable, "-m", "worker.apps.tap_endpoint", "--tap", "tap0"]
    cases = [
        (["--ip", "192.168.50.300/24"], "--ip: '192.168.50.300/24' is not an IPv4 address"),
        (
            ["--ip", "192.168.50.10/24", "--mac", "01:00:5e:00:00:01"],
            "--mac: 01:00:5e:00:00:01 is a multicast",
        ),
        (["--ip", "192.168.50.10/24"], "tap device tap0 does not exist"),
        (["--ip", "192.168.50.10/24", "--tap", "tap1"], "--tap given twice"),
    ]
    for extra, message in cases:
        proc = run(lab.exec_argv(hv, [*base, *extra]), check=False)
        assert proc.returncode != 0, extra
        assert message in proc.stderr, (extra, proc.stderr)


def test_tap_endpoint_creates_its_tap_and_prints_frames(lab: Lab) -> None:
    # The kernel side of the tap is the "host" here: 10.5.0.1 on tapx itself.
    ns = lab.netns("solo")
    endpoint = lab.app(
        ns,
        "tap_endpoint",
        ["--tap", "tapx", "--create", "--ip", "10.5.0.10/24", "--print"],
        "tap-endpoint-print",
    )
    endpoint.wait_for(lambda p: "answering for 10.5.0.10" in p.stderr(), "tap endpoint ready")
    lab.ip(ns, "address", "add", "10.5.0.1/24", "dev", "tapx")
    ping = run(lab.exec_argv(ns, ["ping", "-c", "1", "-W", "2", "10.5.0.10"]), check=False)
    assert ping.returncode == 0, ping.stdout + ping.stderr
    # The default MAC is derived from the IP: 02:54:0a:05:00:0a.
    assert "lladdr 02:54:0a:05:00:0a" in lab.ip(ns, "neigh", "show", "10.5.0.10")
    endpoint.wait_for(lambda p: "ICMP echo reply" in p.stdout(), "the reply printed")
    lines = endpoint.stdout().splitlines()
    assert any(" In  " in x and "ARP, Request who-has 10.5.0.10 tell 10.5.0.1" in x for x in lines)
    assert any(" Out " in x and "ARP, Reply 10.5.0.10 is-at 02:54:0a:05:00:0a" in x for x in lines)
    assert any(" Out " in x and "IP 10.5.0.10 > 10.5.0.1: ICMP echo reply" in x for x in lines)
    assert endpoint.stop() == 0
    assert "tapx" not in lab.ip(ns, "-o", "link", "show")  # created by it, gone with it
