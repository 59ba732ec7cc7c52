"""Edits planned in O(change): ``edit_scope`` + ``plan(..., scope=...)`` on a scoped discovery.

Each edit is planned twice: the full way (every namespace read) and scoped (only
``scope.read``); both must give the same ops, and after the scoped plan runs the
full planner finds nothing left to do.
"""

from __future__ import annotations

from typing import Any

import pytest

from lab.topology import naming
from lab.topology.load import load_topology
from lab.topology.schema import Topology
from worker import executor
from worker.facts import HostFacts
from worker.kernel.fake import FakeKernel
from worker.ops import DeleteLink, DeleteNamespace, MakeVeth
from worker.plan import edit_scope, plan
from worker.state import discover

FACTS = HostFacts()
LAB = "u7"


def ns(node: str) -> str:
    return naming.namespace_name(LAB, node)


def chain(n: int, extra_links: list[dict[str, str]] = (), drop: set[int] = frozenset()) -> Topology:
    """N routers in a line (link i joins r<i> and r<i+1>), plus extra links on ``x`` ports."""
    nodes: list[dict[str, Any]] = []
    for i in range(n):
        ifaces = [{"name": "left", "addresses": [f"10.{i}.0.2/30"]}] if i else []
        if i < n - 1:
            ifaces.append({"name": "right", "addresses": [f"10.{i + 1}.0.1/30"]})
        ifaces += [{"name": f"x{j}"} for j in range(2)]
        nodes.append({"name": f"r{i}", "kind": "router", "interfaces": ifaces})
    links = [{"a": f"r{i}:right", "b": f"r{i + 1}:left"} for i in range(n - 1) if i not in drop]
    return load_topology({"name": "c", "nodes": nodes, "links": links + list(extra_links)})


def built(t: Topology) -> FakeKernel:
    k = FakeKernel()
    executor.apply(plan(t, discover(LAB, k), FACTS, LAB), k, directory=None)
    return k


