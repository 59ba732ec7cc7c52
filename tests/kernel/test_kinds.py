"""Every device kind of the seed articles, built by the engine from a topology document.

Each test deploys a lab, sends traffic through the kind, checks that a second apply is
empty, and leaves the ``lab_key`` finalizer to destroy it and check nothing is left.
They are ``guest`` tests: on a host whose kernel lacks a module they skip naming it,
and the test guest (Debian's full kernel under qemu) runs them for real.
"""

from __future__ import annotations

import errno
import os
import select
import socket
from collections.abc import Callable
from typing import Any

import pytest

from lab.topology import naming
from tests.kernel.conftest import topo
from tests.kernel.nsnet import (
    ETH_P_MACSEC,
    Capture,
    can_echo,
    ethertype,
    eventually,
    socket_in,
    udp_roundtrip,
)
from worker import engine
from worker.facts import TEAM_RUNNERS, HostFacts
from worker.kernel import KernelError, default_kernel

pytestmark = [pytest.mark.kernel, pytest.mark.guest]

KEY_A = "000102030405060708090a0b0c0d0e0f"
KEY_B = "f0e0d0c0b0a090807060504030201000"


def needs(*kinds: str) -> None:
    """Skip, naming the module, when this kernel lacks one of ``kinds``."""
    facts = engine.host_facts()
    missing = sorted({m for k in kinds if (m := facts.missing_module(k)) is not None})
    if missing:
        pytest.skip(f"this kernel lacks {', '.join(missing)} (the test guest runs this test)")


def host(name: str, *ifaces: tuple[str, str], **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "interfaces": [{"name": n, "addresses": [a] if a else []} for n, a in ifaces],
        **extra,
    }


def build(key: str, doc: dict[str, Any]) -> Callable[[str], str]:
    """Deploy ``doc`` as lab ``key``; check a second apply has nothing to do; return ns_of."""
    t = topo(doc)
    engine.deploy(t, key)
    again = engine.plan_for(t, key)
    if again.ops:
        found = {
            f"{ns.node}:{link.name}": (link.kind, link.master, link.info)
            for ns in engine.discover(key).namespaces
            for link in ns.links
        }
        pytest.fail(f"a second apply must be a no-op: {again.describe()}\nthe kernel has {found}")
    return lambda node: naming.namespace_name(key, node)


def link_of(key: str, node: str, name: str) -> Any:
    state = engine.discover(key).node(node)
    assert state is not None
    link = state.link(name)
    assert link is not None, f"{node}:{name} is missing"
    return link


def test_dummy_holds_an_address_others_reach(lab_key) -> None:
    needs("dummy")
    key = lab_key()
    ns = build(
        key,
        {
            "name": "dummy",
            "nodes": [
                host("a", ("eth0", "10.75.1.1/30"), ("dum0", "10.75.0.1/32")),
                host(
                    "b",
                    ("eth0", "10.75.1.2/30"),
                    routes=[{"dst": "10.75.0.1/32", "via": "10.75.1.1"}],
                ),
            ],
            "links": [{"a": "a:eth0", "b": "b:eth0"}, {"kind": "dummy", "endpoint": "a:dum0"}],
        },
    )
    assert link_of(key, "a", "dum0").kind == "dummy"
    assert udp_roundtrip(ns("b"), ns("a"), "10.75.0.1")


def test_vlan_sub_interfaces_carry_their_vlan_only(lab_key) -> None:
    needs("vlan")
    key = lab_key()
    vlan = lambda node, name, vid: {  # noqa: E731
        "kind": "vlan", "endpoint": f"{node}:{name}", "parent": "eth0", "vlan_id": vid,
    }  # fmt: skip
    ns = build(
        key,
        {
            "name": "vlans",
            "nodes": [
                host("a", ("eth0", ""), ("eth0.10", "10.74.0.1/24"), ("eth0.20", "10.76.0.1/24")),
                # b's eth0.30 has a's VLAN-20 subnet on another VLAN id: it must not answer.
                host("b", ("eth0", ""), ("eth0.10", "10.74.0.2/24"), ("eth0.30", "10.76.0.2/24")),
            ],
            "links": [
                {"a": "a:eth0", "b": "b:eth0"},
                vlan("a", "eth0.10", 10), vlan("a", "eth0.20", 20),
                vlan("b", "eth0.10", 10), vlan("b", "eth0.30", 30),
            ],
        },
    )  # fmt: skip
    v10 = link_of(key, "a", "eth0.10")
    assert (v10.kind, v10.get("vlan_id"), v10.get("protocol")) == ("vlan", "10", "802.1Q")
    assert udp_roundtrip(ns("a"), ns("b"), "10.74.0.2")
    assert not udp_roundtrip(ns("a"), ns("b"), "10.76.0.2", tries=1)


