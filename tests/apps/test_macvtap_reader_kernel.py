"""The macvtap reader on a macvtap whose parent is a veth inside a test namespace.

``lan`` holds eth0 (a veth to ``ext``, 10.20.0.1/24) and mvtap0, a bridge-mode
macvtap on eth0. The reader is started with ``nsenter --net`` only, so ``/sys`` is
still the host's: it must find the character device through its own sysfs mount.
"""

from __future__ import annotations

import secrets
import sys

import pytest

from tests.apps.harness import Lab, run, started

pytestmark = pytest.mark.kernel


def _lan(lab: Lab, index: int = 0) -> tuple[str, str, str]:
    lan, ext = lab.netns("lan"), lab.netns("ext")
    for ns in (lan, ext):
        # No IPv6 chatter (router solicitations, DAD): the frames seen are the test's.
        run(
            lab.exec_argv(
                ns,
                [
                    "sysctl",
                    "-qw",
                    "net.ipv6.conf.all.disable_ipv6=1",
                    "net.ipv6.conf.default.disable_ipv6=1",
                ],
            )
        )
    lab.ip(lan, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", ext)
    at = ["index", str(index)] if index else []
    lab.ip(
        lan,
        "link",
        "add",
        "link",
        "eth0",
        "name",
        "mvtap0",
        *at,
        "type",
        "macvtap",
        "mode",
        "bridge",
    )
    for ns, dev in ((lan, "eth0"), (lan, "mvtap0"), (ext, "eth0")):
        lab.ip(ns, "link", "set", dev, "up")
    lab.ip(ext, "address", "add", "10.20.0.1/24", "dev", "eth0")
    mac = lab.ip(lan, "-o", "link", "show", "mvtap0").split("link/ether ")[1].split()[0]
    return lan, ext, mac


def _reader_argv(lan: str, args: list[str]) -> list[str]:
    # nsenter joins the network namespace only: /sys stays the host's.
    return [
        "nsenter",
        f"--net=/run/netns/{lan}",
        sys.executable,
        "-m",
        "worker.apps.macvtap_reader",
        "--macvtap",
        "mvtap0",
        *args,
    ]


def test_macvtap_reader_answers_arp_and_ping(lab: Lab) -> None:
    lan, ext, mac = _lan(lab)
    reader = lab.start(
        _reader_argv(lan, ["--answer", "--ip", "10.20.0.10/24", "--json", "--user", "nobody"]),
        "reader",
    )
    reader.wait_for(started, "macvtap reader start")

    ping = run(
        lab.exec_argv(ext, ["ping", "-c", "2", "-i", "0.2", "-W", "2", "10.20.0.10"]), check=False
    )
    assert ping.returncode == 0, ping.stdout + ping.stderr
    assert f"lladdr {mac}" in lab.ip(ext, "neigh", "show", "10.20.0.10", "dev", "eth0")

    assert reader.stop() == 0
    start = next(e for e in reader.events() if e["event"] == "start")
    assert start["device"] not in ("", None)
    events = [e for e in reader.events() if e["event"] == "packet"]
    assert any(
        e["dir"] == "in" and e.get("arp_op") == "request" and e["arp_target_ip"] == "10.20.0.10"
        for e in events
    )
    assert [e["icmp_seq"] for e in events if e["dir"] == "in" and e.get("icmp_type") == 8] == [1, 2]
    replies = [e for e in events if e.get("action") == "icmp-echo-reply"]
    assert [e["icmp_seq"] for e in replies] == [1, 2]
    assert replies[0]["eth_src"] == mac and replies[0]["dst"] == "10.20.0.1"


def test_macvtap_reader_prints_frames_sent_into_the_parent(lab: Lab) -> None:
    # A decoy macvtap with the same ifindex in another namespace registers first, so
    # the host's /dev/tap<index> is the decoy's: the reader must make its own node.
    index = 40 + secrets.randbelow(200)
    decoy = lab.netns("decoy")
    lab.ip(decoy, "link", "add", "p0", "type", "veth", "peer", "name", "p1")
    lab.ip(
        decoy, "link", "add", "link", "p0", "name", "mvtap0", "index", str(index), "type", "macvtap"
    )
    lan, ext, _mac = _lan(lab, index)
    reader = lab.start(_reader_argv(lan, ["--count", "1"]), "reader-text")
    reader.wait_for(lambda p: "reading" in p.stderr(), "macvtap reader ready")
    # Nobody answers 10.20.0.99: ext broadcasts an ARP request into eth0, which the
    # macvlan layer hands to the macvtap too.
    run(lab.exec_argv(ext, ["ping", "-c", "1", "-W", "1", "10.20.0.99"]), check=False)
    assert reader.proc.wait(timeout=10) == 0, reader.stderr()
    line = reader.stdout().strip()
    assert "ff:ff:ff:ff:ff:ff, arp, length" in line
    assert "ARP, Request who-has 10.20.0.99 tell 10.20.0.1" in line
    assert "stopped after 1 frames" in reader.stderr()
    assert f"reading /dev/tap{index}" not in reader.stderr()
    assert "/tl-macvtap-" in reader.stderr()


def test_macvtap_reader_refuses_a_non_macvtap(lab: Lab) -> None:
    lan, _ext, _mac = _lan(lab)
    proc = run(
        [
            "nsenter",
            f"--net=/run/netns/{lan}",
            sys.executable,
            "-m",
            "worker.apps.macvtap_reader",
            "--macvtap",
            "eth0",
        ],
        check=False,
    )
    assert proc.returncode == 1
    assert "eth0 is not a macvtap" in proc.stderr