@pytest.fixture(autouse=True)
def _var(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TOPOLAB_VAR_DIR", str(tmp_path))


EDITS = {
    "add a link": (chain(8), chain(8, [{"a": "r0:x0", "b": "r2:x0"}])),
    "remove a link": (chain(8), chain(8, drop={4})),
    "add and remove": (chain(8), chain(8, [{"a": "r1:x1", "b": "r6:x1"}], drop={2})),
    "move a link end": (
        chain(8, [{"a": "r0:x0", "b": "r2:x0"}]),
        chain(8, [{"a": "r0:x0", "b": "r5:x0"}]),
    ),
}


@pytest.mark.parametrize("name", sorted(EDITS))
def test_scoped_plan_equals_the_full_plan_and_converges(name: str) -> None:
    before, after = EDITS[name]
    k = built(before)
    full = plan(after, discover(LAB, k), FACTS, LAB)
    scope = edit_scope(after, before, FACTS, LAB)
    scoped = plan(after, discover(LAB, k, nodes=scope.read), FACTS, LAB, scope=scope)
    assert sorted(op.describe() for op in scoped.ops) == sorted(op.describe() for op in full.ops)
    assert scoped.ops  # every edit here changes something
    executor.apply(scoped, k, directory=None)
    assert plan(after, discover(LAB, k), FACTS, LAB).ops == ()


def test_scope_is_the_change_not_the_lab() -> None:
    before = chain(40)
    add = edit_scope(chain(40, [{"a": "r0:x0", "b": "r2:x0"}]), before, FACTS, LAB)
    assert add.touched == {"r0", "r2"} and add.read == {"r0", "r2"}
    remove = edit_scope(chain(40, drop={20}), before, FACTS, LAB)
    assert remove.touched == {"r20", "r21"}
    assert edit_scope(before, before, FACTS, LAB).touched == frozenset()


def test_an_address_edit_reads_the_other_end_and_keeps_the_veth() -> None:
    before = chain(4)
    data = before.model_dump(mode="json", exclude_none=True)
    data["nodes"][1]["interfaces"][0]["addresses"] = [
        "10.1.0.2/30",
        "10.77.0.1/24",
    ]  # r1:left, one more
    after = load_topology(data)
    k = built(before)
    scope = edit_scope(after, before, FACTS, LAB)
    assert scope.touched == {"r1"} and scope.read == {"r0", "r1"}  # r0 holds the peer
    p = plan(after, discover(LAB, k, nodes=scope.read), FACTS, LAB, scope=scope)
    assert not any(isinstance(op, MakeVeth | DeleteLink) for op in p.ops)
    assert [op.describe() for op in p.ops] == [
        op.describe() for op in plan(after, discover(LAB, k), FACTS, LAB).ops
    ]


def test_an_unchanged_topology_plans_nothing_and_reads_nothing() -> None:
    t = chain(6)
    scope = edit_scope(t, t, FACTS, LAB)
    assert scope.read == frozenset()
    assert plan(t, discover(LAB, built(t), nodes=scope.read), FACTS, LAB, scope=scope).ops == ()


def test_a_scoped_plan_leaves_untouched_nodes_alone_even_given_them() -> None:
    # Nodes outside the scope are never deleted or changed, even when the caller
    # passes a full discovery: a node dropped from the discovery is not "gone".
    before = chain(6)
    after = chain(6, [{"a": "r0:x0", "b": "r2:x0"}])
    k = built(before)
    scope = edit_scope(after, before, FACTS, LAB)
    p = plan(after, discover(LAB, k), FACTS, LAB, scope=scope)
    assert {op.ns for op in p.ops if hasattr(op, "ns")} <= {ns(n) for n in scope.read}
    p = plan(after, discover(LAB, k, nodes={"r0"}), FACTS, LAB, scope=scope)
    assert not any(isinstance(op, DeleteNamespace) for op in p.ops)


def test_removing_a_node_is_in_scope_and_deletes_it() -> None:
    before = chain(5)
    data = before.model_dump(mode="json", exclude_none=True)
    data["nodes"] = data["nodes"][:4]
    data["nodes"][3]["interfaces"] = [
        i for i in data["nodes"][3]["interfaces"] if i["name"] != "right"
    ]
    data["links"] = data["links"][:3]
    after = load_topology(data)
    k = built(before)
    scope = edit_scope(after, before, FACTS, LAB)
    assert scope.touched == {"r3", "r4"}
    p = plan(after, discover(LAB, k, nodes=scope.read), FACTS, LAB, scope=scope)
    assert DeleteNamespace(ns("r4")) in p.ops
    executor.apply(p, k, directory=None)
    assert plan(after, discover(LAB, k), FACTS, LAB).ops == ()


def star(hosts: int, stp: bool = False) -> Topology:
    nodes: list[dict[str, Any]] = [
        {"name": "s", "kind": "switch", "stp": stp,
         "interfaces": [{"name": f"p{i}"} for i in range(hosts)]},
    ]  # fmt: skip
    nodes += [
        {"name": f"h{i}", "interfaces": [{"name": "eth0", "addresses": [f"10.5.0.{i + 1}/24"]}]}
        for i in range(hosts)
    ]
    links = [{"a": f"h{i}:eth0", "b": f"s:p{i}"} for i in range(hosts)]
    return load_topology({"name": "s", "nodes": nodes, "links": links})


def test_a_host_added_to_a_big_switch_reads_the_switch_and_the_host_only() -> None:
    before, after = star(30), star(31)
    scope = edit_scope(after, before, FACTS, LAB)
    assert scope.touched == {"s", "h30"} and scope.read == {"s", "h30"}
    k = built(before)
    p = plan(after, discover(LAB, k, nodes=scope.read), FACTS, LAB, scope=scope)
    assert sorted(op.describe() for op in p.ops) == sorted(
        op.describe() for op in plan(after, discover(LAB, k), FACTS, LAB).ops
    )


@pytest.mark.parametrize(
    "before, after",
    [(star(6), star(6, stp=True)), (star(6), star(4)), (star(4), star(6))],
    ids=["bridge made again", "hosts removed", "hosts added"],
)
def test_switch_edits_scoped_equal_full_and_converge(before: Topology, after: Topology) -> None:
    k = built(before)
    scope = edit_scope(after, before, FACTS, LAB)
    scoped = plan(after, discover(LAB, k, nodes=scope.read), FACTS, LAB, scope=scope)
    full = plan(after, discover(LAB, k), FACTS, LAB)
    assert sorted(op.describe() for op in scoped.ops) == sorted(op.describe() for op in full.ops)
    executor.apply(scoped, k, directory=None)
    assert plan(after, discover(LAB, k), FACTS, LAB).ops == ()