def test_vlan_trunk_through_a_filtering_bridge(lab_key) -> None:
    needs("vlan", "bridge-vlan")
    key = lab_key()
    ns = build(
        key,
        {
            "name": "trunk",
            "nodes": [
                host("t", ("eth0", ""), ("eth0.10", "10.10.0.1/24"), ("eth0.20", "10.20.0.1/24")),
                {
                    "name": "s",
                    "bridges": [{"name": "br0", "vlan_filtering": True}],
                    "interfaces": [
                        {"name": "p1", "bridge": "br0", "vlans": [10, 20]},
                        {"name": "p2", "bridge": "br0", "pvid": 10},
                        {"name": "p3", "bridge": "br0", "pvid": 20},
                    ],
                },
                host("h1", ("eth0", "10.10.0.2/24")),
                # In h1's subnet, but on VLAN 20: isolated from h1 and from t's VLAN 10.
                host("h3", ("eth0", "10.10.0.3/24")),
            ],
            "links": [
                {"a": "t:eth0", "b": "s:p1"},
                {"a": "h1:eth0", "b": "s:p2"},
                {"a": "h3:eth0", "b": "s:p3"},
                {"kind": "vlan", "endpoint": "t:eth0.10", "parent": "eth0", "vlan_id": 10},
                {"kind": "vlan", "endpoint": "t:eth0.20", "parent": "eth0", "vlan_id": 20},
            ],
        },
    )
    p1, p2 = link_of(key, "s", "p1"), link_of(key, "s", "p2")
    assert (p1.get("vlans"), p1.get("pvid")) == ("10,20", None)
    assert (p2.get("vlans"), p2.get("pvid")) == ("", "10")
    assert udp_roundtrip(ns("h1"), ns("t"), "10.10.0.1")
    assert not udp_roundtrip(ns("h3"), ns("t"), "10.10.0.1", tries=1)
    assert not udp_roundtrip(ns("h3"), ns("h1"), "10.10.0.2", tries=1)


def _aggregate_doc(kind: str, opts: dict[str, Any]) -> dict[str, Any]:
    # a's two members go to switch s, b hangs on s: what a bond usually faces. Back to
    # back, tlb/alb and the backup modes drop what arrives on the peer's inactive port.
    dev = "bond0" if kind == "bond" else "team0"
    return {
        "name": kind,
        "nodes": [
            host("a", ("eth0", ""), ("eth1", ""), (dev, "10.70.0.1/24")),
            {"name": "s", "kind": "switch",
             "interfaces": [{"name": "p1"}, {"name": "p2"}, {"name": "p3"}]},
            host("b", ("eth0", "10.70.0.2/24")),
        ],
        "links": [
            {"a": "a:eth0", "b": "s:p1"},
            {"a": "a:eth1", "b": "s:p2"},
            {"a": "b:eth0", "b": "s:p3"},
            {"kind": kind, "endpoint": f"a:{dev}", "members": ["eth0", "eth1"], **opts},
        ],
    }  # fmt: skip


@pytest.mark.parametrize(
    "mode",
    ["balance-rr", "active-backup", "balance-xor", "broadcast", "802.3ad", "balance-tlb",
     "balance-alb"],
)  # fmt: skip
def test_bond_modes_carry_traffic(lab_key, mode: str) -> None:
    needs("bond")
    key = lab_key()
    ns = build(key, _aggregate_doc("bond", {"mode": mode, "miimon": 50}))
    bond = link_of(key, "a", "bond0")
    assert (bond.kind, bond.get("mode"), bond.get("miimon")) == ("bond", mode, "50")
    assert link_of(key, "a", "eth0").master == "bond0"
    assert eventually(lambda: udp_roundtrip(ns("a"), ns("b"), "10.70.0.2", tries=1), 10)


def test_bond_fails_over_to_the_other_member(lab_key) -> None:
    needs("bond")
    key = lab_key()
    opts = {"mode": "active-backup", "miimon": 50, "primary": "eth1"}
    ns = build(key, _aggregate_doc("bond", opts))
    assert link_of(key, "a", "bond0").get("primary") == "eth1"
    assert udp_roundtrip(ns("a"), ns("b"), "10.70.0.2")
    default_kernel().link_set(ns("a"), "eth1", up=False)  # the primary goes down
    try:
        assert eventually(lambda: udp_roundtrip(ns("a"), ns("b"), "10.70.0.2", tries=1), 10)
    finally:
        default_kernel().release()


