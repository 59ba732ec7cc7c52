"""The pure part of worker.node_services: what a node should have and how it runs."""

from __future__ import annotations

import pytest

from lab.topology import load_topology
from lab.topology.schema import Service
from lab.topology.validate import parse_frr_daemons
from worker import node_services as ns


def _node(**fields: object):  # type: ignore[no-untyped-def]
    return load_topology({"name": "t", "nodes": [{"name": "r1", **fields}]}).nodes[0]


def test_an_frr_node_gets_the_files_frr_reads_unless_it_has_its_own() -> None:
    sw = ns.node_software(_node(services=[{"kind": "frr", "daemons": ["ospfd", "bgpd"]}]))
    assert parse_frr_daemons(sw.files["/etc/frr/daemons"]) == {"ospfd": True, "bgpd": True}
    assert sw.files["/etc/frr/vtysh.conf"] == ns.FRR_VTYSH_CONF
    assert "hostname r1" in sw.files["/etc/frr/frr.conf"]
    assert ns.frr_enabled_daemons(sw.files) == ["zebra", "staticd", "ospfd", "bgpd"]
    own = ns.node_software(
        _node(services=["frr"], files={"/etc/frr/daemons": "isisd=yes\n", "/etc/frr/frr.conf": "!"})
    )
    assert own.files["/etc/frr/daemons"] == "isisd=yes\n" and own.files["/etc/frr/frr.conf"] == "!"
    assert ns.lab_software(load_topology({"name": "t", "nodes": [{"name": "h"}]})) == {}


def test_a_service_restarts_for_its_own_files_and_options_only() -> None:
    base = {"services": ["frr", "iperf3"], "files": {"/etc/frr/frr.conf": "!", "/tmp/x": "1"}}
    sw = ns.node_software(_node(**base))
    frr, iperf = sw.services
    edited = ns.node_software(
        _node(**{**base, "files": {"/etc/frr/frr.conf": "!!", "/tmp/x": "1"}})
    )
    assert edited.service_digest(frr) != sw.service_digest(frr)
    assert edited.service_digest(iperf) == sw.service_digest(iperf)
    other = ns.node_software(_node(**{**base, "files": {"/etc/frr/frr.conf": "!", "/tmp/x": "2"}}))
    assert other.service_digest(frr) == sw.service_digest(frr)
    moved = ns.node_software(_node(**{**base, "services": ["frr", {"kind": "iperf3", "port": 1}]}))
    assert moved.service_digest(moved.services[1]) != sw.service_digest(iperf)


def test_service_argv_are_argv_lists_in_the_foreground() -> None:
    assert ns.service_argv(Service(kind="iperf3")) == ["iperf3", "--server", "--port", "5201"]
    http = ns.service_argv(Service(kind="http", port=8080, root="/root/www"))
    assert http[-3:] == ["8080", "-d", "/root/www"]
    dnsmasq = ns.service_argv(Service(kind="dnsmasq", args=("--dhcp-range=10.0.0.10,10.0.0.20",)))
    assert "--keep-in-foreground" in dnsmasq and dnsmasq[-1] == "--dhcp-range=10.0.0.10,10.0.0.20"
    assert not any(a.startswith("--conf-dir") for a in dnsmasq)  # no such dir in the node
    with_conf = ns.service_argv(Service(kind="dnsmasq"), {"/run/dnsmasq.d/lan.conf": "x"})
    assert f"--conf-dir={ns.DNSMASQ_CONF_DIR}" in with_conf
    with pytest.raises(ValueError, match="not a long-running"):
        ns.service_argv(Service(kind="frr"))


def test_host_dir_problem_follows_the_sandbox_rule() -> None:
    have = {"/", "/etc", "/etc/frr", "/tmp"}
    assert ns.host_dir_problem("/etc/frr/frr.conf", have.__contains__) is None
    assert ns.host_dir_problem("/etc/frr/sub/dir/x", have.__contains__) is None
    assert ns.host_dir_problem("/tmp/new/dir/x", have.__contains__) is None  # node's own tmpfs
    problem = ns.host_dir_problem("/etc/bird/bird.conf", have.__contains__)
    assert problem is not None and "no /etc/bird" in problem


def test_a_report_reads_back_and_says_what_happened() -> None:
    report = ns.NodeReport(
        node="h1",
        error="exec line 2 (false) exited 1: no output",
        exec=[
            ns.ExecResult(argv=["true"], status=0, output=""),
            ns.ExecResult(argv=["false"], status=1, output=""),
        ],
        services={"iperf3": {"state": "running", "digest": "d", "message": ""}},
    )
    back = ns.NodeReport.from_json(report.to_json())
    assert back == report
    assert back.log_lines() == [
        "node h1: 1/2 exec line(s) succeeded",
        "node h1: service iperf3 running",
        "node h1: exec line 2 (false) exited 1: no output",
    ]
