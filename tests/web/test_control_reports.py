"""The control plane applies lab hosts' reports: in order, idempotent, and converging when
one is lost (lab/control.py), on the real database; the orders it sends are recorded."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.utils import timezone

from lab import control, services, wire
from lab.models import Deployment, Lab, LabHost, TopologyRevision

pytestmark = pytest.mark.django_db

PAIR = {
    "name": "pair",
    "nodes": [
        {"name": "h1", "interfaces": [{"name": "eth0", "addresses": ["10.0.0.1/24"]}]},
        {"name": "h2", "interfaces": [{"name": "eth0", "addresses": ["10.0.0.2/24"]}]},
    ],
    "links": [{"kind": "veth", "a": "h1:eth0", "b": "h2:eth0"}],
}
KINDS = ["bridge", "macvlan", "tap", "tun", "veth", "vxlan"]


class Host:
    """Builds the reports one lab host would send, with growing sequence numbers."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.seq = 1000

    def next(self) -> int:
        self.seq += 1
        return self.seq

    def started(self, dep: int, plan: tuple[str, ...] = ("make netns h1",)) -> dict[str, Any]:
        return wire.encode(
            wire.PartStarted(
                host=self.name, seq=self.next(), deployment=dep, action="deploy", plan=plan
            )
        )

    def progress(self, dep: int, done: int, total: int) -> dict[str, Any]:
        return wire.encode(
            wire.PartProgress(
                host=self.name,
                seq=self.next(),
                deployment=dep,
                done=done,
                total=total,
                step=f"op {done}",
            )
        )

    def done(self, dep: int, action: str = "deploy", **fields: Any) -> dict[str, Any]:
        fields.setdefault("ok", True)
        return wire.encode(
            wire.PartDone(host=self.name, seq=self.next(), deployment=dep, action=action, **fields)
        )


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[wire.PartOrder]:
    """Orders the control plane sends (recorded instead of going to a broker)."""
    out: list[wire.PartOrder] = []
    monkeypatch.setattr("lab.dispatch.send_order", out.append)
    monkeypatch.setattr("lab.control.sweep", lambda host: None)
    return out


@pytest.fixture
def deploy(alice: Any, enqueued: list[int]) -> Callable[..., Deployment]:
    """Request a deploy of a new lab of alice's on the given up hosts; return it."""

    def make(doc: dict[str, Any] = PAIR, hosts: dict[str, int] | None = None) -> Deployment:
        for i, (name, capacity) in enumerate((hosts or {"h-a": 100}).items()):
            LabHost.objects.update_or_create(
                name=name,
                defaults={
                    "last_heartbeat": timezone.now(),
                    "link_kinds": KINDS,
                    "capacity_nodes": capacity,
                    "underlay_address": f"192.0.2.{i + 1}",
                },
            )
        lab = Lab.objects.create(owner=alice, name="lab")
        TopologyRevision.objects.create(lab=lab, number=1, document=doc, author=alice)
        return services.do_request_deploy(lab, alice)

    return make


def test_reports_walk_a_deployment_to_running_with_plan_and_progress(
    deploy: Callable[..., Deployment], sent: list[wire.PartOrder]
) -> None:
    dep = deploy()
    host = Host("h-a")
    assert control.apply_report(host.started(dep.pk, ("make netns h1", "make veth"))) == "started"
    row = Deployment.objects.get(pk=dep.pk)
    assert row.state == "applying" and row.plan == ["make netns h1", "make veth"]
    control.apply_report(host.progress(dep.pk, 1, 2))
    control.apply_report(host.progress(dep.pk, 2, 2))
    assert Deployment.objects.get(pk=dep.pk).progress_done == 2
    assert control.apply_report(host.done(dep.pk, ops=2, log=("timing on h-a",))) == "running"
    row = Deployment.objects.get(pk=dep.pk)
    assert row.state == "running" and row.lab.state == "running"
    assert row.progress_done == row.progress_total == 2
    assert row.log[0] == "placement: whole lab on h-a" and "timing on h-a" in row.log
    assert sent == []


def test_a_duplicated_or_replayed_report_changes_nothing(
    deploy: Callable[..., Deployment], sent: list[wire.PartOrder]
) -> None:
    dep = deploy()
    host = Host("h-a")
    control.apply_report(host.started(dep.pk))
    older, newer = host.progress(dep.pk, 3, 9), host.progress(dep.pk, 5, 9)
    # The newer one (the higher sequence number) arrives first; the older one is late.
    assert control.apply_report(newer) == "progress"
    assert control.apply_report(older) == "duplicate"
    assert control.apply_report(newer) == "duplicate"  # delivered twice
    assert Deployment.objects.get(pk=dep.pk).progress_done == 5  # the newest, not the late one
    done = host.done(dep.pk, ops=9)
    assert control.apply_report(done) == "running"
    finished = Deployment.objects.get(pk=dep.pk).finished
    assert control.apply_report(done) == "duplicate"
    # A report from before the end, replayed after it, is dropped as well.
    assert control.apply_report(host.progress(dep.pk, 1, 9)) == "late"
    row = Deployment.objects.get(pk=dep.pk)
    assert row.state == "running" and row.finished == finished and row.progress_done == 9


