"""Two lab hosts on one machine, each worker in its own underlay namespace joined by a
veth: a lab split across them pings over the VXLAN stitch, and a capture in host A's
underlay shows VXLAN with the allocated VNI."""

from __future__ import annotations

import random
import signal
import subprocess
import time
from typing import Any

import dpkt
import pytest

from tests.orchestration.conftest import (
    Cluster,
    LabFactory,
    lab_namespaces,
    request_action,
    wait_final,
)

pytestmark = [pytest.mark.web, pytest.mark.kernel]


@pytest.fixture(scope="module")
def two_hosts(cluster: Cluster) -> dict[str, Any]:
    ns_a, ip_a, ns_b, ip_b = cluster.underlay_pair("m")
    tag = f"{random.randrange(16**4):04x}"
    host_a, host_b = f"hosta{tag}", f"hostb{tag}"
    # Room for four nodes each: a six-node lab must be split.
    cluster.add_worker(host_a, netns=ns_a, underlay=ip_a, concurrency=2, capacity=4)
    cluster.add_worker(host_b, netns=ns_b, underlay=ip_b, concurrency=2, capacity=4)
    return {"a": host_a, "b": host_b, "ns_a": ns_a, "ns_b": ns_b, "ip_a": ip_a, "ip_b": ip_b}


def split_pair(host_a: str, host_b: str) -> dict[str, Any]:
    return {
        "name": "split",
        "nodes": [
            {
                "name": "h1",
                "host": host_a,
                "interfaces": [{"name": "eth0", "addresses": ["10.31.0.1/24"]}],
            },
            {
                "name": "h2",
                "host": host_b,
                "interfaces": [{"name": "eth0", "addresses": ["10.31.0.2/24"]}],
            },
        ],
        "links": [{"kind": "veth", "a": "h1:eth0", "b": "h2:eth0"}],
    }


def _vxlan_vnis(pcap_path: str) -> list[int]:
    vnis: list[int] = []
    with open(pcap_path, "rb") as f:
        for _ts, buf in dpkt.pcap.Reader(f):
            eth = dpkt.ethernet.Ethernet(buf)
            ip = eth.data
            if not isinstance(ip, dpkt.ip.IP) or not isinstance(ip.data, dpkt.udp.UDP):
                continue
            udp = ip.data
            if udp.dport != 4789 or len(udp.data) < 8:
                continue
            payload = bytes(udp.data)
            assert payload[0] & 0x08, "VXLAN header without the I flag"
            vnis.append(int.from_bytes(payload[4:7], "big"))
    return vnis


def test_split_lab_pings_across_the_stitch_and_the_capture_shows_the_vni(
    two_hosts: dict[str, Any],
    cluster: Cluster,
    make_lab: LabFactory,
    tmp_path: Any,
) -> None:
    from lab.models import Deployment, Lab, LabHost, VniAllocation

    # A lab host knows only Redis, its name and its underlay: no database settings at all.
    for name in (two_hosts["a"], two_hosts["b"]):
        env = cluster.workers[name].env
        assert not {"DATABASE_URL", "DJANGO_SETTINGS_MODULE"} & set(env)
        assert {"TOPOLAB_REDIS_URL", "TOPOLAB_HOST_NAME", "TOPOLAB_UNDERLAY"} <= set(env)

    cluster.wait_up(two_hosts["a"], two_hosts["b"])
    lab = make_lab(split_pair(two_hosts["a"], two_hosts["b"]))
    lab.host = LabHost.objects.get(name=two_hosts["a"])
    lab.save(update_fields=["host"])
    pcap = tmp_path / "underlay.pcap"
    tcpdump = subprocess.Popen(
        ["ip", "netns", "exec", two_hosts["ns_a"], "tcpdump", "-i", "ul0", "-U", "-n",
         "-w", str(pcap), "udp", "port", "4789"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        dep = request_action(lab, "deploy")
        final = wait_final(dep.pk, cluster=cluster)
        assert final.state == Deployment.State.RUNNING, (final.error_code, final.error_message)
        lab.refresh_from_db()
        assert lab.placement["nodes"] == {"h1": two_hosts["a"], "h2": two_hosts["b"]}
        vnis = {(v.host, v.vni) for v in VniAllocation.objects.filter(lab=lab)}
        assert len(vnis) == 2 and len({vni for _, vni in vnis}) == 1
        vni = next(iter(vnis))[1]
        assert any(f"vni {vni}" in line and "mtu 1450" in line for line in final.plan)
        # The node sees a plain eth0 with the MTU lowered by the VXLAN overhead.
        link = subprocess.run(
            ["ip", "-n", f"tl-{lab.key}-h1", "-o", "link", "show", "eth0"],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        assert "mtu 1450" in link
        ping = subprocess.run(
            ["ip", "netns", "exec", f"tl-{lab.key}-h1", "ping", "-c3", "-i0.2", "-W2",
             "10.31.0.2"],
            capture_output=True, text=True,
        )  # fmt: skip
        assert ping.returncode == 0, ping.stdout + ping.stderr
        time.sleep(0.5)
    finally:
        tcpdump.send_signal(signal.SIGTERM)
        try:
            tcpdump.wait(timeout=10)
        except subprocess.TimeoutExpired:
            tcpdump.kill()
            tcpdump.wait()
    seen = _vxlan_vnis(str(pcap))
    assert seen and set(seen) == {vni}

    dep2 = request_action(Lab.objects.get(pk=lab.pk), "destroy")
    final2 = wait_final(dep2.pk, cluster=cluster)
    assert final2.state == Deployment.State.DESTROYED, final2.error_message
    assert lab_namespaces(lab.key) == set()
    assert not VniAllocation.objects.filter(lab=lab).exists()


def test_a_lab_too_big_for_one_host_is_split_and_runs(
    two_hosts: dict[str, Any], cluster: Cluster, make_lab: LabFactory
) -> None:
    from lab.models import Deployment, Lab, LabHost

    cluster.wait_up(two_hosts["a"], two_hosts["b"])
    nodes = [
        {
            "name": f"n{i}",
            "interfaces": [
                {"name": "eth0", "addresses": [f"10.32.{i}.2/24"]},
                {"name": "eth1", "addresses": [f"10.32.{i + 1}.1/24"]},
            ],
            "forwarding": True,
        }
        for i in range(6)
    ]
    links = [{"kind": "veth", "a": f"n{i}:eth1", "b": f"n{i + 1}:eth0"} for i in range(5)]
    lab = make_lab({"name": "chain", "nodes": nodes, "links": links})
    lab.host = LabHost.objects.get(name=two_hosts["a"])
    lab.save(update_fields=["host"])
    dep = request_action(lab, "deploy")
    final = wait_final(dep.pk, cluster=cluster)
    assert final.state == Deployment.State.RUNNING, (final.error_code, final.error_message)
    lab.refresh_from_db()
    placed = lab.placement["nodes"]
    assert set(placed.values()) == {two_hosts["a"], two_hosts["b"]}
    assert len(lab.placement["cut"]) == 1
    assert len(lab_namespaces(lab.key)) == 6
    dep2 = request_action(Lab.objects.get(pk=lab.pk), "destroy")
    assert wait_final(dep2.pk, cluster=cluster).state == Deployment.State.DESTROYED
    assert lab_namespaces(lab.key) == set()
