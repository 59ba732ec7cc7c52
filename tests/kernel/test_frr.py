"""Nodes that run real network software: containerlab's frr01 with FRR, on real namespaces.

``tests/fixtures/clab/frr01`` is our own copy of containerlab's ``lab-examples/frr01``
(three FRR routers in OSPF area 0, three PCs; each router configured by the
``daemons`` and ``frr.conf`` files its binds name). It deploys through
``manage.py topolab deploy``; FRR runs in each router's sandbox.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lab.topology import naming
from tests.kernel.conftest import topo
from worker import engine, node_services, sandbox
from worker.kernel import userns

pytestmark = pytest.mark.kernel
ROOT = Path(__file__).resolve().parents[2]
FRR01 = ROOT / "tests" / "fixtures" / "clab" / "frr01" / "frr01.clab.yml"
CONVERGE_DEADLINE = 60.0  # the acceptance's bound, a deadline for waiting, not a measurement


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "manage.py", "topolab", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip


def reaches(key: str, node: str, address: str) -> bool:
    out = sandbox.run(key, node, ["ping", "-c", "1", "-W", "1", address], timeout=10)
    return out.returncode == 0


def http_get(key: str, node: str, url: str, tries: int = 20) -> subprocess.CompletedProcess[str]:
    """GET ``url`` from ``node``, a few tries: a server binds its port a moment after it starts."""
    fetch = [
        "python3", "-c",
        "import urllib.request,sys;"
        f"sys.stdout.write(urllib.request.urlopen({url!r},timeout=5).read().decode())",
    ]  # fmt: skip
    got = sandbox.run(key, node, fetch)
    for _ in range(tries - 1):
        if got.returncode == 0:
            break
        time.sleep(0.25)
        got = sandbox.run(key, node, fetch)
    return got


def host_uid(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise AssertionError(f"no Uid line for {pid}")


def test_frr01_deploys_converges_and_destroy_leaves_nothing(lab_key) -> None:
    key = lab_key()
    deployed = cli("deploy", str(FRR01), "--lab", key)
    assert deployed.returncode == 0, deployed.stderr
    for router in ("router1", "router2", "router3"):
        assert f"node {router}: service frr running" in deployed.stdout
    # The binds became node files, the image the frr service: no warning says otherwise.
    assert "binds" not in deployed.stderr and "frrouting" not in deployed.stderr

    started = time.monotonic()
    pending = {"192.168.12.2", "192.168.13.2"}
    while pending and time.monotonic() - started < CONVERGE_DEADLINE:
        pending = {a for a in pending if not reaches(key, "PC1", a)}
        if pending:
            time.sleep(0.5)
    print(f"frr01: PC1 reached PC2 and PC3 {time.monotonic() - started:.1f}s after deploy")
    assert not pending, f"PC1 does not reach {pending} within {CONVERGE_DEADLINE:g}s"

    neighbours = cli("exec", key, "router1", "--", "vtysh", "-c", "show ip ospf neighbor")
    assert neighbours.returncode == 0, neighbours.stderr
    full = [line for line in neighbours.stdout.splitlines() if " Full/" in line]
    assert sorted(line.split()[0] for line in full) == ["10.10.10.2", "10.10.10.3"]
    route = sandbox.run(key, "router2", ["vtysh", "-c", "show ip route 10.10.10.1/32"])
    assert 'Known via "ospf"' in route.stdout, route.stdout

    # vtysh in a node talks to that node's daemons only (its own /run/frr).
    for number in (1, 2, 3):
        ospf = sandbox.run(key, f"router{number}", ["vtysh", "-c", "show ip ospf"])
        assert f"Router ID: 10.10.10.{number}\n" in ospf.stdout, ospf.stdout
    # FRR's daemons run as the node's frr user: a uid of the lab's own range, not root.
    identity = userns.ensure_identity(key)
    procs = node_services.node_processes(key, "router1")
    daemons = {comm: pid for pid, comm in procs.items()}
    assert {"watchfrr", "zebra", "ospfd", "staticd"} <= set(daemons)
    zebra_uid = host_uid(daemons["zebra"])
    assert identity.uid < zebra_uid < identity.uid + 65536
    assert host_uid(daemons["watchfrr"]) == identity.uid  # the lab's root, not the host's
    assert not set(procs) & set(node_services.node_processes(key, "router2"))

    all_pids = {
        pid: sandbox.start_time(pid)
        for router in ("router1", "router2", "router3")
        for pid in node_services.node_processes(key, router)
    }
    destroyed = cli("destroy", key)
    assert destroyed.returncode == 0, destroyed.stderr
    left = [p for p, started_at in all_pids.items() if sandbox.start_time(p) == started_at]
    assert left == [], f"FRR processes outlived the lab: {left}"
    assert not (sandbox.NODES_DIR / key).exists()  # node files, manifests, records
    assert not node_services.nodes_dir(key).exists()  # reports and service logs
    # No mount of any process names the lab (its node files were bound from its folder).
    assert not [p for p in os.listdir("/proc") if p.isdigit() and key in _mountinfo(p)]


def _mountinfo(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/mountinfo").read_text()
    except OSError:
        return ""  # gone meanwhile


def _two_hosts(h1: dict, h2: dict) -> dict:  # type: ignore[type-arg]
    return {
        "name": "software",
        "nodes": [
            {"name": "h1", "interfaces": [{"name": "eth0", "addresses": ["10.0.0.1/24"]}], **h1},
            {"name": "h2", "interfaces": [{"name": "eth0", "addresses": ["10.0.0.2/24"]}], **h2},
        ],
        "links": [{"a": "h1:eth0", "b": "h2:eth0"}],
    }


def test_exec_lines_run_in_order_and_a_failing_line_marks_only_its_node(lab_key) -> None:
    key = lab_key()
    t = topo(
        _two_hosts(
            {
                "exec": [
                    "sh -c 'echo one >> /tmp/trail'",
                    "false",
                    "sh -c 'echo never >> /tmp/trail'",
                ]
            },
            {
                "files": {"/tmp/conf/greeting": "hello\n"},
                "exec": [["sh", "-c", "cat /tmp/conf/greeting; id -u"]],
            },
        )
    )
    result = engine.deploy(t, key)
    reports = {r.node: r for r in result.nodes}
    h1, h2 = reports["h1"], reports["h2"]
    assert [e.status for e in h1.exec] == [0, 1]  # the third never ran
    assert "exec line 2 (false) exited 1" in h1.error
    assert sandbox.run(key, "h1", ["cat", "/tmp/trail"]).stdout == "one\n"
    assert h2.error == "" and h2.exec[0].status == 0
    assert h2.exec[0].output == "hello\n0\n"  # the node file, read as the lab's root
    # The lab carries on: h2 reaches h1; the report is kept for the page.
    assert sandbox.run(key, "h2", ["ping", "-c", "1", "-W", "2", "10.0.0.1"]).returncode == 0
    kept = node_services.node_report(key, "h1")
    assert kept is not None and kept.error == h1.error
    # An apply runs no exec line again (the trail keeps one line); a reconcile neither.
    node_services.start_node_software(key, t, run_exec=False)
    assert sandbox.run(key, "h1", ["cat", "/tmp/trail"]).stdout == "one\n"
    assert node_services.node_report(key, "h1").error == h1.error  # type: ignore[union-attr]


def test_a_file_where_the_host_has_no_directory_marks_the_node(lab_key) -> None:
    key = lab_key()
    t = topo(_two_hosts({"files": {"/etc/topolab-no-such-package/x.conf": "x"}}, {}))
    result = engine.deploy(t, key)
    (h1,) = result.nodes
    assert "has no /etc/topolab-no-such-package" in h1.error
    # The node still runs, without the file; the host's /etc is untouched.
    assert sandbox.run(key, "h1", ["true"]).returncode == 0
    assert not os.path.exists("/etc/topolab-no-such-package")


def test_services_start_stop_restart_and_follow_their_files(lab_key) -> None:
    key = lab_key()
    doc = _two_hosts(
        {},
        {
            "files": {"/root/www/index.html": "<h1>h2</h1>\n"},
            "services": [{"kind": "iperf3"}, {"kind": "http", "port": 8080, "root": "/root/www"}],
        },
    )
    t = topo(doc)
    result = engine.deploy(t, key)
    (h2,) = result.nodes
    assert h2.services["iperf3"]["state"] == "running", h2
    assert h2.services["http"]["state"] == "running", h2
    got = http_get(key, "h1", "http://10.0.0.2:8080/")
    assert got.stdout == "<h1>h2</h1>\n", got
    assert '"GET / HTTP/1.1" 200' in node_services.service_log(key, "h2", "http")
    client = sandbox.run(key, "h1", ["iperf3", "-c", "10.0.0.2", "-t", "1", "-J"], timeout=20)
    assert client.returncode == 0 and '"sum_received"' in client.stdout, client.stderr

    pid = node_services._recorded(key, "h2", "iperf3")["pid"]  # type: ignore[index]
    node_services.service_action(key, t, "h2", "iperf3", "stop")
    assert not node_services.service_running(key, "h2", "iperf3")
    assert sandbox.start_time(pid) is None  # ended by PID
    assert sandbox.run(key, "h1", ["iperf3", "-c", "10.0.0.2", "-t", "1"], timeout=20).returncode
    report = node_services.service_action(key, t, "h2", "iperf3", "start")
    assert report.services["iperf3"]["state"] == "running"
    report = node_services.service_action(key, t, "h2", "iperf3", "restart")
    new_pid = node_services._recorded(key, "h2", "iperf3")["pid"]  # type: ignore[index]
    assert report.services["iperf3"]["state"] == "running" and new_pid != pid
    with pytest.raises(ValueError, match="no service frr"):
        node_services.service_action(key, t, "h2", "frr", "start")

    # A reconcile leaves a running service alone; one that died is started again.
    node_services.start_node_software(key, t, run_exec=False)
    assert node_services._recorded(key, "h2", "iperf3")["pid"] == new_pid  # type: ignore[index]
    os.kill(new_pid, 9)
    for _ in range(100):
        if not node_services.service_running(key, "h2", "iperf3"):
            break
        time.sleep(0.02)
    node_services.start_node_software(key, t, run_exec=False)
    assert node_services.service_running(key, "h2", "iperf3")

    # A service taken out of the document is ended on the next apply.
    http_pid = node_services._recorded(key, "h2", "http")["pid"]  # type: ignore[index]
    doc["nodes"][1]["services"] = [{"kind": "iperf3"}]
    node_services.start_node_software(key, topo(doc), run_exec=False)
    assert sandbox.start_time(http_pid) is None
    assert (
        naming.namespace_name(key, "h2")
        in subprocess.run(
            ["ip", "netns", "list"], capture_output=True, text=True, check=True
        ).stdout
    )


def test_an_exec_line_cannot_flood_the_worker_or_outlive_its_timeout(lab_key, monkeypatch) -> None:
    key = lab_key()
    t = topo(
        _two_hosts(
            {
                "exec": [
                    # Attack: 50 MB of output; the worker keeps the first 16 KiB only.
                    "head -c 50000000 /dev/zero",
                    # Legitimate: a line that leaves a job in the background is done when
                    # it exits (the job holds the pipe; waiting for it would time out).
                    "sh -c 'sleep 300 & echo started'",
                ]
            },
            {"exec": ["sleep 300"]},
        )
    )
    monkeypatch.setattr(node_services, "EXEC_TIMEOUT", 2.0)
    result = engine.deploy(t, key)
    reports = {r.node: r for r in result.nodes}
    flood, background = reports["h1"].exec
    assert flood.status == 0 and len(flood.output) <= node_services.OUTPUT_MAX + 20
    assert flood.output.endswith("[... cut]")
    assert background.status == 0 and background.output == "started\n"
    assert reports["h1"].error == ""
    # Attack: a line that never ends is killed at the timeout and marks its node.
    (stuck,) = reports["h2"].exec
    assert stuck.status is None and "ran longer than 2s" in reports["h2"].error
    for _ in range(100):  # its parent-death signal is on its way
        if "sleep" not in node_services.node_processes(key, "h2").values():
            break
        time.sleep(0.02)
    assert "sleep" not in node_services.node_processes(key, "h2").values()


def test_dnsmasq_gives_an_address_by_dhcp_on_a_switch(lab_key) -> None:
    key = lab_key()
    t = topo(
        {
            "name": "dhcp",
            "nodes": [
                {
                    "name": "srv",
                    "interfaces": [{"name": "eth0", "addresses": ["10.0.5.1/24"]}],
                    "files": {"/run/dnsmasq.d/lan.conf": "dhcp-range=10.0.5.100,10.0.5.150,1h\n"},
                    "services": [{"kind": "dnsmasq", "args": ["--interface=eth0"]}],
                },
                {"name": "sw", "kind": "switch", "interfaces": [{"name": "p1"}, {"name": "p2"}]},
                {"name": "h1", "interfaces": [{"name": "eth0"}]},
            ],
            "links": [{"a": "srv:eth0", "b": "sw:p1"}, {"a": "h1:eth0", "b": "sw:p2"}],
        }
    )
    result = engine.deploy(t, key)
    (srv,) = result.nodes
    assert srv.services["dnsmasq"]["state"] == "running", srv
    # busybox's DHCP client asks; the lease comes from the node's own config file.
    ask = ["busybox", "udhcpc", "-i", "eth0", "-n", "-q", "-t", "5", "-T", "1", "-s", "/bin/true"]
    got = sandbox.run(key, "h1", ask, timeout=30)
    assert got.returncode == 0, got.stderr
    assert "lease of 10.0.5.1" in got.stdout + got.stderr
    assert "obtained from 10.0.5.1" in got.stdout + got.stderr


def test_an_edited_frr_conf_restarts_frr_and_an_unchanged_one_does_not(lab_key) -> None:
    key = lab_key()
    doc = _two_hosts({"kind": "router", "services": [{"kind": "frr", "daemons": ["ospfd"]}]}, {})
    doc["nodes"][0]["files"] = {"/etc/frr/frr.conf": "router ospf\n ospf router-id 1.1.1.1\n"}
    engine.deploy(topo(doc), key)

    def watchfrr() -> int:
        (pid,) = [p for p, c in node_services.node_processes(key, "h1").items() if c == "watchfrr"]
        return pid

    first = watchfrr()
    node_services.start_node_software(key, topo(doc), run_exec=False)  # an apply, same files
    assert watchfrr() == first
    doc["nodes"][0]["files"] = {"/etc/frr/frr.conf": "router ospf\n ospf router-id 2.2.2.2\n"}
    (report,) = node_services.start_node_software(key, topo(doc), run_exec=False)
    assert report.services["frr"]["state"] == "running", report
    assert watchfrr() != first and sandbox.start_time(first) is None
    ospf = sandbox.run(key, "h1", ["vtysh", "-c", "show ip ospf"])
    assert "Router ID: 2.2.2.2" in ospf.stdout, ospf.stdout


def test_a_service_that_cannot_start_marks_its_node_with_its_own_words(lab_key) -> None:
    key = lab_key()
    # Both want TCP 5201: whichever starts second finds it taken.
    services = [{"kind": "iperf3"}, {"kind": "http", "port": 5201}]
    result = engine.deploy(topo(_two_hosts({"services": services}, {})), key)
    (h1,) = result.nodes
    assert h1.services["iperf3"]["state"] == "running"
    assert h1.services["http"]["state"] == "failed"
    assert "Address already in use" in h1.error, h1
    assert h1.error.startswith("http: ")


def test_service_control_from_the_cli_stops_starts_and_restarts_one_service(
    lab_key, tmp_path
) -> None:
    key = lab_key()
    doc = _two_hosts(
        {},
        {
            "files": {"/root/www/index.html": "served\n"},
            "services": [{"kind": "http", "port": 8080, "root": "/root/www"}, {"kind": "iperf3"}],
        },
    )
    path = tmp_path / "software.json"
    path.write_text(json.dumps(doc))
    deployed = cli("deploy", str(path), "--lab", key)
    assert deployed.returncode == 0, deployed.stderr
    url = "http://10.0.0.2:8080/"
    assert http_get(key, "h1", url).stdout == "served\n"

    status = cli("service", key, "h2", "http", "status")
    assert status.returncode == 0, status.stderr
    assert status.stdout.startswith("h2 http: running\n")
    assert '"GET / HTTP/1.1" 200' in status.stdout  # the log's end
    pid = node_services._recorded(key, "h2", "http")["pid"]  # type: ignore[index]
    iperf = node_services._recorded(key, "h2", "iperf3")["pid"]  # type: ignore[index]

    stopped = cli("service", key, "h2", "http", "stop")
    assert stopped.returncode == 0 and stopped.stdout == "h2 http: stopped\n", stopped
    assert sandbox.start_time(pid) is None  # ended by PID
    assert http_get(key, "h1", url, tries=1).returncode != 0
    assert sandbox.start_time(iperf) is not None  # the node's other service runs on
    after = cli("service", key, "h2", "http", "status")
    assert after.returncode == 1 and after.stdout.startswith("h2 http: stopped")

    started = cli("service", key, "h2", "http", "start")
    assert started.returncode == 0 and started.stdout == "h2 http: running\n", started
    assert http_get(key, "h1", url).stdout == "served\n"
    first = node_services._recorded(key, "h2", "http")["pid"]  # type: ignore[index]
    restarted = cli("service", key, "h2", "http", "restart")
    assert restarted.returncode == 0 and "running" in restarted.stdout, restarted
    second = node_services._recorded(key, "h2", "http")["pid"]  # type: ignore[index]
    assert second != first and sandbox.start_time(first) is None
    assert http_get(key, "h1", url).stdout == "served\n"

    # A service the node does not have, a node without services, an unknown action.
    missing = cli("service", key, "h2", "frr", "start")
    assert missing.returncode != 0 and "service.not_found" in missing.stderr
    bare = cli("service", key, "h1", "http", "start")
    assert bare.returncode != 0 and "no node h1 with services" in bare.stderr
    assert cli("service", key, "h2", "http", "reload").returncode != 0


def test_frr_restarts_and_stops_by_the_control_function(lab_key) -> None:
    key = lab_key()
    doc = _two_hosts({"kind": "router", "services": [{"kind": "frr", "daemons": ["ospfd"]}]}, {})
    engine.deploy(topo(doc), key)
    h1 = topo(doc).nodes[0].model_dump(mode="json")

    def daemons() -> dict[str, int]:
        return {c: p for p, c in node_services.node_processes(key, "h1").items()}

    assert node_services.control_service(key, "h1", h1, "frr", "status")["state"] == "running"
    before = daemons()
    assert {"watchfrr", "zebra", "ospfd"} <= set(before)
    restarted = node_services.control_service(key, "h1", h1, "frr", "restart")
    assert restarted["state"] == "running", restarted
    after = daemons()
    assert after["zebra"] != before["zebra"] and sandbox.start_time(before["zebra"]) is None
    stopped = node_services.control_service(key, "h1", h1, "frr", "stop")
    assert stopped["state"] == "stopped"
    assert not {"watchfrr", "zebra", "ospfd", "staticd"} & set(daemons().keys())
    listed = node_services.node_services_status(key, "h1", h1)
    assert listed["services"][0]["kind"] == "frr"
    assert listed["services"][0]["state"] == "stopped"
    assert node_services.control_service(key, "h1", h1, "frr", "start")["state"] == "running"
    assert "ospfd" in daemons()

    # Attack: another node's document, a forged lab key, a bad action are refused.
    h2 = topo(doc).nodes[1].model_dump(mode="json")
    for args, code in (
        (("h1", h2, "frr", "start"), "node.invalid"),
        (("h1", {"name": "h1", "services": "x"}, "frr", "start"), "node.invalid"),
        (("h1", h1, "frr", "kill"), "service.bad_action"),
        (("h1", h1, "dnsmasq", "start"), "service.not_found"),
    ):
        with pytest.raises(node_services.NodeControlError) as refused:
            node_services.control_service(key, *args)  # type: ignore[arg-type]
        assert refused.value.code == code
    with pytest.raises(node_services.NodeControlError) as forged:
        node_services.control_service("../../etc", "h1", h1, "frr", "stop")
    assert forged.value.code == "node.invalid" and forged.value.field == "lab"
    with pytest.raises(node_services.NodeControlError) as gone:
        node_services.control_service(lab_key(), "h1", h1, "frr", "start")
    assert gone.value.code == "node.not_running"
