"""Discovery on real namespaces: forwarding over netlink, conditioning seen, scoped reads."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

from lab.topology import naming
from tests.kernel.conftest import topo
from worker import engine, executor
from worker.kernel import default_kernel
from worker.kernel.base import Shaping
from worker.plan import edit_scope, plan
from worker.state import FORWARDING_SYSCTLS, discover


def lab_doc(extra_links: list[dict[str, str]] = ()) -> dict:  # type: ignore[type-arg]
    return {
        "name": "disc",
        "nodes": [
            {"name": "r1", "kind": "router",
             "interfaces": [{"name": "eth0", "addresses": ["10.31.0.1/30"]}, {"name": "x0"}]},
            {"name": "h1", "interfaces": [{"name": "eth0", "addresses": ["10.31.0.2/30"]},
                                          {"name": "x0"}], "gateway": "10.31.0.1"},
            {"name": "h2", "interfaces": [{"name": "x0"}]},
        ],
        "links": [{"a": "r1:eth0", "b": "h1:eth0"}, *extra_links],
    }  # fmt: skip


def sysctl_file(ns: str, key: str) -> str:
    path = "/proc/sys/" + key.replace(".", "/")
    out = subprocess.run(["ip", "netns", "exec", ns, "cat", path], capture_output=True, text=True)
    return out.stdout.strip()


def test_forwarding_read_over_netlink_is_what_the_sysctl_files_say(
    lab_key: Callable[[], str],
) -> None:
    key = lab_key()
    engine.deploy(topo(lab_doc()), key)
    state = discover(key)
    checked = 0
    for node, forwards in (("r1", "1"), ("h1", "0")):
        ns = naming.namespace_name(key, node)
        for sysctl in FORWARDING_SYSCTLS:
            if not Path("/proc/sys/" + sysctl.replace(".", "/")).exists():
                continue  # this host has no such family (IPv6 off)
            assert state.node(node).sysctl(sysctl) == sysctl_file(ns, sysctl) == forwards
            checked += 1
    assert checked >= 2
    # Changed behind the engine's back: discovery sees it and the planner puts it back.
    ns = naming.namespace_name(key, "r1")
    subprocess.run(
        ["ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv4.ip_forward=0"], check=True
    )
    assert discover(key).node("r1").sysctl("net.ipv4.ip_forward") == "0"
    assert engine.plan_for(topo(lab_doc()), key).describe()  # something to fix
    engine.deploy(topo(lab_doc()), key)
    assert sysctl_file(ns, "net.ipv4.ip_forward") == "1"


def test_conditioning_is_still_discovered_when_set_and_gone_when_removed(
    lab_key: Callable[[], str],
) -> None:
    # Discovery skips the qdisc dump in a namespace whose devices have no netem/tbf
    # root; a shaped device must never be missed because of it.
    key = lab_key()
    engine.deploy(topo(lab_doc()), key)
    ns = naming.namespace_name(key, "h1")
    assert discover(key).node("h1").link("eth0").get("shaping") is None
    k = default_kernel()
    try:
        k.shaping_set(ns, "eth0", Shaping(rate_mbit=10))
        seen = k.ns_read(ns)
        assert seen is not None and seen.link("eth0").get("shaping") == Shaping(rate_mbit=10).text()
        k.shaping_set(ns, "eth0", Shaping())
        seen = k.ns_read(ns)
        assert seen is not None and seen.link("eth0").get("shaping") is None
    finally:
        k.release()


def test_a_scoped_edit_reads_and_changes_only_its_nodes(lab_key: Callable[[], str]) -> None:
    key = lab_key()
    running = topo(lab_doc())
    engine.deploy(running, key)
    edited = topo(lab_doc([{"a": "h1:x0", "b": "h2:x0"}]))
    k = default_kernel()
    try:
        facts = engine.lab_facts(key, k)
        scope = edit_scope(edited, running, facts, key)
        assert scope.read == {"h1", "h2"}
        actual = discover(key, k, nodes=scope.read)
        assert {ns.node for ns in actual.namespaces} == {"h1", "h2"}
        executor.apply(plan(edited, actual, facts, key, scope=scope), k)
    finally:
        k.release()
    assert engine.plan_for(edited, key).ops == ()  # the full planner agrees: nothing left
    assert discover(key).node("h2").link("x0").kind == "veth"


def test_reading_many_namespaces_in_one_trip_reads_what_one_by_one_reads(
    lab_key: Callable[[], str],
) -> None:
    key = lab_key()
    engine.deploy(topo(lab_doc()), key)
    names = [naming.namespace_name(key, n) for n in ("r1", "h1", "h2")]
    gone = naming.namespace_name(key, "nobody")
    k = default_kernel()
    try:
        k.release()  # nothing held: every namespace is entered by the one trip
        many = k.ns_read_many([*names, gone])
        k.release()
        one_by_one = [k.ns_read(n) for n in names]
    finally:
        k.release()
    assert many[-1] is None  # a namespace that is not there reads as None, as ns_read says
    assert [s.node for s in many[:-1] if s is not None] == ["r1", "h1", "h2"]
    strip = [[(link.name, link.kind, link.addresses, link.peer_ifindex) for link in s.links]
             for s in many[:-1] if s is not None]  # fmt: skip
    assert strip == [[(link.name, link.kind, link.addresses, link.peer_ifindex)
                      for link in s.links] for s in one_by_one if s is not None]  # fmt: skip