def test_a_lost_started_report_still_walks_the_deployment_to_running(
    deploy: Callable[..., Deployment], sent: list[wire.PartOrder]
) -> None:
    dep = deploy()
    assert control.apply_report(Host("h-a").done(dep.pk, ops=4)) == "running"
    row = Deployment.objects.get(pk=dep.pk)
    assert row.state == "running" and row.started is not None and row.lab.state == "running"


def test_a_lost_final_report_is_made_good_by_ordering_the_part_again(
    deploy: Callable[..., Deployment], sent: list[wire.PartOrder]
) -> None:
    import time

    dep = deploy()
    host = Host("h-a")
    control.apply_report(host.started(dep.pk))
    # The "done" report is lost: nothing comes for longer than STALL_AFTER.
    assert control.requeue_stalled(now=time.time()) == []  # not yet stalled
    assert control.requeue_stalled(now=time.time() + control.STALL_AFTER + 1) == [dep.pk]
    assert [(o.deployment, o.host, o.action) for o in sent] == [(dep.pk, "h-a", "deploy")]
    assert sent[0].topology is not None and {n["name"] for n in sent[0].topology["nodes"]} == {
        "h1",
        "h2",
    }
    # The host converges again and reports: the deployment ends running.
    assert control.apply_report(host.done(dep.pk)) == "running"
    assert control.requeue_stalled(now=time.time() + 10 * control.STALL_AFTER) == []


def test_a_failed_part_of_a_split_lab_fails_it_and_rolls_the_other_host_back(
    deploy: Callable[..., Deployment],
    sent: list[wire.PartOrder],
    django_capture_on_commit_callbacks: Any,
) -> None:
    dep = deploy(hosts={"h-a": 1, "h-b": 1})
    assert set(dep.parts["hosts"]) == {"h-a", "h-b"}
    placed = Lab.objects.get(pk=dep.lab_id).placement["nodes"]
    on_a = tuple(n for n, h in placed.items() if h == "h-a")
    a, b = Host("h-a"), Host("h-b")
    control.apply_report(a.started(dep.pk))
    control.apply_report(b.started(dep.pk))
    assert control.apply_report(a.done(dep.pk)) == "part-done"
    assert Deployment.objects.get(pk=dep.pk).state == "applying"
    with django_capture_on_commit_callbacks(execute=True):
        failed = b.done(dep.pk, ok=False, code="engine.op_failed", message="boom", errno=17)
        assert control.apply_report(failed) == "failed"
    row = Deployment.objects.get(pk=dep.pk)
    assert row.state == "failed" and row.error_code == "engine.op_failed"
    assert row.error_message == "host h-b: boom (errno 17)"
    assert row.lab.state == "failed" and row.lab.placement == {}
    assert [(o.host, o.action, o.nodes) for o in sent] == [("h-a", "rollback", on_a)]
    assert control.apply_report(a.done(dep.pk, action="rollback")) == "rollback"
    assert "rolled back on h-a" in Deployment.objects.get(pk=dep.pk).log


def test_a_failed_apply_that_the_host_restored_leaves_the_lab_running(
    deploy: Callable[..., Deployment], sent: list[wire.PartOrder], alice: Any
) -> None:
    dep = deploy()
    host = Host("h-a")
    control.apply_report(host.done(dep.pk))
    lab = Lab.objects.get(pk=dep.lab_id)
    services.do_put_topology(lab, alice, {**PAIR, "links": []})
    edit = services.do_request_apply(Lab.objects.get(pk=lab.pk), alice)
    result = host.done(
        edit.pk, action="apply", ok=False, code="engine.op_failed", message="no", restored=True
    )
    assert control.apply_report(result) == "failed"
    assert Deployment.objects.get(pk=edit.pk).state == "failed"
    assert Lab.objects.get(pk=lab.pk).state == "running"


def test_a_host_that_restarts_gets_its_unfinished_orders_again_and_stale_beats_are_dropped(
    deploy: Callable[..., Deployment], sent: list[wire.PartOrder]
) -> None:
    dep = deploy()

    def beat(seq: int, started: bool) -> dict[str, Any]:
        return wire.encode(
            wire.HostBeat(
                host="h-a",
                seq=seq,
                underlay="192.0.2.9",
                capacity=40,
                load=0.5,
                kinds=tuple(KINDS),
                started=started,
            )
        )

    assert control.apply_report(beat(10**15, started=True)) == "started"
    assert [(o.deployment, o.action) for o in sent] == [(dep.pk, "deploy")]
    row = LabHost.objects.get(name="h-a")
    assert row.capacity_nodes == 40 and row.underlay_address == "192.0.2.9"
    assert control.apply_report(beat(10**15 - 5, started=False)) == "duplicate"
    assert LabHost.objects.get(name="h-a").last_seq == 10**15


def test_a_report_that_does_not_decode_is_refused_naming_what_is_wrong() -> None:
    with pytest.raises(wire.WireError, match="unknown report type"):
        control.apply_report({"type": "part.exploded", "host": "x", "seq": 1})
    with pytest.raises(wire.WireError, match="seq"):
        control.apply_report({"type": "part.progress", "host": "x", "seq": "1"})
    with pytest.raises(wire.WireError, match="unknown field"):
        control.apply_report({"type": "host.beat", "host": "x", "seq": 1, "sql": "drop"})
