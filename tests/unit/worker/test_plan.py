"""The planner, ops and executor against the fake kernel (pure, fast)."""

from __future__ import annotations

import errno
import json

import pytest

from lab.topology import naming
from lab.topology.load import load_topology
from lab.topology.schema import Topology
from worker import executor
from worker.facts import HostFacts
from worker.kernel.errors import KernelError
from worker.kernel.fake import FakeKernel
from worker.ops import (
    DeleteAddress,
    DeleteLink,
    DeleteNamespace,
    DeleteRoute,
    MakeBridge,
    MakeNamespace,
    MakeVeth,
    ReplaceAddress,
    ReplaceRoute,
    SetSysctl,
    UnsupportedKindError,
    op_from_json,
)
from worker.plan import Plan, plan
from worker.state import LabState, discover

FACTS = HostFacts()
LAB = "u1"


def ns(node: str) -> str:
    return naming.namespace_name(LAB, node)


def topo(**extra: object):
    data = {
        "name": "t",
        "nodes": [
            {"name": "r1", "kind": "router",
             "interfaces": [{"name": "eth0", "addresses": ["10.0.0.1/30"]},
                            {"name": "eth1", "addresses": ["10.1.0.1/24"]}],
             "routes": [{"dst": "10.9.0.0/16", "via": "10.0.0.2"}]},
            {"name": "r2", "kind": "router",
             "interfaces": [{"name": "eth0", "addresses": ["10.0.0.2/30"]}]},
            {"name": "h1", "interfaces": [{"name": "eth0", "addresses": ["10.1.0.10/24"]}],
             "gateway": "10.1.0.1"},
            {"name": "s1", "kind": "switch", "interfaces": [{"name": "p1"}, {"name": "p2"}]},
        ],
        "links": [
            {"a": "r1:eth0", "b": "r2:eth0"},
            {"a": "r1:eth1", "b": "s1:p1"},
            {"a": "h1:eth0", "b": "s1:p2"},
        ],
    }  # fmt: skip
    data.update(extra)
    return load_topology(data)


def deploy(k: FakeKernel, t) -> Plan:
    p = plan(t, discover(LAB, k), FACTS, LAB)
    executor.apply(p, k, directory=None)
    return p


