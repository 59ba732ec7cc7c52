"""One lab host (a real Celery worker process, real Redis, file database): deploy,
progress events in order, destroy, twenty labs at once, host heartbeats."""

from __future__ import annotations

import asyncio
import random
import subprocess
import time
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from tests.orchestration.conftest import (
    Cluster,
    LabFactory,
    lab_namespaces,
    request_action,
    star,
    wait_final,
)

pytestmark = [pytest.mark.web, pytest.mark.kernel]

PAIR: dict[str, Any] = {
    "name": "pair",
    "nodes": [
        {"name": "h1", "interfaces": [{"name": "eth0", "addresses": ["10.0.0.1/24"]}]},
        {"name": "h2", "interfaces": [{"name": "eth0", "addresses": ["10.0.0.2/24"]}]},
    ],
    "links": [{"kind": "veth", "a": "h1:eth0", "b": "h2:eth0"}],
}


@pytest.fixture(scope="module")
def host(cluster: Cluster) -> str:
    """One lab host in the test's own network namespace (like `make run`)."""
    name = f"orch{random.randrange(16**6):06x}"
    cluster.add_worker(name, concurrency=4)
    from django.test.utils import override_settings  # noqa: F401  (django ready)

    return name


@pytest.fixture
def up(host: str, cluster: Cluster, transactional_db: None) -> str:
    cluster.wait_up(host)
    return host


def _assign(lab: Any, host: str) -> None:
    from lab.models import LabHost

    lab.host = LabHost.objects.get(name=host)
    lab.save(update_fields=["host"])


class GroupListener:
    """Listens to a lab's channel group directly through the channel layer."""

    def __init__(self, lab_id: int) -> None:
        from lab.events import lab_group

        self.layer = get_channel_layer()
        self.channel = async_to_sync(self.layer.new_channel)()
        async_to_sync(self.layer.group_add)(lab_group(lab_id), self.channel)

    def events_until(self, done: Any, timeout: float = 90) -> list[dict[str, Any]]:
        async def collect() -> list[dict[str, Any]]:
            out: list[dict[str, Any]] = []
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                try:
                    msg = await asyncio.wait_for(self.layer.receive(self.channel), timeout=5)
                except TimeoutError:
                    continue
                event = msg["event"]
                out.append(event)
                if done(event):
                    return out
            raise AssertionError(f"no final event; got {[e['type'] for e in out]}")

        return async_to_sync(collect)()


def test_deploy_publishes_ordered_progress_ending_running_then_destroy_leaves_nothing(
    up: str, make_lab: LabFactory, cluster: Cluster
) -> None:
    from lab.models import Deployment, Lab

    lab = make_lab(PAIR)
    _assign(lab, up)
    listener = GroupListener(lab.pk)
    dep = request_action(lab, "deploy")
    events = listener.events_until(
        lambda e: e["type"] == "deploy.state" and e["deployment"]["state"] in ("running", "failed")
    )
    final = wait_final(dep.pk, cluster=cluster)
    assert final.state == Deployment.State.RUNNING, (final.error_code, final.error_message)
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    states = [e["deployment"]["state"] for e in events if e["type"] == "deploy.state"]
    assert states[-1] == "running"
    assert "applying" in states and states.index("applying") < states.index("running")
    progress = [e for e in events if e["type"] == "deploy.progress"]
    assert progress, [e["type"] for e in events]
    done = [e["done"] for e in progress]
    assert done == sorted(done) and progress[-1]["done"] == progress[-1]["total"]
    assert all(e["step"] for e in progress)
    assert final.plan and any("veth" in line for line in final.plan)
    assert Lab.objects.get(pk=lab.pk).state == Lab.State.RUNNING
    assert lab_namespaces(lab.key) == {f"tl-{lab.key}-h1", f"tl-{lab.key}-h2"}
    ping = subprocess.run(
        ["ip", "netns", "exec", f"tl-{lab.key}-h1", "ping", "-c1", "-W2", "10.0.0.2"],
        capture_output=True,
        text=True,
    )
    assert ping.returncode == 0, ping.stdout + ping.stderr

    dep2 = request_action(Lab.objects.get(pk=lab.pk), "destroy")
    final2 = wait_final(dep2.pk, cluster=cluster)
    assert final2.state == Deployment.State.DESTROYED, final2.error_message
    assert lab_namespaces(lab.key) == set()
    assert Lab.objects.get(pk=lab.pk).state == Lab.State.STOPPED