@pytest.mark.parametrize("runner", ["roundrobin", "activebackup", "loadbalance"])
def test_team_runners_carry_traffic(lab_key, runner: str) -> None:
    needs("team")
    key = lab_key()
    opts = {"runner": runner, **({"primary": "eth1"} if runner == "activebackup" else {})}
    ns = build(key, _aggregate_doc("team", opts))
    team = link_of(key, "a", "team0")
    assert (team.kind, team.get("runner")) == ("team", runner)
    if runner == "activebackup":
        assert team.get("active") == "eth1"
    assert link_of(key, "a", "eth1").master == "team0"
    assert eventually(lambda: udp_roundtrip(ns("a"), ns("b"), "10.70.0.2", tries=1), 10)


def _child_doc(kind: str, mode: str) -> dict[str, Any]:
    # The child lives in its own node c, on h's wire towards r; r routes c's subnet via h.
    return {
        "name": kind,
        "nodes": [
            host(
                "r", ("eth0", "10.72.0.2/24"), routes=[{"dst": "10.80.0.0/24", "via": "10.72.0.1"}]
            ),
            host("h", ("eth0", "10.72.0.1/24")),
            host("c", ("ipv0", "10.80.0.5/24"), routes=[{"dst": "10.72.0.0/24", "dev": "ipv0"}]),
        ],
        "links": [
            {"a": "r:eth0", "b": "h:eth0"},
            {"kind": kind, "endpoint": "c:ipv0", "parent": "h:eth0", "mode": mode},
        ],
    }


@pytest.mark.parametrize("mode", ["l2", "l3", "l3s"])
def test_ipvlan_child_in_another_node_shares_its_parents_mac(lab_key, mode: str) -> None:
    needs("ipvlan")
    key = lab_key()
    ns = build(key, _child_doc("ipvlan", mode))
    child, parent = link_of(key, "c", "ipv0"), link_of(key, "h", "eth0")
    assert (child.kind, child.get("mode")) == ("ipvlan", mode)
    assert child.mac == parent.mac  # ipvlan: one MAC for every child
    assert udp_roundtrip(ns("c"), ns("r"), "10.72.0.2")


def test_ipvtap_hands_frames_to_its_character_device(lab_key) -> None:
    needs("ipvtap")
    key = lab_key()
    ns = build(key, _child_doc("ipvtap", "l2"))
    child = link_of(key, "c", "ipv0")
    assert child.kind == "ipvtap"
    # What arrives for the child goes to /dev/tap<ifindex>, not to c's stack.
    fd = os.open(f"/dev/tap{child.ifindex}", os.O_RDWR | os.O_NONBLOCK)
    try:
        marker = os.urandom(8)
        tx = socket_in(ns("r"), socket.AF_INET, socket.SOCK_DGRAM)
        try:

            def arrived() -> bool:
                tx.sendto(marker, ("10.80.0.5", 9))
                ready, _, _ = select.select([fd], [], [], 1)
                while ready:
                    try:
                        if marker in os.read(fd, 65536):
                            return True
                    except BlockingIOError:
                        return False
                return False

            assert eventually(arrived, 5)
        finally:
            tx.close()
    finally:
        os.close(fd)


def _macsec_doc(encrypt: bool, b_accepts: str = KEY_A) -> dict[str, Any]:
    return {
        "name": "macsec",
        "nodes": [
            host("a", ("eth0", ""), ("ms0", "10.73.0.1/24")),
            host("b", ("eth0", ""), ("ms0", "10.73.0.2/24")),
        ],
        "links": [
            {"a": "a:eth0", "b": "b:eth0"},
            {"kind": "macsec", "endpoint": "a:ms0", "parent": "eth0", "encrypt": encrypt,
             "tx": {"key": KEY_A}, "rx": [{"peer": "b:ms0", "key": {"key": KEY_B}}]},
            {"kind": "macsec", "endpoint": "b:ms0", "parent": "eth0", "encrypt": encrypt,
             "tx": {"key": KEY_B}, "rx": [{"peer": "a:ms0", "key": {"key": b_accepts}}]},
        ],
    }  # fmt: skip


