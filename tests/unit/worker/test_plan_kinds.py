"""The seed articles' kinds through planner, ops and executor, on the fake kernel (pure)."""

from __future__ import annotations

import copy
import errno
import json
from pathlib import Path
from typing import Any

import pytest

from lab.topology import naming
from lab.topology.load import load_topology
from lab.topology.schema import KERNEL_MODULES, MacsecKey, Topology
from worker import executor
from worker.facts import HostFacts
from worker.kernel.base import MacsecSA, Shaping
from worker.kernel.errors import KernelError
from worker.kernel.fake import FakeKernel
from worker.ops import (
    MakeBond,
    MakeDummy,
    MakeIpvlan,
    MakeMacsec,
    MakeTeam,
    MakeVeth,
    MakeVlan,
    MakeVxcan,
    SetMacsecRx,
    SetMaster,
    SetPortVlans,
    SetShaping,
    SetUp,
    UnsupportedKindError,
    op_from_json,
)
from worker.plan import Plan, macsec_key_id, plan
from worker.state import LabState, discover

LAB = "k1"
ALL = HostFacts(kinds=frozenset({*KERNEL_MODULES, "tap", "tun"}))
SEED = Path(__file__).resolve().parents[2] / "fixtures" / "topologies" / "valid" / "seed-kinds.json"
KEY_A = "000102030405060708090a0b0c0d0e0f"
KEY_B = "f0e0d0c0b0a090807060504030201000"


def ns(node: str) -> str:
    return naming.namespace_name(LAB, node)


def deploy(k: FakeKernel, t: Topology, facts: HostFacts = ALL) -> Plan:
    p = plan(t, discover(LAB, k), facts, LAB)
    executor.apply(p, k)
    return p


def seed() -> dict[str, Any]:
    return json.loads(SEED.read_text())


def kinds_of(p: Plan) -> list[str]:
    return [type(op).__name__ for op in p.ops]


