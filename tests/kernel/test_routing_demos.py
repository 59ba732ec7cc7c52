"""The OSPF, BGP and DHCP demos on real namespaces, and the checks on what they learned.

Each demo deploys with the engine; FRR and dnsmasq run in the nodes' sandboxes. The
``learned_route`` check passes only for a route the protocol installed (a static route
to the same prefix, another protocol, another gateway fail) and fails again once the
router that announced it stops; the ``dhcp`` check passes for a leased address only.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from lab.classroom.checks import load_checks
from lab.demos import catalog_routing
from lab.topology.load import load_topology
from worker import demos, engine, node_services, sandbox
from worker.checks import run_checks

pytestmark = pytest.mark.kernel
CONVERGE_DEADLINE = 60.0  # a deadline for waiting, not a measurement


def check(key: str, topology: Any, spec: dict[str, Any]) -> tuple[bool, str]:
    (result,) = run_checks(key, topology, load_checks([spec], topology))
    return result.passed, result.message


def until(key: str, topology: Any, spec: dict[str, Any], want: bool) -> tuple[bool, str]:
    """Run the check until it gives ``want`` (or the deadline); its last result."""
    deadline = time.monotonic() + CONVERGE_DEADLINE
    passed, message = check(key, topology, spec)
    while passed != want and time.monotonic() < deadline:
        time.sleep(0.5)
        passed, message = check(key, topology, spec)
    return passed, message


def test_the_ospf_demo_converges_and_the_route_checks_pass_and_fail_as_they_should(
    lab_key,
) -> None:
    key = lab_key()
    demo = catalog_routing.OSPF
    topology = load_topology(demo.topology)
    engine.deploy(topology, key)
    loopback = {"kind": "learned_route", "node": "r2", "dst": "10.10.10.1/32", "protocol": "ospf"}
    direct = {**loopback, "via": "10.0.12.1"}  # the shortest path, once SPF has settled
    started = time.monotonic()
    passed, message = until(key, topology, direct, True)
    print(f"ospf demo: r2 learned r1's loopback {time.monotonic() - started:.1f}s after deploy")
    assert passed, message
    passed, message = check(key, topology, loopback)
    assert passed and "10.10.10.1 proto ospf via 10.0.12.1" in message, message

    # Both ways back, and r2's loopback from h1's side (the demo's second probe).
    for node, lan in (
        ("r1", "10.3.0.0/24"),
        ("r3", "10.1.0.0/24"),
        ("r1", "10.10.10.2/32"),
        ("r2", "10.1.0.0/24"),
    ):
        spec = {"kind": "learned_route", "node": node, "dst": lan, "protocol": "ospf"}
        assert until(key, topology, spec, True)[0]
    run = demos.run_demo(key, demo, topology).to_json()
    assert [p["passed"] for p in run["probes"]] == [True, True], run["probes"]

    # The same prefix, but not what the check asks for: another protocol, another gateway.
    as_bgp = {**loopback, "protocol": "bgp"}
    passed, message = check(key, topology, as_bgp)
    assert not passed and "does not have" in message, message
    assert "proto ospf" in message  # what it has instead
    assert not check(key, topology, {**loopback, "via": "10.0.23.2"})[0]
    assert not check(key, topology, {**loopback, "dst": "10.99.0.0/24", "protocol": "any"})[0]
    # A static route passes the route check and not the learned-route check.
    sandbox.run(key, "h1", ["ip", "route", "add", "10.50.0.0/24", "via", "10.1.0.1"])
    static = {"kind": "learned_route", "node": "h1", "dst": "10.50.0.0/24"}
    passed, message = check(key, topology, static)
    assert not passed and "proto boot" in message, message  # what `ip route add` sets
    assert check(key, topology, {"kind": "route", "node": "h1", "dst": "10.50.0.0/24"})[0]

    # r1 stops announcing (its FRR stopped through the service control): the check fails.
    r1 = topology.node("r1").model_dump(mode="json")  # type: ignore[union-attr]
    assert node_services.control_service(key, "r1", r1, "frr", "stop")["state"] == "stopped"
    passed, message = until(key, topology, loopback, False)
    assert not passed, message
    assert node_services.control_service(key, "r1", r1, "frr", "start")["state"] == "running"
    assert until(key, topology, loopback, True)[0]


def test_the_bgp_demo_learns_the_other_as_networks(lab_key) -> None:
    key = lab_key()
    demo = catalog_routing.BGP
    topology = load_topology(demo.topology)
    engine.deploy(topology, key)
    learned = {"kind": "learned_route", "node": "r1", "dst": "10.2.0.0/24", "protocol": "bgp"}
    passed, message = until(key, topology, learned, True)
    assert passed and "via 10.0.12.2" in message, message
    assert not check(key, topology, {**learned, "protocol": "ospf"})[0]
    back = {**learned, "node": "r2", "dst": "10.1.0.0/24"}  # and the way back
    assert until(key, topology, back, True)[0]
    run = demos.run_demo(key, demo, topology).to_json()
    assert [p["passed"] for p in run["probes"]] == [True, True], run["probes"]


def test_the_dhcp_demo_leases_addresses_and_the_dhcp_check_tells_them_apart(lab_key) -> None:
    key = lab_key()
    demo = catalog_routing.DHCP
    topology = load_topology(demo.topology)
    result = engine.deploy(topology, key)
    reports = {r.node: r for r in result.nodes}
    assert reports["h1"].error == "" and reports["h2"].error == "", reports
    leased = {"kind": "dhcp", "node": "h1", "interface": "eth0", "within": "10.0.5.0/24"}
    passed, message = check(key, topology, leased)
    assert passed and "from DHCP" in message, message
    assert check(key, topology, {**leased, "node": "h2"})[0]
    # Not a lease: the server's own address (the topology's), another range.
    passed, message = check(key, topology, {**leased, "node": "srv"})
    assert not passed and "10.0.5.1/24" not in message.split("(it has")[0]
    assert not check(key, topology, {**leased, "within": "10.9.0.0/24"})[0]
    # An address set by hand on a client is no lease either.
    sandbox.run(key, "h2", ["ip", "addr", "flush", "dev", "eth0"])
    sandbox.run(key, "h2", ["ip", "addr", "add", "10.0.5.99/24", "dev", "eth0"])
    passed, message = check(key, topology, {**leased, "node": "h2"})
    assert not passed and "set by hand" in message, message
    run = demos.run_demo(key, demo, topology).to_json()
    assert run["probes"][0]["passed"], run["probes"]
