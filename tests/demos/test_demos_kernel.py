"""Every demo of the library, built for real: deploy, programs, probes, views, journey.

One parametrized case per demo deploys it with the engine (which starts the lab's
programs), runs it with ``worker.demos.run_demo`` and checks every probe's outcome
and the hops the demo's journey must show, plus what is special to each demo.
"""

from __future__ import annotations

import copy
import signal
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dpkt
import pytest

from lab.demos import DEMOS, Demo, get_demo
from lab.demos.catalog_kinds import KIND_DEMOS
from lab.demos.catalog_routing import ROUTING_DEMOS
from lab.topology import naming
from lab.topology.load import load_topology
from worker import demos, engine, programs
from worker.kernel import userns

pytestmark = pytest.mark.kernel


def _hops(run: dict[str, Any], **match: Any) -> list[dict[str, Any]]:
    return [
        hop
        for hop in run["journey"]["hops"]
        if all(hop.get(field) == value for field, value in match.items())
    ]


def _program_uid(pid: int) -> int:
    """The host uid of the program a sandbox helper (``pid``) holds: its only child."""
    (child,) = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return _uid(int(child))


def _lab_uid(key: str) -> int:
    identity = userns.find_identity(key)
    assert identity is not None, f"lab {key} has no uid range"
    return identity.uid