@pytest.fixture(autouse=True)
def _var(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TOPOLAB_VAR_DIR", str(tmp_path))


def test_fresh_plan_order_and_descriptions() -> None:
    p = plan(topo(), LabState(LAB), FACTS)
    kinds = [type(op).__name__ for op in p.ops]
    assert kinds.index("MakeNamespace") < kinds.index("SetSysctl") < kinds.index("MakeBridge")
    assert kinds.index("MakeBridge") < kinds.index("MakeVeth") < kinds.index("SetMaster")
    assert kinds.index("SetUp") < kinds.index("ReplaceAddress") < kinds.index("ReplaceRoute")
    assert MakeNamespace(ns("r1"), LAB, "r1") in p.ops
    assert SetSysctl(ns("r1"), "net.ipv4.ip_forward", "1") in p.ops
    assert SetSysctl(ns("h1"), "net.ipv4.ip_forward", "1") not in p.ops
    assert ReplaceRoute(ns("h1"), "0.0.0.0/0", "10.1.0.1") in p.ops
    assert sum(isinstance(op, MakeVeth) for op in p.ops) == 3
    assert all(isinstance(line, str) and line for line in p.describe())
    assert "make veth tl-u1-r1:eth0 <-> tl-u1-r2:eth0" in p.describe()


def test_plan_round_trips_through_json() -> None:
    p = plan(topo(), LabState(LAB), FACTS)
    again = Plan.from_json(json.loads(json.dumps(p.to_json())))
    assert again == p


def test_deploy_then_replan_is_empty() -> None:
    k = FakeKernel()
    deploy(k, topo())
    state = discover(LAB, k)
    assert {n.node for n in state.namespaces} == {"r1", "r2", "h1", "s1"}
    assert state.node("s1").link("p1").master == "br0"
    assert state.node("r1").link("eth0").addresses == ("10.0.0.1/30",)
    assert plan(topo(), state, FACTS).ops == ()


def test_edit_touches_only_the_difference() -> None:
    k = FakeKernel()
    deploy(k, topo())
    t2 = topo(
        nodes=[
            {"name": "r1", "kind": "router",
             "interfaces": [{"name": "eth0", "addresses": ["10.0.0.1/30"]},
                            {"name": "eth1", "addresses": ["10.1.0.2/24"]}]},
            {"name": "r2", "kind": "router",
             "interfaces": [{"name": "eth0", "addresses": ["10.0.0.2/30"]},
                            {"name": "eth1", "addresses": ["10.2.0.1/24"]}]},
            {"name": "s1", "kind": "switch", "interfaces": [{"name": "p1"}, {"name": "p3"}]},
            {"name": "h2", "interfaces": [{"name": "eth0", "addresses": ["10.2.0.2/24"]}]},
        ],
        links=[
            {"a": "r1:eth0", "b": "r2:eth0"},
            {"a": "r1:eth1", "b": "s1:p1"},
            {"a": "r2:eth1", "b": "h2:eth0"},
        ],
    )  # fmt: skip
    k.calls.clear()
    p = deploy(k, t2)
    touched = {(c[1][0], c[1][1]) for c in k.calls if len(c[1]) > 1}
    assert (ns("r1"), "eth0") not in touched and (ns("r2"), "eth0") not in touched
    assert DeleteNamespace(ns("h1")) in p.ops
    assert DeleteAddress(ns("r1"), "eth1", "10.1.0.1/24") in p.ops
    assert ReplaceAddress(ns("r1"), "eth1", "10.1.0.2/24") in p.ops
    assert DeleteRoute(ns("r1"), "10.9.0.0/16", "10.0.0.2", "eth0", None) in p.ops
    assert MakeNamespace(ns("h2"), LAB, "h2") in p.ops
    assert plan(t2, discover(LAB, k), FACTS).ops == ()


def test_changed_link_kind_is_replaced() -> None:
    k = FakeKernel()
    deploy(k, topo())
    k.link_delete(ns("s1"), "br0")
    k.bridge_add(ns("s1"), "br0", naming.owner_alias(LAB), stp=True)
    p = plan(topo(), discover(LAB, k), FACTS)
    assert DeleteLink(ns("s1"), "br0") in p.ops
    assert MakeBridge(ns("s1"), "br0", LAB) in p.ops


def test_unsupported_kind_is_refused_before_anything() -> None:
    t = Topology.model_validate(
        {
            "name": "v",
            "nodes": [{"name": "a", "interfaces": [{"name": "eth0"}, {"name": "v10"}]}],
            "links": [{"kind": "vlan", "endpoint": "a:v10", "parent": "eth0", "vlan_id": 10}],
        }
    )
    with pytest.raises(UnsupportedKindError) as info:
        plan(t, LabState(LAB), FACTS)
    assert info.value.module == "8021q"
    assert "kernel module 8021q" in str(info.value)


def test_ops_are_idempotent_by_errno() -> None:
    k = FakeKernel()
    p = plan(topo(), LabState(LAB), FACTS)
    for op in p.ops:
        op.apply(k)
    for op in p.ops:  # again: EEXIST on our own objects, replace for addresses/routes
        op.apply(k)
    DeleteLink(ns("r1"), "nope").apply(k)  # ENODEV on delete is success
    DeleteNamespace("tl-u1-nope").apply(k)  # ENOENT on delete is success
    DeleteAddress(ns("r1"), "eth0", "192.0.2.1/24").apply(k)
    DeleteRoute(ns("r1"), "192.0.2.0/24").apply(k)


def test_eexist_on_a_foreign_object_is_an_error() -> None:
    k = FakeKernel()
    k.ns_create(ns("r1"), "not-ours")
    with pytest.raises(KernelError) as info:
        MakeNamespace(ns("r1"), LAB, "r1").apply(k)
    assert info.value.errno == errno.EEXIST


def test_failure_rolls_back_and_reports_the_op(tmp_path) -> None:
    k = FakeKernel()
    p = plan(topo(), LabState(LAB), FACTS)
    bad = Plan(LAB, (*p.ops[:6], SetSysctl(ns("r1"), "kernel.nope", "1"), *p.ops[6:]))
    seen: list[int] = []
    with pytest.raises(executor.OpFailedError) as info:
        executor.apply(bad, k, lambda done, total, op: seen.append(done), directory=tmp_path)
    assert info.value.index == 6 and info.value.errno == errno.ENOENT
    assert info.value.op == SetSysctl(ns("r1"), "kernel.nope", "1")
    assert seen == [1, 2, 3, 4, 5, 6]
    assert k.namespaces == {}
    assert not executor.journal_path(LAB, tmp_path).exists()


def test_recover_undoes_an_unfinished_journal(tmp_path) -> None:
    k = FakeKernel()
    p = plan(topo(), LabState(LAB), FACTS)
    journal = executor.Journal(executor.journal_path(LAB, tmp_path))
    for i, op in enumerate(p.ops[:8]):
        journal.write({"i": i, "op": op.to_json()})
        op.apply(k)
    journal.close()
    assert k.namespaces
    assert executor.recover(LAB, k, tmp_path) == 8
    assert k.namespaces == {}
    assert not executor.journal_path(LAB, tmp_path).exists()


def test_op_json_round_trip_and_unknown_op() -> None:
    op = MakeVeth("a", "eth0", "b", "eth1", LAB, 1400, "02:00:00:00:00:01")
    assert op_from_json(json.loads(json.dumps(op.to_json()))) == op
    with pytest.raises(Exception, match="unknown op"):
        op_from_json({"op": "format_disk"})


def test_veth_with_one_end_missing_is_remade() -> None:
    k = FakeKernel()
    deploy(k, topo())
    # Someone deleted r2 (and so its veth end): both ends must be made again.
    k.ns_delete(ns("r2"))
    p = plan(topo(), discover(LAB, k), FACTS)
    assert MakeVeth(ns("r1"), "eth0", ns("r2"), "eth0", LAB) in p.ops
    executor.apply(p, k)
    assert plan(topo(), discover(LAB, k), FACTS).ops == ()
