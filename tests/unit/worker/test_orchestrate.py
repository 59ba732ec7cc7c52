"""A lab host's side of a deployment on the fake kernel: an order in, reports out
(worker/orchestrate.py). The part locks and fences live in the session's real Redis."""

from __future__ import annotations

import errno
import secrets
from collections.abc import Iterator
from typing import Any

import pytest

from lab import wire
from lab.topology import naming
from lab.topology.load import load_topology
from tests.conftest import RedisServer
from worker import locks
from worker.engine import Engine
from worker.facts import HostFacts
from worker.kernel.fake import FakeKernel
from worker.orchestrate import Busy, run_order
from worker.report import Reporter

PAIR = {
    "name": "pair",
    "nodes": [
        {"name": "h1", "interfaces": [{"name": "eth0", "addresses": ["10.0.0.1/24"]}]},
        {"name": "h2", "interfaces": [{"name": "eth0", "addresses": ["10.0.0.2/24"]}]},
    ],
    "links": [{"kind": "veth", "a": "h1:eth0", "b": "h2:eth0"}],
}


@pytest.fixture
def redis_locks(redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TOPOLAB_REDIS_URL", redis_server.url)
    locks._client = None
    yield
    locks._client = None


@pytest.fixture
def engine() -> Engine:
    return Engine(FakeKernel(), facts=HostFacts(), software=False)


class Reports(list[wire.Report]):
    def reporter(self, host: str = "h-a") -> Reporter:
        return Reporter(host, send=lambda data: self.append(wire.decode(data)))

    def types(self) -> list[str]:
        return [r.TYPE for r in self]

    def last(self) -> Any:
        return self[-1]


def order(key: str, deployment: int = 5, action: str = "deploy", **fields: Any) -> wire.PartOrder:
    topology = load_topology(PAIR).model_dump(mode="json")
    return wire.PartOrder(
        deployment=deployment,
        lab=1,
        key=key,
        action=action,
        host="h-a",
        topology=None if action in ("destroy", "rollback") else topology,
        **fields,
    )


def key() -> str:
    return f"l9{secrets.randbelow(10**6)}"


def test_a_deploy_order_reports_its_plan_progress_and_outcome_in_sequence(
    redis_locks: None, engine: Engine
) -> None:
    reports, k = Reports(), key()
    assert run_order(order(k), reports.reporter(), engine) == "done"
    types = reports.types()
    assert types[0] == "part.started" and types[-1] == "part.done"
    assert set(types[1:-1]) == {"part.progress"}
    assert [r.seq for r in reports] == sorted(r.seq for r in reports)  # strictly growing
    started, done = reports[0], reports.last()
    assert any("h1" in line for line in started.plan)
    assert done.ok and done.ops == len(started.plan) and done.deployment == 5
    assert {ns.node for ns in engine.discover(k).namespaces} == {"h1", "h2"}
    # The same order again (a redelivery) converges: nothing left to do, reported again.
    again = Reports()
    assert run_order(order(k), again.reporter(), engine) == "done"
    assert again.last().ok and again.last().ops == 0


def test_an_order_older_than_what_ran_here_does_nothing(redis_locks: None, engine: Engine) -> None:
    reports, k = Reports(), key()
    assert run_order(order(k, deployment=7), reports.reporter(), engine) == "done"
    destroy = order(k, deployment=8, action="destroy")
    assert run_order(destroy, reports.reporter(), engine) == "done"
    assert engine.discover(k).namespaces == ()
    late = Reports()
    # Deployment 7's order delivered again after the destroy: it must not rebuild the lab.
    assert run_order(order(k, deployment=7), late.reporter(), engine) == "stale"
    assert late == [] and engine.discover(k).namespaces == ()


def test_a_failing_op_reports_the_op_and_errno_and_a_deploy_leaves_nothing(
    redis_locks: None, engine: Engine
) -> None:
    reports, k = Reports(), key()
    squat = naming.namespace_name(k, "h2")
    engine.kernel.ns_create(squat, "somebody-else")  # making h2 fails: EEXIST
    assert run_order(order(k), reports.reporter(), engine) == "failed"
    done = reports.last()
    assert not done.ok and done.code == "engine.op_failed" and done.errno == errno.EEXIST
    assert "h2" in done.failed_op and done.log == ("rolled back on h-a",)
    assert {ns.node for ns in engine.discover(k).namespaces} == set()


def test_a_part_locked_by_another_order_is_busy_and_the_same_order_is_a_duplicate(
    redis_locks: None, engine: Engine
) -> None:
    k = key()
    holder = locks.LabLock(f"{k}@h-a", "destroy:9")
    holder.acquire()
    try:
        with pytest.raises(Busy):
            run_order(order(k), Reports().reporter(), engine)
        # Another delivery of the very order that holds the lock: nothing to do.
        duplicate = order(k, deployment=9, action="destroy")
        assert run_order(duplicate, Reports().reporter(), engine) == "busy"
    finally:
        holder.release()


def test_a_destroy_of_one_hosts_nodes_leaves_the_others(redis_locks: None, engine: Engine) -> None:
    reports, k = Reports(), key()
    run_order(order(k), reports.reporter(), engine)
    assert run_order(order(k, 6, "destroy", nodes=("h1",)), reports.reporter(), engine) == "done"
    assert reports.last().log == ("removed 1 namespace(s) on h-a",)
    assert {ns.node for ns in engine.discover(k).namespaces} == {"h2"}


def test_an_order_round_trips_the_wire_and_a_bad_one_is_refused() -> None:
    stitch = wire.Stitch(
        endpoint=load_topology(PAIR).links[0].a,  # type: ignore[union-attr]
        vni=1048600,
        local="192.0.2.1",
        remote="192.0.2.2",
        mtu=1450,
        peer=load_topology(PAIR).links[0].b,  # type: ignore[union-attr]
    )
    one = order("l1", stitches=(stitch,), foreign=("h9",), restore_revision=3)
    assert wire.PartOrder.from_json(one.to_json()) == one
    with pytest.raises(wire.WireError, match="unknown action"):
        wire.PartOrder.from_json({**one.to_json(), "action": "format-disk"})
    with pytest.raises(wire.WireError, match="deployment"):
        wire.PartOrder.from_json({**one.to_json(), "deployment": "5"})
