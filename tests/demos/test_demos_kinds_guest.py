"""The device kinds' demos (``lab/demos/catalog_kinds.py``): bond failover, VLAN trunk,
MACsec on the wire, CAN buses, ipvlan against macvlan.

The ``guest`` tests deploy each demo with the engine and run it with
``worker.demos.run_demo``: on this machine's kernel they skip naming the module, and the
test guest (Debian's full kernel under qemu) runs them for real. The other tests run
here: the catalog's consistency, what a host without the modules lacks, and the pure
helpers of the views (the API's "needs bonding": ``test_demos_kinds_api.py``; the guest
has no Django).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

import pytest

from lab.demos import DEMOS, Demo, get_demo
from lab.demos.catalog_kinds import KIND_DEMOS, missing_modules, required_modules
from lab.topology.load import load_topology
from worker import checks, demos, engine

HOST_KINDS = ("veth", "bridge", "vxlan", "macvlan", "macvtap", "tap", "tun")  # DESIGN.md


def kind_demo(slug: str) -> Demo:
    demo = get_demo(slug)
    assert demo is not None and demo in KIND_DEMOS
    return demo


# -- here: the catalog and what a host without the modules says ---------------------------


@pytest.mark.parametrize("demo", KIND_DEMOS, ids=lambda d: d.slug)
def test_kind_demo_entry_is_consistent(demo: Demo) -> None:
    assert demo in DEMOS  # registered in the library
    topology = load_topology(demo.topology)
    names = {n.name for n in topology.nodes}
    assert {p.src for p in demo.probes} <= names
    if demo.journey is not None:
        assert demo.journey.src in names
    assert set(demo.show) <= {"fdb", "matrix", *demos.KIND_VIEWS}
    assert demo.probes or "can" in demo.show  # every demo does something when run


@pytest.mark.parametrize(
    ("slug", "missing"),
    [
        ("bond-failover", ("bonding",)),
        ("vlan-trunk", ("8021q", "bridge (CONFIG_BRIDGE_VLAN_FILTERING)")),
        ("macsec-wire", ("macsec",)),
        ("can-bus", ("vcan", "vxcan")),
        ("ipvlan-vs-macvlan", ("ipvlan",)),
    ],
)
def test_on_this_machines_kernel_each_demo_names_what_it_lacks(
    slug: str, missing: tuple[str, ...]
) -> None:
    demo = kind_demo(slug)
    assert missing_modules(demo, HOST_KINDS) == missing
    assert set(missing) <= set(required_modules(demo))
    # A host with every kind lacks nothing.
    assert missing_modules(demo, load_topology(demo.topology).link_kinds()) == ()


def _pcap(*frames: bytes) -> bytes:
    head = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    body = b"".join(struct.pack("<IIII", 0, 0, len(f), len(f)) + f for f in frames)
    return head + body


def test_frames_are_counted_by_what_the_wire_shows() -> None:
    mac = b"\x02" * 12
    icmp = mac + b"\x08\x00" + bytes([0x45, 0, 0, 28, 0, 0, 0, 0, 64, 1]) + b"\x00" * 18
    macsec = mac + b"\x88\xe5" + b"\x2c" * 40
    # As a capture on a VLAN trunk has it: the 802.1Q tag before the IP packet.
    tagged = mac + b"\x81\x00\x00\x0a" + icmp[12:]
    # A parent's own IPv6 neighbour discovery (ICMPv6) is not a ping.
    icmp6 = mac + b"\x86\xdd" + bytes([0x60, 0, 0, 0, 0, 8, 58, 255]) + b"\xfe" * 32 + b"\x85" * 8
    packets = checks.read_pcap(_pcap(icmp, macsec, tagged, icmp6, b"short"))
    assert demos.frame_kinds(packets) == {"frames": 5, "macsec": 1, "icmp": 2}


def test_ping_counts_and_can_argv() -> None:
    text = "...\n15 packets transmitted, 13 received, 13% packet loss, time 2807ms\n"
    assert demos.ping_counts(text) == (15, 13)
    assert demos.ping_counts("ping: connect: Network is unreachable") == (0, 0)
    argv = demos.can_argv("send", "vxc0", 0x42, b"hi")
    assert argv[1:3] == ["-I", "-c"] and argv[-4:] == ["send", "vxc0", "42", "6869"]


# -- in the guest: each demo runs as its explanation says -----------------------------------


def needs(demo: Demo) -> None:
    """Skip, naming the modules, when this kernel lacks what ``demo`` needs."""
    missing = missing_modules(demo, engine.host_facts().kinds)
    if missing:
        pytest.skip(f"this kernel lacks {', '.join(missing)} (the test guest runs this test)")


def run(slug: str, lab_key: Callable[[], str]) -> dict[str, Any]:
    demo = kind_demo(slug)
    needs(demo)
    key = lab_key()
    topology = load_topology(demo.topology)
    engine.deploy(topology, key)
    result = demos.run_demo(key, demo, topology).to_json()
    failed = [p for p in result["probes"] if not p["passed"]]
    assert not failed and not result["errors"], (failed, result["errors"], result["views"])
    return result


@pytest.mark.kernel
@pytest.mark.guest
def test_bond_failover_keeps_the_ping_going(lab_key: Callable[[], str]) -> None:
    result = run("bond-failover", lab_key)
    bond = result["views"]["bond"]
    assert bond["active_before"] == "eth0" and bond["active_after"] == "eth1", bond
    assert bond["sent"] == demos.FAILOVER_PINGS and bond["received"] >= bond["sent"] - 3, bond
    assert result["passed"], result
    # The member came back: with it up, the bond returns to its primary.
    assert demos.active_member(result["lab"], "srv", "bond0") in ("eth0", "eth1")


@pytest.mark.kernel
@pytest.mark.guest
def test_vlan_trunk_carries_two_vlans_and_isolates_them(lab_key: Callable[[], str]) -> None:
    result = run("vlan-trunk", lab_key)
    outcome = {p["label"]: p["reached"] for p in result["probes"]}
    assert outcome == {
        "h1 → trk (VLAN 10)": True,
        "h2 → trk (VLAN 20)": True,
        "h3 → h1 (other VLAN)": False,
        "h3 → trk's VLAN 10": False,
    }
    assert result["passed"], result


@pytest.mark.kernel
@pytest.mark.guest
def test_macsec_wire_is_ciphertext_and_the_device_plaintext(lab_key: Callable[[], str]) -> None:
    result = run("macsec-wire", lab_key)
    view = result["views"]["macsec"]
    assert view["wire_counts"]["macsec"] >= 2 and view["wire_counts"]["icmp"] == 0, view
    assert view["device_counts"]["icmp"] >= 2 and view["device_counts"]["macsec"] == 0, view
    assert any("ICMP echo request" in line for line in view["device_lines"]), view
    # (ICMP6 there is the parent's own neighbour discovery, sent in the clear.)
    assert not any("ICMP echo" in line for line in view["wire_lines"]), view
    assert result["passed"], result


@pytest.mark.kernel
@pytest.mark.guest
def test_can_frames_cross_vcan_and_vxcan(lab_key: Callable[[], str]) -> None:
    result = run("can-bus", lab_key)
    frames = {f["kind"]: f for f in result["views"]["can"]["frames"]}
    assert frames["vcan"]["received"] == {"id": 0x123, "data": "0102"}, frames
    assert frames["vxcan"]["received"] == {"id": 0x42, "data": b"topolab".hex()}, frames
    assert (frames["vxcan"]["from"], frames["vxcan"]["to"]) == ("ecu:vxc0", "dash:vxc0")
    assert result["passed"], result


@pytest.mark.kernel
@pytest.mark.guest
def test_ipvlan_children_share_one_mac_and_macvlan_children_have_one_each(
    lab_key: Callable[[], str],
) -> None:
    result = run("ipvlan-vs-macvlan", lab_key)
    view = result["views"]["macs"]
    by_child = {c["child"]: c for c in view["children"]}
    assert by_child["ip1:ipv0"]["mac"] == by_child["ip2:ipv0"]["mac"]
    assert by_child["ip1:ipv0"]["mac"] == by_child["ip1:ipv0"]["parent_mac"]
    assert by_child["mv1:mv0"]["mac"] != by_child["mv2:mv0"]["mac"]
    assert by_child["mv1:mv0"]["mac"] != by_child["mv1:mv0"]["parent_mac"]
    # ext's ARP table: two addresses at one MAC on the ipvlan wire.
    ipvlan_wire = next(n for n in view["neighbours"] if n["interface"] == "eth0")
    macs = {e["address"]: e["mac"] for e in ipvlan_wire["entries"]}
    assert macs.get("10.81.0.1") is not None and macs.get("10.81.0.1") == macs.get("10.81.0.2")
    assert result["passed"], result