def _uid(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("Uid:"):
                return int(line.split()[1])  # the real uid
    raise AssertionError(f"no Uid line for {pid}")


def _check_veth(run: dict[str, Any]) -> None:
    out = _hops(run, node="left", interface="eth0", direction="out", packet="request", seq=1)
    arrived = _hops(run, node="right", interface="eth0", direction="in", packet="request", seq=1)
    assert out and arrived
    assert out[0]["t_us"] <= arrived[0]["t_us"]  # order, not speed


def _check_bridge(run: dict[str, Any]) -> None:
    learned = {(e["port"], e["owner"]) for e in run["fdb"]}
    assert ("veth1", "c1:eth0") in learned
    assert ("veth2", "c2:eth0") in learned
    assert ("veth3", "c3:eth0") in learned
    assert all(e["node"] == "bridge" and e["bridge"] == "br0" for e in run["fdb"])
    assert _hops(run, node="bridge", interface="veth2", direction="out", packet="request")


def _check_routing(run: dict[str, Any]) -> None:
    sent = _hops(run, node="h1", interface="eth0", direction="out", packet="request", seq=1)[0]
    routed = _hops(run, node="r1", interface="eth1", direction="out", packet="request", seq=1)[0]
    assert routed["ttl"] == sent["ttl"] - 1
    assert f"ttl {sent['ttl']} -> {routed['ttl']}" in routed["changes"]
    assert any(change.startswith("mac ") for change in routed["changes"])
    assert (routed["src"], routed["dst"]) == ("10.1.0.2", "10.2.0.2")  # IP addresses stay


def _check_vxlan(run: dict[str, Any]) -> None:
    wrapped = _hops(run, node="hostA", interface="eth0", direction="out", packet="request", seq=1)
    assert wrapped, "no request on the underlay"
    hop = wrapped[0]
    assert hop["vni"] == 100
    assert hop["encapsulation"] == ["vxlan vni 100 192.168.100.1 > 192.168.100.2"]
    assert (hop["src"], hop["dst"]) == ("10.10.0.1", "10.10.0.2")  # the inner ICMP
    assert _hops(run, node="g2", interface="eth0", direction="in", packet="request", seq=1)


def _check_tun(run: dict[str, Any]) -> None:
    under = _hops(run, node="siteA", interface="eth0", direction="out", packet="request", seq=1)
    assert under, "no tunnelled request on the underlay"
    assert under[0]["encapsulation"] == ["udp tunnel 198.18.0.1:5555 > 198.18.0.2:5555"]
    assert (under[0]["src"], under[0]["dst"]) == ("10.8.0.1", "10.8.0.2")
    read = _hops(run, kind="program", node="siteA", direction="tun->udp", packet="request", seq=1)
    written = _hops(run, kind="program", node="siteB", direction="udp->tun", packet="request")
    assert read and read[0]["app"] == "tunnel"
    assert written
    # In order: into tun0, the program reads it, UDP on the underlay, the peer writes it.
    order = [h["t_us"] for h in (read[0], under[0], written[0])]
    assert order == sorted(order)


def _check_tap(run: dict[str, Any]) -> None:
    replies = _hops(run, kind="program", node="hv", interface="tap0", packet="reply")
    assert replies and replies[0]["action"] == "icmp-echo-reply"
    assert replies[0]["src"] == "192.168.50.10"


def _check_macvlan(run: dict[str, Any]) -> None:
    cells = {
        (c["src"], c["dst"]): c["reached"] for g in run["matrix"]["groups"] for c in g["cells"]
    }
    assert cells[("brid1", "brid2")] and cells[("brid2", "brid1")]
    assert not cells[("priv1", "priv2")] and not cells[("priv2", "priv1")]
    assert not cells[("vepa1", "vepa2")] and not cells[("vepa2", "vepa1")]
    for child in ("brid1", "brid2", "priv1", "priv2", "vepa1", "vepa2", "pass1"):
        assert cells[(child, "ext")], f"{child} must reach the wire"
    assert set(run["matrix"]["modes"]) == {"bridge", "private", "vepa", "passthru"}


def _check_macvtap(run: dict[str, Any]) -> None:
    replies = _hops(run, kind="program", node="lan", interface="mvtap0", packet="reply")
    assert replies and replies[0]["app"] == "macvtap-reader"
    assert replies[0]["action"] == "icmp-echo-reply"


# The device kinds' demos run in the guest: tests/demos/test_demos_kinds_guest.py; the
# routing demos, which converge before they run, in tests/kernel/test_routing_demos.py.
HOST_DEMOS = tuple(d for d in DEMOS if d not in KIND_DEMOS and d not in ROUTING_DEMOS)

CHECKS: dict[str, Callable[[dict[str, Any]], None]] = {
    "veth-pair": _check_veth,
    "container-bridge": _check_bridge,
    "routing": _check_routing,
    "vxlan-overlay": _check_vxlan,
    "tun-vpn": _check_tun,
    "tap-on-bridge": _check_tap,
    "macvlan-modes": _check_macvlan,
    "macvtap": _check_macvtap,
}


def test_every_demo_has_a_check() -> None:
    assert set(CHECKS) == {d.slug for d in HOST_DEMOS}


@pytest.mark.parametrize("demo", HOST_DEMOS, ids=lambda d: d.slug)
def test_demo_runs_as_explained(demo: Demo, lab_key: Callable[[], str]) -> None:
    key = lab_key()
    topology = load_topology(demo.topology)
    engine.deploy(topology, key)

    running = programs.running_programs(key)
    assert {(p.node, p.interface) for p in running} == {
        (s.node, s.interface) for s in programs.program_specs(topology)
    }
    for program in running:
        # root of the lab's user namespace: the lab's own host uid, never 0
        assert _program_uid(program.pid) == _lab_uid(key), f"{program.app} runs as the lab"

    run = demos.run_demo(key, demo).to_json()

    for probe in run["probes"]:
        assert probe["error"] == "", probe
        assert probe["reached"] == (probe["expected"] == "reach"), probe
        assert probe["passed"], probe
    assert run["journey"] is not None
    assert run["journey"]["missing"] == [], run["journey"]["hops"]
    assert run["journey"]["replies"] >= 1
    assert run["errors"] == []
    assert run["passed"]
    CHECKS[demo.slug](run)


def test_programs_are_idempotent_restarted_on_change_and_stopped(
    lab_key: Callable[[], str],
) -> None:
    demo = get_demo("tun-vpn")
    assert demo is not None
    key = lab_key()
    topology = load_topology(demo.topology)
    engine.deploy(topology, key)
    first = {p.node: p.pid for p in programs.running_programs(key)}
    assert set(first) == {"siteA", "siteB"}

    # Again, and a re-deploy of the same topology: nothing is started twice.
    again = {p.node: p.pid for p in programs.start_programs(key, topology)}
    engine.deploy(topology, key)
    assert again == first == {p.node: p.pid for p in programs.running_programs(key)}

    # siteB's program gets other arguments; siteA's stays.
    doc = copy.deepcopy(demo.topology)
    for link in doc["links"]:
        if link["kind"] == "tun" and link["endpoint"] == "siteB:tun0":
            link["program"]["args"] = [*link["program"]["args"], "--verbose"]
    changed = {p.node: p.pid for p in programs.start_programs(key, load_topology(doc))}
    assert changed["siteA"] == first["siteA"]
    assert changed["siteB"] != first["siteB"]
    assert not _alive(first["siteB"])

    ended = programs.stop_programs(key)
    assert sorted(ended) == sorted(changed.values())
    assert not any(_alive(pid) for pid in ended)
    assert programs.running_programs(key) == []
    assert programs.stop_programs(key) == []  # twice is fine


def test_a_program_that_cannot_start_is_reported(lab_key: Callable[[], str]) -> None:
    key = lab_key()
    doc = {
        "name": "bad-tunnel",
        "nodes": [{"name": "a", "interfaces": [{"name": "tun0", "addresses": ["10.8.0.1/24"]}]}],
        "links": [
            {
                "kind": "tun",
                "endpoint": "a:tun0",
                # 192.0.2.1 is on no interface of the node: binding the UDP socket fails.
                "program": {
                    "app": "tunnel",
                    "args": ["--local", "192.0.2.1:5555", "--peer", "192.0.2.2:5555"],
                },
            }
        ],
    }
    with pytest.raises(programs.ProgramError) as failure:
        engine.deploy(load_topology(doc), key)
    assert failure.value.code == "program.failed"
    assert (failure.value.node, failure.value.interface) == ("a", "tun0")
    assert "tunnel exited" in failure.value.message
    assert programs.running_programs(key) == []


def test_destroy_ends_the_programs(lab_key: Callable[[], str]) -> None:
    demo = get_demo("tap-on-bridge")
    assert demo is not None
    key = lab_key()
    engine.deploy(load_topology(demo.topology), key)
    pids = [p.pid for p in programs.running_programs(key)]
    assert len(pids) == 1 and _alive(pids[0])
    engine.destroy(key)
    assert not _alive(pids[0])
    assert not programs.programs_dir(key).exists()


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_tun_demo_carries_the_inner_packet_in_udp_on_the_underlay(
    lab_key: Callable[[], str], tmp_path: Path
) -> None:
    """Independent of the journey: a capture on siteA's underlay, parsed with dpkt."""
    demo = get_demo("tun-vpn")
    assert demo is not None
    key = lab_key()
    engine.deploy(load_topology(demo.topology), key)
    pcap = tmp_path / "underlay.pcap"
    netns = f"--net=/run/netns/{naming.namespace_name(key, 'siteA')}"
    tcpdump = subprocess.Popen(
        ["nsenter", netns, "--", "tcpdump", "-Z", "root", "-U", "--immediate-mode", "-n",
         "-i", "eth0", "-w", str(pcap), "udp", "port", "5555"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert tcpdump.stderr is not None
        assert "listening on" in tcpdump.stderr.readline()
        assert demos.ping(key, "siteA", "10.8.0.2").reached
    finally:
        tcpdump.send_signal(signal.SIGTERM)
        tcpdump.wait(timeout=10)
    inner = []
    with pcap.open("rb") as handle:
        for _ts, frame in dpkt.pcap.Reader(handle):
            ip = dpkt.ethernet.Ethernet(frame).data
            assert isinstance(ip, dpkt.ip.IP) and isinstance(ip.data, dpkt.udp.UDP)
            payload = bytes(ip.data.data)
            assert payload[:4] == b"TL\x01\x00"  # the tunnel's header, then the packet
            packet = dpkt.ip.IP(payload[4:])
            inner.append(
                (
                    socket.inet_ntoa(ip.src),
                    socket.inet_ntoa(ip.dst),
                    socket.inet_ntoa(packet.src),
                    socket.inet_ntoa(packet.dst),
                    packet.p,
                    getattr(packet.data, "type", None),
                )
            )
    outer_in_inner = ("198.18.0.1", "198.18.0.2", "10.8.0.1", "10.8.0.2", 1, 8)
    assert outer_in_inner in inner  # an echo request inside UDP siteA -> siteB
    assert ("198.18.0.2", "198.18.0.1", "10.8.0.2", "10.8.0.1", 1, 0) in inner  # the reply


def test_hold_keeps_the_engines_device_across_a_restart(lab_key: Callable[[], str]) -> None:
    key = lab_key()
    doc: dict[str, Any] = {
        "name": "held",
        "nodes": [{"name": "vm", "interfaces": [{"name": "tap0", "addresses": ["10.9.0.1/24"]}]}],
        "links": [{"kind": "tap", "endpoint": "vm:tap0", "program": {"app": "hold"}}],
    }
    engine.deploy(load_topology(doc), key)
    (first,) = programs.running_programs(key)
    assert first.app == "hold" and _program_uid(first.pid) == _lab_uid(key)
    doc["links"][0]["program"]["args"] = ["--kind", "tap"]
    (second,) = programs.start_programs(key, load_topology(doc))
    assert second.pid != first.pid and not _alive(first.pid)
    # The tap is still there, as the engine made it: nothing to re-create.
    assert engine.discover(key).node("vm").link("tap0").kind == "tap"
    assert engine.plan_for(load_topology(doc), key).ops == ()