@pytest.mark.parametrize("encrypt", [True, False])
def test_macsec_protects_the_wire(lab_key, encrypt: bool) -> None:
    needs("macsec")
    key = lab_key()
    ns = build(key, _macsec_doc(encrypt))
    ms = link_of(key, "a", "ms0")
    assert (ms.kind, ms.get("cipher"), ms.get("encrypt")) == (
        "macsec", "gcm-aes-128", "1" if encrypt else "0",
    )  # fmt: skip
    assert udp_roundtrip(ns("a"), ns("b"), "10.73.0.2")
    capture = Capture(ns("b"), "eth0")
    try:
        marker = b"topolab-plaintext-marker"
        tx = socket_in(ns("a"), socket.AF_INET, socket.SOCK_DGRAM)
        tx.sendto(marker, ("10.73.0.2", 9))
        tx.close()
        frames = [f for f in capture.frames() if ethertype(f) == ETH_P_MACSEC]
    finally:
        capture.close()
    assert frames, "no MACsec frame on the wire"
    # Encrypted: the payload is unreadable on the wire; authenticated only: it is readable.
    assert any(marker in f for f in frames) is (not encrypt)


def test_macsec_drops_frames_under_a_key_it_does_not_hold(lab_key) -> None:
    needs("macsec")
    key = lab_key()
    # b accepts a's channel only with the wrong key: a's frames fail authentication.
    ns = build(key, _macsec_doc(True, b_accepts=KEY_B))
    assert not udp_roundtrip(ns("a"), ns("b"), "10.73.0.2", tries=1)


def test_macsec_key_edit_applies_live(lab_key) -> None:
    needs("macsec")
    key = lab_key()
    build(key, _macsec_doc(True))
    new = _macsec_doc(True)
    new["links"][1]["tx"] = {"key": KEY_B}
    new["links"][2]["rx"] = [{"peer": "a:ms0", "key": {"key": KEY_B}}]
    plan = engine.plan_for(topo(new), key)
    assert any("make macsec" in line for line in plan.describe())
    ns = build(key, new)
    assert udp_roundtrip(ns("a"), ns("b"), "10.73.0.2")


def test_vcan_delivers_frames_to_other_sockets(lab_key) -> None:
    needs("vcan")
    key = lab_key()
    ns = build(key, {"name": "vcan", "nodes": [host("a", ("can0", ""))],
                     "links": [{"kind": "vcan", "endpoint": "a:can0"}]})  # fmt: skip
    assert link_of(key, "a", "can0").kind == "vcan"
    can0 = (ns("a"), "can0")
    assert can_echo(can0, can0, 0x123, b"\x01\x02") == (0x123, b"\x01\x02")


def test_vxcan_tunnels_frames_between_nodes(lab_key) -> None:
    needs("vxcan")
    key = lab_key()
    ns = build(
        key,
        {"name": "vxcan", "nodes": [host("a", ("vxc0", "")), host("b", ("vxc0", ""))],
         "links": [{"kind": "vxcan", "a": "a:vxc0", "b": "b:vxc0"}]},
    )  # fmt: skip
    assert link_of(key, "b", "vxc0").kind == "vxcan"
    assert can_echo((ns("a"), "vxc0"), (ns("b"), "vxc0"), 0x42, b"topolab") == (0x42, b"topolab")


def test_a_second_upper_on_one_device_is_refused_by_the_kernel(lab_key) -> None:
    # What validation's link.rx_handler_busy stands for: macsec on a veth with an ipvlan.
    needs("ipvlan", "macsec")
    key = lab_key()
    ns = build(key, _child_doc("ipvlan", "l2"))
    with pytest.raises(KernelError) as caught:
        default_kernel().macsec_add(ns("h"), "ms0", "x", "eth0", 1, "gcm-aes-128", True)
    default_kernel().release()
    assert caught.value.errno == errno.EBUSY


def test_each_team_mode_is_probed_up_front() -> None:
    # The team driver loads team_mode_<runner> only when a device gets that mode: the
    # early check knows each mode, so a missing one fails before anything is touched.
    needs("team")
    facts = engine.host_facts()
    assert facts.team_modes == set(TEAM_RUNNERS), facts.team_modes
    doc = _aggregate_doc("team", {"runner": "roundrobin"})
    assert facts.missing_team_mode(topo(doc)) is None


def test_a_missing_team_mode_is_named_before_anything_is_touched() -> None:
    # What a kernel with team but without team_mode_roundrobin reports (pure facts).
    lacking = HostFacts(kinds=frozenset({"veth", "bridge", "team"}),
                        team_modes=frozenset(TEAM_RUNNERS) - {"roundrobin"})  # fmt: skip
    roundrobin = topo(_aggregate_doc("team", {"runner": "roundrobin"}))
    assert lacking.missing_team_mode(roundrobin) == ("team", "team_mode_roundrobin")
    backup = topo(_aggregate_doc("team", {"runner": "activebackup"}))
    assert lacking.missing_team_mode(backup) is None
    # Facts that never probed the modes refuse nothing for them (the apply finds out).
    assert HostFacts(kinds=lacking.kinds).missing_team_mode(roundrobin) is None