@pytest.fixture(autouse=True)
def _var(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TOPOLAB_VAR_DIR", str(tmp_path))


def test_every_seed_kind_is_built_and_a_second_plan_is_empty() -> None:
    k = FakeKernel()
    first = deploy(k, load_topology(seed()))
    made = {type(op).__name__ for op in first.ops}
    assert {"MakeBond", "MakeTeam", "MakeIpvlan", "MakeMacsec", "MakeVlan", "MakeDummy", "MakeVcan",
            "MakeVxcan", "SetTeamPorts", "SetMacsecRx", "SetPortVlans"} <= made  # fmt: skip
    state = discover(LAB, k)
    a, b = state.node("a"), state.node("b")
    assert a is not None and b is not None
    assert a.link("eth0").master == "bond0" and a.link("eth2").master == "team0"
    assert a.link("bond0").get("primary") == "eth1"
    assert a.link("team0").get("active") == "eth3"
    assert a.link("eth3").mac == a.link("team0").mac  # ports carry the team's MAC
    assert b.link("eth6").get("vlans") == "10,20" and b.link("eth7").get("pvid") == "10"
    assert b.link("vxc0").kind == "vxcan"
    assert plan(load_topology(seed()), state, ALL, LAB).ops == ()


def test_devices_come_after_what_they_need() -> None:
    doc = seed()
    # A vlan on the bond: bond after its members, the vlan after the bond.
    doc["nodes"][0]["interfaces"].append({"name": "bond0.7", "addresses": ["10.77.0.1/24"]})
    doc["links"].append({"kind": "vlan", "endpoint": "a:bond0.7", "parent": "bond0", "vlan_id": 7})
    p = plan(load_topology(doc), LabState(LAB), ALL, LAB)
    order = {
        (type(op).__name__, getattr(op, "ns", ""), getattr(op, "name", "")): i
        for i, op in enumerate(p.ops)
    }
    veth = next(i for (kind, n, name), i in order.items() if kind == "MakeVeth" and name == "eth1")
    bond = order[("MakeBond", ns("a"), "bond0")]
    vlan = order[("MakeVlan", ns("a"), "bond0.7")]
    macsec = order[("MakeMacsec", ns("a"), "ms0")]
    veth5 = next(i for (kind, n, name), i in order.items() if kind == "MakeVeth" and name == "eth5")
    enslave = order[("SetMaster", ns("a"), "eth0")]
    assert veth < bond < vlan < enslave
    assert veth5 < macsec
    # The team's ports get the team's MAC after they are its ports.
    assert order[("SetTeamPorts", ns("a"), "team0")] > order[("SetMaster", ns("a"), "eth3")]


def _vlan_doc(peer: str) -> dict[str, Any]:
    return {
        "name": "v",
        "nodes": [
            {"name": "a", "interfaces": [{"name": "eth0"}, {"name": "eth0.10"}]},
            {"name": "b", "interfaces": [{"name": "eth0"}]},
            {"name": "c", "interfaces": [{"name": "eth0"}]},
        ],
        "links": [
            {"a": "a:eth0", "b": f"{peer}:eth0"},
            {"kind": "vlan", "endpoint": "a:eth0.10", "parent": "eth0", "vlan_id": 10},
        ],
    }


def test_a_child_is_made_again_with_its_parent() -> None:
    k = FakeKernel()
    deploy(k, load_topology(_vlan_doc("b")))
    # The veth now goes to c: it is made again, and the kernel takes the vlan with it.
    p = deploy(k, load_topology(_vlan_doc("c")))
    assert any(isinstance(op, MakeVlan) for op in p.ops)
    state = discover(LAB, k)
    assert state.node("a").link("eth0.10") is not None
    assert plan(load_topology(_vlan_doc("c")), state, ALL, LAB).ops == ()


def test_a_remade_bond_gets_its_members_back() -> None:
    k = FakeKernel()
    deploy(k, load_topology(seed()))
    doc = seed()
    doc["links"][2]["mode"] = "balance-xor"
    doc["links"][2].pop("primary")
    p = deploy(k, load_topology(doc))
    assert MakeBond(ns=ns("a"), name="bond0", lab=LAB, mode="balance-xor", miimon=50) in p.ops
    assert SetMaster(ns("a"), "eth0", "bond0") in p.ops
    assert discover(LAB, k).node("a").link("eth1").master == "bond0"
    assert plan(load_topology(doc), discover(LAB, k), ALL, LAB).ops == ()


def test_a_remade_team_takes_back_ports_that_are_up() -> None:
    k = FakeKernel()
    deploy(k, load_topology(seed()))
    doc = seed()
    doc["links"][6]["runner"] = "roundrobin"  # a team's mode changes only without ports
    p = deploy(k, load_topology(doc))
    assert MakeTeam(ns("a"), "team0", LAB, "roundrobin") in p.ops
    a = discover(LAB, k).node("a")
    assert a.link("eth2").master == "team0" and a.link("eth2").up  # taken down and up again
    assert a.link("team0").get("active") is None
    assert plan(load_topology(doc), discover(LAB, k), ALL, LAB).ops == ()


def test_set_master_bounces_a_port_only_for_ebusy() -> None:
    k = FakeKernel()
    k.ns_create("n", "topolab:x:n")
    k.veth_add("n", "e0", "n", "e1", "topolab:x")
    k.team_add("n", "t0", "topolab:x", "roundrobin")
    k.link_set("n", "e0", up=True)
    with pytest.raises(KernelError) as caught:
        k.link_set("n", "e0", master="t0")
    assert caught.value.errno == errno.EBUSY  # what the team driver says about an up port
    SetMaster("n", "e0", "t0").apply(k)
    link = k.ns_read("n").link("e0")
    assert link.master == "t0" and link.up
    with pytest.raises(KernelError) as gone:
        SetMaster("n", "e9", "t0").apply(k)
    assert gone.value.errno == errno.ENODEV


def test_macsec_peers_are_planned_from_the_peers_channel() -> None:
    k = FakeKernel()
    first = deploy(k, load_topology(seed()))
    rx = [op for op in first.ops if isinstance(op, SetMacsecRx)]
    assert {(op.name, op.peer_ns, op.peer, op.peer_port) for op in rx} == {
        ("ms0", ns("b"), "ms0", 1),
        ("ms0", ns("a"), "ms0", 1),
    }
    b_ms0 = discover(LAB, k).node("b").link("ms0")
    a_mac = discover(LAB, k).node("a").link("ms0").mac.replace(":", "")
    assert ("rx", f"{a_mac}0001:0:{macsec_key_id(MacsecKey(key=KEY_A))}") in b_ms0.info
    # A new transmit key on a: a's device is made again and b accepts the new key.
    doc = seed()
    doc["links"][11]["tx"] = {"key": KEY_B}
    doc["links"][12]["rx"] = [{"peer": "a:ms0", "key": {"key": KEY_B}}]
    p = deploy(k, load_topology(doc))
    assert any(isinstance(op, MakeMacsec) and op.ns == ns("a") for op in p.ops)
    assert any(isinstance(op, SetMacsecRx) and op.ns == ns("b") for op in p.ops)
    assert plan(load_topology(doc), discover(LAB, k), ALL, LAB).ops == ()


def test_port_vlans_are_set_and_edited() -> None:
    k = FakeKernel()
    deploy(k, load_topology(seed()))
    doc = seed()
    b = doc["nodes"][1]
    next(i for i in b["interfaces"] if i["name"] == "eth6")["vlans"] = [10, 30]
    p = deploy(k, load_topology(doc))
    assert p.ops == (SetPortVlans(ns("b"), "eth6", (10, 30), None),)
    assert discover(LAB, k).node("b").link("eth6").get("vlans") == "10,30"


def test_port_vlans_need_a_filtering_bridge() -> None:
    k = FakeKernel()
    k.ns_create("n", "topolab:x:n")
    k.bridge_add("n", "br0", "topolab:x")
    k.veth_add("n", "e0", "n", "e1", "topolab:x")
    k.link_set("n", "e0", master="br0")
    with pytest.raises(KernelError) as caught:
        k.port_vlans_set("n", "e0", (10,), None)
    assert caught.value.errno == errno.EOPNOTSUPP


@pytest.mark.parametrize(
    ("kind", "module"),
    [("team", "team"), ("ipvtap", "ipvtap"), ("dummy", "dummy"), ("vxcan", "vxcan"),
     ("bridge-vlan", "bridge (CONFIG_BRIDGE_VLAN_FILTERING)")],
)  # fmt: skip
def test_a_missing_kind_is_refused_naming_its_module(kind: str, module: str) -> None:
    lacking = HostFacts(kinds=ALL.kinds - {kind})
    with pytest.raises(UnsupportedKindError) as caught:
        plan(load_topology(seed()), LabState(LAB), lacking, LAB)
    assert caught.value.module == module and module in caught.value.message


def test_new_ops_round_trip_through_json_and_hide_keys() -> None:
    p = plan(load_topology(seed()), LabState(LAB), ALL, LAB)
    assert Plan.from_json(json.loads(json.dumps(p.to_json()))) == p
    for op in p.ops:
        assert op_from_json(op.to_json()) == op
    text = "\n".join(p.describe())
    assert KEY_A not in text and KEY_B not in text  # keys travel in ops, never in lines


def test_key_ids_follow_the_key_unless_given() -> None:
    assert macsec_key_id(MacsecKey(key=KEY_A)) != macsec_key_id(MacsecKey(key=KEY_B))
    assert len(macsec_key_id(MacsecKey(key=KEY_A))) == 32
    assert macsec_key_id(MacsecKey(key=KEY_A, key_id="AB")) == "ab" + "0" * 30


def test_the_fake_gives_each_device_one_upper() -> None:
    k = FakeKernel()
    k.ns_create("n", "topolab:x:n")
    k.veth_add("n", "e0", "n", "e1", "topolab:x")
    k.ipvlan_add("n", "i0", "topolab:x", "n", "e0", "l2")
    k.ipvlan_add("n", "i1", "topolab:x", "n", "e0", "l3")  # ipvlan children share it
    for make in (
        lambda: k.macsec_add("n", "m0", "topolab:x", "e0", 1, "gcm-aes-128", True),
        lambda: k.macvlan_add("n", "v0", "topolab:x", "n", "e0", "bridge"),
    ):
        with pytest.raises(KernelError) as caught:
            make()
        assert caught.value.errno == errno.EBUSY
    k.link_delete("n", "e0")  # the parent goes: its children with it
    assert {link.name for link in k.ns_read("n").links} == {"lo"}


def test_vxcan_pairs_and_veths_are_told_apart() -> None:
    k = FakeKernel()
    t = load_topology(seed())
    deploy(k, t)
    # A veth where the vxcan was: the kind differs, so the pair is made again.
    doc = copy.deepcopy(seed())
    doc["links"][-2] = {"kind": "veth", "a": "a:vxc0", "b": "b:vxc0"}
    p = plan(load_topology(doc), discover(LAB, k), ALL, LAB)
    assert any(isinstance(op, MakeVeth) and op.name == "vxc0" for op in p.ops)
    assert not any(isinstance(op, MakeVxcan) for op in p.ops)


def test_macsec_rx_replaces_an_sa_of_the_same_number() -> None:
    k = FakeKernel()
    k.ns_create("n", "topolab:x:n")
    k.veth_add("n", "e0", "n", "e1", "topolab:x")
    k.macsec_add("n", "m0", "topolab:x", "e0", 1, "gcm-aes-128", True)
    k.macsec_rx_set("n", "m0", "02:00:00:00:00:0b", 1, MacsecSA(0, 1, KEY_A, "aa" * 16))
    k.macsec_rx_set("n", "m0", "02:00:00:00:00:0b", 1, MacsecSA(0, 1, KEY_B, "bb" * 16))
    rx = [v for key, v in k.ns_read("n").link("m0").info if key == "rx"]
    assert rx == ["02000000000b0001:0:" + "bb" * 16]


def test_other_makes_are_idempotent_by_errno() -> None:
    k = FakeKernel()
    p = plan(load_topology(seed()), LabState(LAB), ALL, LAB)
    for op in p.ops:
        op.apply(k)
    for op in p.ops:  # EEXIST on our own objects is success; the rest are ensures
        if isinstance(op, MakeDummy | MakeBond | MakeTeam | MakeIpvlan | MakeVlan | MakeVxcan):
            op.apply(k)


def _pair(a: dict[str, Any] | None = None, **link: Any) -> Topology:
    return load_topology(
        {
            "name": "p",
            "nodes": [
                {"name": "a", "interfaces": [{"name": "eth0", **(a or {})}]},
                {"name": "b", "interfaces": [{"name": "eth0"}]},
            ],
            "links": [{"a": "a:eth0", "b": "b:eth0", **link}],
        }
    )


def test_conditioning_edits_are_live_ops_on_the_same_device() -> None:
    k = FakeKernel()
    first = deploy(k, _pair(rate_mbit=10))
    assert SetShaping(ns=ns("a"), name="eth0", rate_mbit=10) in first.ops
    index = discover(LAB, k).node("a").link("eth0").ifindex
    edited = _pair({"netem": {"delay_ms": 10, "loss_pct": 20}, "up": False}, rate_mbit=5, mtu=1400)
    p = deploy(k, edited)
    assert {type(op).__name__ for op in p.ops} == {"SetShaping", "SetMtu", "SetUp"}
    assert SetUp(ns("a"), "eth0", up=False) in p.ops
    a = discover(LAB, k).node("a").link("eth0")
    assert a.ifindex == index and a.mtu == 1400 and not a.up
    assert a.get("shaping") == "rate 5mbit delay 10ms loss 20%"
    assert plan(edited, discover(LAB, k), ALL, LAB).ops == ()
    # Back to nothing: the conditioning is removed, not left behind.
    p = deploy(k, _pair(mtu=1400))
    assert SetShaping(ns=ns("a"), name="eth0") in p.ops
    assert discover(LAB, k).node("a").link("eth0").get("shaping") is None


def test_netem_needs_its_module_before_anything() -> None:
    lacking = HostFacts(kinds=ALL.kinds - {"netem"})
    with pytest.raises(UnsupportedKindError) as caught:
        plan(_pair({"netem": {"delay_ms": 1}}), LabState(LAB), lacking, LAB)
    assert caught.value.module == "sch_netem"
    assert plan(_pair(rate_mbit=10), LabState(LAB), lacking, LAB).ops  # a rate alone is tbf


def test_shaping_text_is_canonical() -> None:
    assert Shaping().text() == ""
    assert Shaping(rate_mbit=10).text() == "rate 10mbit" and not Shaping(rate_mbit=10).netem
    s = Shaping(None, 10.0, 2.5, 19.999999, 0, 5, 0.004)
    assert s.netem and s.text() == "delay 10ms jitter 2.5ms loss 20% reorder 5%"


def test_the_link_conditioning_fixture_builds_and_stays_built() -> None:
    path = SEED.with_name("link-conditioning.json")
    t = load_topology(json.loads(path.read_text()))
    k = FakeKernel()
    deploy(k, t)
    state = discover(LAB, k)
    a = state.node("a")
    assert a.link("eth0").get("shaping") == (
        "rate 50mbit delay 10ms jitter 2ms loss 1% duplicate 0.5% reorder 5% corrupt 0.1%"
    )
    assert a.link("eth0").mtu == 1400 and not a.link("eth1").up
    assert state.node("c").link("eth0").get("shaping") == "rate 100mbit"
    assert plan(t, state, ALL, LAB).ops == ()
