"""Telemetry on the seed kinds as on veth: counters, captures, checks and journeys on a
bond, a VLAN sub-interface (and its trunk) and a MACsec device.

One lab holds the three (the guest starts processes slowly, so one deploy serves every
test of the module). ``guest`` tests: here they skip naming the modules, the test
guest (Debian's full kernel under qemu) runs them for real.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lab.classroom.checks import CaptureCheck, ReachCheck
from lab.topology import naming
from lab.topology.load import load_topology
from tests.conftest import netns_names
from worker import checks, demos, engine
from worker.telemetry.capture import CaptureManager, CaptureSpec
from worker.telemetry.counters import Sampler
from worker.telemetry.journey import run_journey

pytestmark = [pytest.mark.kernel, pytest.mark.guest]

KEY_A = "000102030405060708090a0b0c0d0e0f"
KEY_D = "f0e0d0c0b0a090807060504030201000"


def _host(name: str, *ifaces: tuple[str, str]) -> dict[str, Any]:
    return {
        "name": name,
        "interfaces": [{"name": n, "addresses": [a] if a else []} for n, a in ifaces],
    }


DOC: dict[str, Any] = {
    "name": "kinds-telemetry",
    "nodes": [
        _host("a", ("eth0", ""), ("eth1", ""), ("bond0", "10.70.0.1/24"), ("eth2", ""),
              ("eth2.10", "10.71.0.1/24"), ("eth3", ""), ("ms0", "10.73.0.1/24")),
        {"name": "sw", "kind": "switch",
         "interfaces": [{"name": "p1"}, {"name": "p2"}, {"name": "p3"}]},
        _host("b", ("eth0", "10.70.0.2/24")),
        _host("c", ("eth0", ""), ("eth0.10", "10.71.0.2/24")),
        _host("d", ("eth0", ""), ("ms0", "10.73.0.2/24")),
    ],
    "links": [
        {"a": "a:eth0", "b": "sw:p1"},
        {"a": "a:eth1", "b": "sw:p2"},
        {"a": "b:eth0", "b": "sw:p3"},
        {"kind": "bond", "endpoint": "a:bond0", "members": ["eth0", "eth1"], "miimon": 50},
        {"a": "a:eth2", "b": "c:eth0"},
        {"kind": "vlan", "endpoint": "a:eth2.10", "parent": "eth2", "vlan_id": 10},
        {"kind": "vlan", "endpoint": "c:eth0.10", "parent": "eth0", "vlan_id": 10},
        {"a": "a:eth3", "b": "d:eth0"},
        {"kind": "macsec", "endpoint": "a:ms0", "parent": "eth3",
         "tx": {"key": KEY_A}, "rx": [{"peer": "d:ms0", "key": {"key": KEY_D}}]},
        {"kind": "macsec", "endpoint": "d:ms0", "parent": "eth0",
         "tx": {"key": KEY_D}, "rx": [{"peer": "a:ms0", "key": {"key": KEY_A}}]},
    ],
}  # fmt: skip

# Per kind: a's interface of that kind, the address beyond it, and the peer's interface.
KINDS = {
    "bond": ("bond0", "10.70.0.2", "b", "eth0"),
    "vlan": ("eth2.10", "10.71.0.2", "c", "eth0.10"),
    "macsec": ("ms0", "10.73.0.2", "d", "ms0"),
}


@pytest.fixture(scope="module")
def lab() -> Iterator[str]:
    """The lab, deployed once for the module and destroyed after it, leaving nothing."""
    topology = load_topology(DOC)
    missing = sorted(
        {m for k in topology.link_kinds() if (m := engine.host_facts().missing_module(k))}
    )
    if missing:
        pytest.skip(f"this kernel lacks {', '.join(missing)} (the test guest runs this test)")
    key = f"tk{secrets.token_hex(3)}"
    try:
        engine.deploy(topology, key)
        yield key
    finally:
        engine.destroy(key)
        left = [n for n in netns_names() if n.startswith(f"tl-{key}-")]
        assert not left, f"lab {key} left namespaces: {left}"


def ns(key: str, node: str) -> str:
    return naming.namespace_name(key, node)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_counters_follow_the_traffic(lab: str, kind: str) -> None:
    iface, dst, _peer, _peer_iface = KINDS[kind]
    with Sampler() as sampler:
        sampler.watch([ns(lab, "a")])
        before = {s.ifname: s for s in sampler.sample()}
        assert demos.ping(lab, "a", dst).reached
        after = {s.ifname: s for s in sampler.sample()}
    assert iface in before, sorted(before)
    assert after[iface].oper_state == "up"
    assert after[iface].tx_packets >= before[iface].tx_packets + demos.PING_COUNT
    assert after[iface].rx_packets >= before[iface].rx_packets + 1
    assert after[iface].tx_bps is not None and after[iface].tx_bps > 0


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_capture_sees_the_pings(lab: str, kind: str, tmp_path: Path) -> None:
    iface, dst, _peer, _peer_iface = KINDS[kind]
    lines: list[str] = []
    manager = CaptureManager(tmp_path / "captures")
    spec = CaptureSpec(lab=lab, node="a", interface=iface, filter="icmp", max_seconds=60)
    capture = manager.start(spec, sink=lambda _cid, batch: lines.extend(batch))
    try:
        assert demos.ping(lab, "a", dst).reached
    finally:
        result = manager.stop(capture.id)
    assert result.packets >= demos.PING_COUNT, (result, capture.stderr_text())
    assert any(f"> {dst}: ICMP echo request" in line for line in lines), lines
    packets = checks.read_pcap(capture.pcap_path.read_bytes())
    assert demos.frame_kinds(packets)["icmp"] >= demos.PING_COUNT


def test_the_vlan_trunk_carries_tagged_frames(lab: str, tmp_path: Path) -> None:
    # On the parent the same pings are 802.1Q frames of VLAN 10.
    lines: list[str] = []
    manager = CaptureManager(tmp_path / "captures")
    spec = CaptureSpec(lab=lab, node="a", interface="eth2", filter="vlan 10", max_seconds=60)
    capture = manager.start(spec, sink=lambda _cid, batch: lines.extend(batch))
    try:
        assert demos.ping(lab, "a", "10.71.0.2").reached
    finally:
        result = manager.stop(capture.id)
    assert result.packets >= demos.PING_COUNT, (result, capture.stderr_text())
    assert any("> 10.71.0.2: ICMP echo request" in line for line in lines), lines
    packets = checks.read_pcap(capture.pcap_path.read_bytes())
    tags = {(f[12:14], int.from_bytes(f[14:16]) & 0x0FFF) for _, f in packets}
    assert tags == {(b"\x81\x00", 10)}, tags
    # What a capture check reads of them: the ICMP inside the tag.
    assert demos.frame_kinds(packets)["icmp"] >= demos.PING_COUNT


def test_checks_run_on_each_kind(lab: str) -> None:
    topology = load_topology(DOC)
    specs: list[Any] = []
    for iface, dst, _peer, _peer_iface in KINDS.values():
        specs.append(ReachCheck(kind="reach", src="a", dst=dst))
        specs.append(
            CaptureCheck(kind="capture", node="a", interface=iface, protocol="icmp",
                         probe_src="a", probe_dst=dst)
        )  # fmt: skip
    # On the VLAN's trunk too, where the frames are tagged.
    specs.append(
        CaptureCheck(kind="capture", node="a", interface="eth2", protocol="icmp",
                     probe_src="a", probe_dst="10.71.0.2")
    )  # fmt: skip
    results = checks.run_checks(lab, topology, specs)
    assert [r.passed for r in results] == [True] * len(specs), results


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_journey_shows_both_ends(lab: str, kind: str) -> None:
    iface, dst, peer, peer_iface = KINDS[kind]
    nodes = {n["name"]: ns(lab, n["name"]) for n in DOC["nodes"]}
    journey = run_journey(nodes, "a", dst, count=2)
    places = {(h["node"], h["interface"]) for h in journey["hops"]}
    assert ("a", iface) in places and (peer, peer_iface) in places, sorted(places)
    assert journey["replies"] >= 1