def test_a_second_request_while_one_runs_is_refused_with_409(
    up: str, make_lab: LabFactory, cluster: Cluster
) -> None:
    from django.db import transaction

    from lab import services
    from lab.models import Deployment, Lab

    lab = make_lab(PAIR)
    _assign(lab, up)
    # Both requests in one transaction: the first is queued on commit, so the second
    # surely finds it pending (a fast worker could otherwise finish it in between).
    with transaction.atomic():
        dep = request_action(lab, "deploy")
        with pytest.raises(services.Conflict) as exc:
            request_action(Lab.objects.get(pk=lab.pk), "deploy")
    assert exc.value.status == 409
    assert exc.value.code == "deployment.busy"
    assert wait_final(dep.pk, cluster=cluster).state == Deployment.State.RUNNING
    dep2 = request_action(Lab.objects.get(pk=lab.pk), "destroy")
    assert wait_final(dep2.pk, cluster=cluster).state == Deployment.State.DESTROYED
    assert lab_namespaces(lab.key) == set()


def test_a_failing_op_records_op_and_errno_and_leaves_nothing(
    up: str, make_lab: LabFactory, cluster: Cluster
) -> None:
    from lab.models import Deployment

    lab = make_lab(PAIR)
    _assign(lab, up)
    # Somebody else's namespace squats the name of h2's: the make fails with EEXIST.
    squat = f"tl-{lab.key}-h2"
    subprocess.run(["ip", "netns", "add", squat], check=True)
    try:
        dep = request_action(lab, "deploy")
        final = wait_final(dep.pk, cluster=cluster)
        assert lab_namespaces(lab.key) == {squat}, "the rollback took the squatter's namespace"
    finally:
        subprocess.run(["ip", "netns", "delete", squat], check=False)
    assert final.state == Deployment.State.FAILED
    assert final.failed_op and "errno" in final.error_message
    assert lab_namespaces(lab.key) == set()


def test_twenty_labs_of_ten_nodes_at_once_all_run_and_all_go(
    up: str, make_lab: LabFactory, cluster: Cluster, settings: Any
) -> None:
    from lab.models import Deployment, Lab

    # One user runs all twenty: this is about the host, not the default quota of ten.
    settings.TOPOLAB_QUOTA_CONCURRENT_LABS = None
    labs = [make_lab(star(9, f"s{i}"), name=f"star{i}") for i in range(20)]
    for lab in labs:
        _assign(lab, up)
    deps = [request_action(lab, "deploy") for lab in labs]
    finals = [wait_final(d.pk, timeout=240, cluster=cluster) for d in deps]
    assert [f.state for f in finals] == [Deployment.State.RUNNING] * 20, [
        (f.error_code, f.error_message) for f in finals if f.state != "running"
    ]
    seen: set[str] = set()
    for lab in labs:
        names = lab_namespaces(lab.key)
        assert len(names) == 10
        assert not names & seen
        seen |= names
    deps = [request_action(Lab.objects.get(pk=lab.pk), "destroy") for lab in labs]
    finals = [wait_final(d.pk, timeout=240, cluster=cluster) for d in deps]
    assert all(f.state == Deployment.State.DESTROYED for f in finals)
    assert all(lab_namespaces(lab.key) == set() for lab in labs)


