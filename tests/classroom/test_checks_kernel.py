"""The check runner against real namespaces built by the engine: every check kind,
passing and failing, a VXLAN capture by VNI, and a namespace that is not the lab's."""

from __future__ import annotations

import random
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from lab.classroom.checks import load_checks
from lab.topology import Topology, load_topology
from lab.topology.naming import namespace_name
from tests.classroom.conftest import DOC
from tests.conftest import netns_names
from worker import engine
from worker.checks import run_checks

pytestmark = pytest.mark.kernel

VXLAN_DOC: dict[str, Any] = {
    "name": "overlay",
    "nodes": [
        {
            "name": "a",
            "interfaces": [
                {"name": "eth0", "addresses": ["192.168.61.1/24"]},
                {"name": "vx42", "addresses": ["10.62.0.1/24"]},
            ],
        },
        {
            "name": "b",
            "interfaces": [
                {"name": "eth0", "addresses": ["192.168.61.2/24"]},
                {"name": "vx42", "addresses": ["10.62.0.2/24"]},
            ],
        },
    ],
    "links": [
        {"kind": "veth", "a": "a:eth0", "b": "b:eth0"},
        {
            "kind": "vxlan",
            "endpoint": "a:vx42",
            "vni": 42,
            "local": "192.168.61.1",
            "remote": "192.168.61.2",
            "underlay": "eth0",
        },
        {
            "kind": "vxlan",
            "endpoint": "b:vx42",
            "vni": 42,
            "local": "192.168.61.2",
            "remote": "192.168.61.1",
            "underlay": "eth0",
        },
    ],
}


def _deployed(doc: dict[str, Any]) -> Iterator[tuple[str, Topology]]:
    key = f"cr{random.randrange(16**8):08x}"
    topology = load_topology(doc)
    try:
        engine.deploy(topology, lab=key)
        yield key, topology
    finally:
        engine.destroy(key)
        assert not {n for n in netns_names() if n.startswith(f"tl-{key}-")}


@pytest.fixture
def routed() -> Iterator[tuple[str, Topology]]:
    yield from _deployed(DOC)


@pytest.fixture
def overlay() -> Iterator[tuple[str, Topology]]:
    yield from _deployed(VXLAN_DOC)


def test_every_kind_passes_and_fails_with_a_reason(routed: tuple[str, Topology]) -> None:
    key, topology = routed
    specs = load_checks(
        [
            {"kind": "reach", "src": "h1", "dst": "10.61.2.1"},
            {"kind": "reach", "src": "h1", "dst": "10.61.9.9", "count": 1},
            {"kind": "reach", "src": "h1", "dst": "10.61.9.9", "expect": "refuse", "count": 1},
            {"kind": "address", "node": "h2", "interface": "eth0", "address": "10.61.2.1/24"},
            {
                "kind": "address",
                "node": "h2",
                "interface": "eth0",
                "address": "10.61.2.7/24",
                "hint": "use .7",
            },
            {"kind": "mtu", "node": "h2", "interface": "eth0", "mtu": 1500},
            {"kind": "mtu", "node": "h2", "interface": "eth0", "mtu": 1400},
            {"kind": "route", "node": "h1", "dst": "default", "via": "10.61.1.254"},
            {"kind": "route", "node": "h1", "dst": "10.61.5.0/24"},
            {"kind": "forwarding", "node": "r1"},
            {"kind": "forwarding", "node": "h1"},
            {
                "kind": "capture",
                "node": "r1",
                "interface": "eth1",
                "protocol": "icmp",
                "probe_src": "h1",
                "probe_dst": "10.61.2.1",
            },
            {
                "kind": "capture",
                "node": "r1",
                "interface": "eth1",
                "protocol": "tcp",
                "probe_src": "h1",
                "probe_dst": "10.61.2.1",
                "count": 1,
                "timeout": 1,
            },
        ],
        topology,
    )
    results = run_checks(key, topology, specs)
    assert [r.passed for r in results] == [
        True,
        False,
        True,
        True,
        False,
        True,
        False,
        True,
        False,
        True,
        False,
        True,
        False,
    ], results
    assert "h1 does not reach 10.61.9.9" in results[1].message and results[1].hint
    assert results[4].hint == "use .7"
    assert "has MTU 1500, not 1400" in results[6].message
    assert "ip_forward=0" in results[10].message
    assert "ICMP 10.61.1.1 > 10.61.2.1" in results[11].message


def test_capture_sees_vxlan_with_the_right_vni_only(overlay: tuple[str, Topology]) -> None:
    key, topology = overlay
    base = {
        "kind": "capture",
        "node": "a",
        "interface": "eth0",
        "protocol": "vxlan",
        "probe_src": "a",
        "probe_dst": "10.62.0.2",
        "timeout": 2,
    }
    specs = load_checks([{**base, "vni": 42}, {**base, "vni": 43}, {**base}], topology)
    results = run_checks(key, topology, specs)
    assert [r.passed for r in results] == [True, False, True], results
    assert "VXLAN VNI 42" in results[0].message


def test_a_node_that_is_not_running_fails_and_a_foreign_namespace_is_not_trusted() -> None:
    key = f"cr{random.randrange(16**8):08x}"
    topology = load_topology(DOC)
    specs = load_checks([{"kind": "forwarding", "node": "r1"}], topology)
    result = run_checks(key, topology, specs)[0]
    assert not result.passed and "not running" in result.message
    # A namespace with the right name but without the owner tag is somebody else's.
    ns = namespace_name(key, "r1")
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        result = run_checks(key, topology, specs)[0]
        assert not result.passed and "is not node r1 of this lab" in result.message
    finally:
        subprocess.run(["ip", "netns", "delete", ns], check=True)
