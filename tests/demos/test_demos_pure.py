"""Pure parts of the demo library: the catalog's consistency, argv building, hop matching."""

from __future__ import annotations

from typing import Any

import pytest

from lab.demos import DEMOS, Demo
from lab.demos.catalog_kinds import KIND_DEMOS
from lab.topology.load import load_topology
from worker import demos, programs


# The device kinds' demos: tests/demos/test_demos_kinds_guest.py.
@pytest.mark.parametrize("demo", [d for d in DEMOS if d not in KIND_DEMOS], ids=lambda d: d.slug)
def test_catalog_entry_is_consistent(demo: Demo) -> None:
    topology = load_topology(demo.topology)
    names = {n.name for n in topology.nodes}
    assert {p.src for p in demo.probes} <= names
    assert demo.journey is not None and demo.journey.src in names
    for token in demo.journey.must_show:
        if ":" in token and " " not in token:  # a place: it must be a real interface
            node, _, iface = token.partition(":")
            found = topology.node(node)
            assert found is not None and found.interface(iface) is not None, token
    assert set(demo.show) <= {"fdb", "matrix"}


def test_program_argv_is_the_apps_own_with_its_device_first() -> None:
    tunnel = programs.ProgramSpec("siteA", "tun0", "tunnel", ("--local", "1.2.3.4:5"))
    argv = programs.program_argv(tunnel)
    assert argv == ["-m", "worker.apps.tunnel", "--tun", "tun0", "--local", "1.2.3.4:5", "--trace"]

    # a macvtap's character device comes opened from the sandbox, never from a path
    reader = programs.ProgramSpec("lan", "mvtap0", "macvtap-reader", ("--answer",), "macvtap")
    assert programs.program_argv(reader)[-2:] == ["--device", "/proc/self/fd/99"]

    hold = programs.ProgramSpec("vm", "tap0", "hold", ())
    assert "--keep-persistent" in programs.program_argv(hold)


def test_ping_argv_never_takes_the_address_for_an_option() -> None:
    argv = demos.ping_argv("10.0.0.2")
    assert argv[0] == "ping" and argv[-2:] == ["--", "10.0.0.2"]


def _hop(node: str, iface: str, direction: str, **extra: Any) -> dict[str, Any]:
    hop = {"node": node, "interface": iface, "direction": direction, "packet": "request"}
    hop.update({"seq": 1, "ts": 0.0, "changes": [], "encapsulation": [], **extra})
    hop["text"] = demos._hop_text(hop)
    return hop


def test_journey_tokens() -> None:
    hops = [
        _hop("h1", "eth0", "out", ttl=64),
        _hop("r1", "eth1", "out", ttl=63, changes=["ttl 64 -> 63"]),
        _hop("a", "eth0", "out", vni=100, encapsulation=["vxlan vni 100 1.1.1.1 > 2.2.2.2"]),
    ]
    assert demos.journey_shows(hops, "h1:eth0")
    assert not demos.journey_shows(hops, "h1:eth1")
    assert demos.journey_shows(hops, "ttl")
    assert not demos.journey_shows(hops[:1], "ttl")  # a TTL alone is no decrement
    assert demos.journey_shows(hops, "vni 100") and demos.journey_shows(hops, "vxlan")
    assert not demos.journey_shows(hops, "udp")


def test_program_hops_are_placed_next_to_the_kernels_sighting() -> None:
    kernel = [
        _hop("a", "tun0", "out", ts=10.0),
        _hop("a", "eth0", "out", ts=10.0002),
        _hop("b", "tun0", "in", ts=10.0009),
    ]
    read = {**_hop("a", "tun0", "tun->udp"), "ts": 10.0005, "app": "tunnel"}
    written = {**_hop("b", "tun0", "udp->tun"), "ts": 10.0012, "app": "tunnel"}
    placed = demos._anchor(kernel, [read, written])
    order = sorted(kernel + placed, key=lambda h: h["ts"])
    assert [(h["node"], h["interface"], h["direction"]) for h in order] == [
        ("a", "tun0", "out"),
        ("a", "tun0", "tun->udp"),
        ("a", "eth0", "out"),
        ("b", "tun0", "udp->tun"),
        ("b", "tun0", "in"),
    ]
    assert read["trace_ts"] == 10.0005  # the program's own clock is kept