def test_host_heartbeat_publishes_facts_and_a_silent_host_marks_its_labs_unknown(
    up: str, make_lab: LabFactory
) -> None:
    from django.utils import timezone

    from lab.control import mark_down_hosts
    from lab.models import Lab, LabHost

    row = LabHost.objects.get(name=up)
    assert row.is_up and {"veth", "bridge", "vxlan"} <= set(row.link_kinds)
    assert row.capacity_nodes > 0
    ghost = LabHost.objects.create(
        name=f"ghost{random.randrange(10**6)}",
        last_heartbeat=timezone.now() - timezone.timedelta(minutes=5),
    )
    lab = make_lab(PAIR)
    Lab.objects.filter(pk=lab.pk).update(host=ghost, state=Lab.State.RUNNING)
    marked = mark_down_hosts()
    assert any(str(lab.pk) in m for m in marked)
    assert Lab.objects.get(pk=lab.pk).state == Lab.State.UNKNOWN


async def test_websocket_client_receives_the_deploy_progress_in_order_ending_running(
    up: str, make_lab: LabFactory, cluster: Cluster
) -> None:
    from asgiref.sync import sync_to_async
    from channels.testing import WebsocketCommunicator
    from django.contrib.auth import get_user_model
    from django.test import Client

    from lab.asgi import application

    def prepare() -> tuple[Any, str]:
        lab = make_lab(PAIR)
        _assign(lab, up)
        client = Client()
        client.force_login(get_user_model().objects.get(username="orch"))
        return lab, client.cookies["sessionid"].value

    lab, session = await sync_to_async(prepare)()
    communicator = WebsocketCommunicator(
        application,
        f"/ws/labs/{lab.pk}/",
        headers=[
            (b"cookie", f"sessionid={session}".encode()),
            (b"origin", b"http://127.0.0.1:8000"),
            (b"host", b"127.0.0.1:8000"),
        ],
    )
    connected, _ = await communicator.connect(timeout=10)
    assert connected
    try:
        snapshot = await communicator.receive_json_from(timeout=10)
        assert snapshot["type"] == "snapshot" and snapshot["lab"] == lab.pk
        dep = await sync_to_async(request_action)(lab, "deploy")
        events: list[dict[str, Any]] = []
        while True:
            event = await communicator.receive_json_from(timeout=60)
            events.append(event)
            if event["type"] == "deploy.state" and event["deployment"]["state"] in (
                "running",
                "failed",
            ):
                break
        seqs = [e["seq"] for e in events]
        assert seqs == sorted(seqs) and min(seqs) > snapshot["seq"]
        assert events[-1]["deployment"]["state"] == "running", events[-1]
        assert events[-1]["deployment"]["id"] == dep.pk
        progress = [e for e in events if e["type"] == "deploy.progress"]
        assert progress and [p["done"] for p in progress] == sorted(p["done"] for p in progress)
        assert progress[-1]["done"] == progress[-1]["total"]
    finally:
        await communicator.disconnect()
    destroy = await sync_to_async(request_action)(lab, "destroy")
    final = await sync_to_async(wait_final)(destroy.pk, 60, cluster)
    assert final.state == "destroyed"
    assert lab_namespaces(lab.key) == set()


def test_the_sweep_removes_what_a_lab_that_no_longer_exists_left(
    up: str, cluster: Cluster, transactional_db: None
) -> None:
    from lab.topology.load import load_topology
    from worker import engine
    from worker.celery import app
    from worker.kernel import default_kernel

    # A database lab key (l<id>) whose row does not exist, within this module's range.
    key = f"l{cluster.env.key_base // 1000}999"
    try:
        engine.deploy(load_topology(PAIR), lab=key)
    finally:
        default_kernel().close()  # our sockets must not keep its namespaces alive
    assert len(lab_namespaces(key)) == 2
    # The control plane keeps nothing of this host's: the key is swept.
    swept = app.send_task("worker.tasks.sweep_host", args=[[], 0], queue=f"host.{up}").get(
        timeout=60
    )
    assert key in swept
    assert lab_namespaces(key) == set()


def test_apply_changes_adds_and_removes_only_the_difference(
    up: str, make_lab: LabFactory, cluster: Cluster
) -> None:
    import copy

    from django.contrib.auth import get_user_model

    from lab import services
    from lab.models import Deployment, Lab

    user = get_user_model().objects.get_or_create(username="orch")[0]
    lab = make_lab(PAIR)
    _assign(lab, up)
    assert wait_final(request_action(lab, "deploy").pk, cluster=cluster).state == "running"
    bigger = copy.deepcopy(PAIR)
    bigger["nodes"].append(
        {"name": "h3", "interfaces": [{"name": "eth0", "addresses": ["10.0.1.3/24"]}]}
    )
    bigger["nodes"][0]["interfaces"].append({"name": "eth1", "addresses": ["10.0.1.1/24"]})
    bigger["links"].append({"kind": "veth", "a": "h1:eth1", "b": "h3:eth0"})
    services.do_put_topology(Lab.objects.get(pk=lab.pk), user, bigger)
    applied = wait_final(request_action(Lab.objects.get(pk=lab.pk), "apply").pk, cluster=cluster)
    assert applied.state == Deployment.State.RUNNING, applied.error_message
    assert not any("h2" in line and "namespace" in line for line in applied.plan)
    assert lab_namespaces(lab.key) == {f"tl-{lab.key}-{n}" for n in ("h1", "h2", "h3")}
    services.do_put_topology(Lab.objects.get(pk=lab.pk), user, PAIR)
    shrunk = wait_final(request_action(Lab.objects.get(pk=lab.pk), "apply").pk, cluster=cluster)
    assert shrunk.state == Deployment.State.RUNNING, shrunk.error_message
    assert lab_namespaces(lab.key) == {f"tl-{lab.key}-h1", f"tl-{lab.key}-h2"}
    gone = wait_final(request_action(Lab.objects.get(pk=lab.pk), "destroy").pk, cluster=cluster)
    assert gone.state == Deployment.State.DESTROYED
    assert lab_namespaces(lab.key) == set()


def test_a_failed_edit_puts_back_what_it_had_already_removed(
    up: str, make_lab: LabFactory, cluster: Cluster
) -> None:
    """An apply that deletes h2, then fails making h3: the lab runs revision 1 again."""
    from django.contrib.auth import get_user_model

    from lab import services
    from lab.models import Deployment, Lab

    user = get_user_model().objects.get_or_create(username="orch")[0]
    lab = make_lab(PAIR)
    _assign(lab, up)
    assert wait_final(request_action(lab, "deploy").pk, cluster=cluster).state == "running"
    edited = {
        "name": "pair",
        "nodes": [
            PAIR["nodes"][0],
            {"name": "h3", "interfaces": [{"name": "eth0", "addresses": ["10.0.0.3/24"]}]},
        ],
        "links": [{"kind": "veth", "a": "h1:eth0", "b": "h3:eth0"}],
    }
    services.do_put_topology(Lab.objects.get(pk=lab.pk), user, edited)
    squat = f"tl-{lab.key}-h3"  # somebody else's namespace: making h3 fails (EEXIST)
    subprocess.run(["ip", "netns", "add", squat], check=True)
    try:
        failed = wait_final(request_action(Lab.objects.get(pk=lab.pk), "apply").pk, cluster=cluster)
        assert failed.state == Deployment.State.FAILED
        assert "errno" in failed.error_message and "h3" in failed.failed_op
        assert any("restored revision 1" in line for line in failed.log), failed.log
        assert Lab.objects.get(pk=lab.pk).state == Lab.State.RUNNING
        # h2 is back, linked and addressed as before; the squatter is untouched.
        assert lab_namespaces(lab.key) == {f"tl-{lab.key}-h1", f"tl-{lab.key}-h2", squat}
        ping = subprocess.run(
            ["ip", "netns", "exec", f"tl-{lab.key}-h1", "ping", "-c", "1", "-W", "2", "10.0.0.2"],
            capture_output=True,
            check=False,
        )
        assert ping.returncode == 0, ping.stdout
        assert (
            squat
            in subprocess.run(
                ["ip", "netns", "list"], capture_output=True, text=True, check=True
            ).stdout
        )
    finally:
        subprocess.run(["ip", "netns", "delete", squat], check=False)
    gone = wait_final(request_action(Lab.objects.get(pk=lab.pk), "destroy").pk, cluster=cluster)
    assert gone.state == Deployment.State.DESTROYED
    assert lab_namespaces(lab.key) == set()
