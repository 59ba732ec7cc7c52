"""Crashes: a worker SIGKILLed in the middle of a deploy, Redis restarted during a run of
deploys. Every deployment ends in a final state and nothing is left in the kernel."""

from __future__ import annotations

import random
import signal
import time

import pytest

from tests.conftest import RedisServer
from tests.orchestration.conftest import (
    Cluster,
    LabFactory,
    lab_namespaces,
    request_action,
    star,
    wait_final,
)

pytestmark = [pytest.mark.web, pytest.mark.kernel]


@pytest.fixture(scope="module")
def host(cluster: Cluster) -> str:
    name = f"rec{random.randrange(16**6):06x}"
    cluster.add_worker(name, concurrency=3)
    return name


def _assign(lab: object, host: str) -> None:
    from lab.models import Lab, LabHost

    Lab.objects.filter(pk=lab.pk).update(host=LabHost.objects.get(name=host))  # type: ignore[attr-defined]


def _verified(lab_key: str, doc: dict[str, object]) -> list[str]:
    """What the engine would still do for the lab (empty: the kernel matches)."""
    from lab.topology.load import load_topology
    from worker.engine import Engine
    from worker.kernel import default_kernel

    try:
        return Engine().verify(load_topology(doc), lab_key)
    finally:
        # Our own sockets in the lab's namespaces must not keep them alive.
        default_kernel().close()


def test_worker_killed_mid_deploy_ends_running_and_verified_or_failed_and_empty(
    host: str, cluster: Cluster, make_lab: LabFactory, transactional_db: None
) -> None:
    from lab.models import Deployment, Lab

    cluster.wait_up(host)
    doc = star(199, "big")
    lab = make_lab(doc)
    _assign(lab, host)
    dep = request_action(Lab.objects.get(pk=lab.pk), "deploy")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        row = Deployment.objects.get(pk=dep.pk)
        if row.state == Deployment.State.APPLYING and row.progress_done >= 10:
            break
        assert not row.is_final, "the deploy finished before it could be interrupted"
        time.sleep(0.01)
    worker = cluster.workers[host]
    worker.kill(signal.SIGKILL)
    interrupted = Deployment.objects.get(pk=dep.pk)
    assert not interrupted.is_final
    assert lab_namespaces(lab.key), "the kill came before anything was built"
    worker.start()
    final = wait_final(dep.pk, timeout=120, cluster=cluster)
    if final.state == Deployment.State.RUNNING:
        assert len(lab_namespaces(lab.key)) == 200
        assert _verified(lab.key, doc) == []
    else:
        assert final.state == Deployment.State.FAILED
        assert lab_namespaces(lab.key) == set()
    dep2 = request_action(Lab.objects.get(pk=lab.pk), "destroy")
    assert wait_final(dep2.pk, cluster=cluster).state == Deployment.State.DESTROYED
    assert lab_namespaces(lab.key) == set()


def test_redis_restarted_during_deploys_every_deployment_ends_and_nothing_is_left(
    host: str,
    cluster: Cluster,
    make_lab: LabFactory,
    redis_server: RedisServer,
    transactional_db: None,
) -> None:
    from lab.models import Deployment, Lab

    cluster.wait_up(host)
    labs = [make_lab(star(19, f"r{i}"), name=f"r{i}") for i in range(6)]
    for lab in labs:
        _assign(lab, host)
    deps = [request_action(Lab.objects.get(pk=lab.pk), "deploy") for lab in labs]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        states = set(
            Deployment.objects.filter(pk__in=[d.pk for d in deps]).values_list("state", flat=True)
        )
        if Deployment.State.APPLYING in states or states & Deployment.FINAL_STATES:
            break
        time.sleep(0.01)
    redis_server.restart()
    finals = [wait_final(d.pk, timeout=180, cluster=cluster) for d in deps]
    for lab, final in zip(labs, finals, strict=True):
        assert final.is_final
        if final.state == Deployment.State.RUNNING:
            assert len(lab_namespaces(lab.key)) == 20
        else:
            assert final.state == Deployment.State.FAILED, final.state
            assert lab_namespaces(lab.key) == set()
    destroys = [request_action(Lab.objects.get(pk=lab.pk), "destroy") for lab in labs]
    for d in destroys:
        assert wait_final(d.pk, timeout=120, cluster=cluster).state == "destroyed"
    assert all(lab_namespaces(lab.key) == set() for lab in labs)


HELD: dict[str, object] = {
    "name": "held",
    "nodes": [{"name": "n", "interfaces": [{"name": "tap0", "addresses": ["10.9.0.1/24"]}]}],
    "links": [{"kind": "tap", "endpoint": "n:tap0", "program": {"app": "hold"}}],
}


def _program_pid(cluster: Cluster, host: str, lab_key: str) -> int | None:
    """The PID in the lab's pidfile on ``host`` if that process is alive."""
    import json
    import os

    path = cluster.env.var_dir / host / "labs" / lab_key / "programs" / "n-tap0.pid"
    try:
        pid = int(json.loads(path.read_text())["pid"])
        os.kill(pid, 0)
    except (OSError, ValueError, KeyError):
        return None
    return pid


def test_a_restarted_worker_starts_the_programs_its_running_labs_lost(
    host: str, cluster: Cluster, make_lab: LabFactory, transactional_db: None
) -> None:
    import contextlib
    import os

    from lab.models import Deployment, Lab

    cluster.wait_up(host)
    lab = make_lab(HELD)
    _assign(lab, host)
    dep = request_action(Lab.objects.get(pk=lab.pk), "deploy")
    assert wait_final(dep.pk, cluster=cluster).state == Deployment.State.RUNNING
    first = _program_pid(cluster, host, lab.key)
    assert first is not None, "the tap's program is not running"
    try:
        # The worker dies, and the program with it (as after an OOM kill or by hand).
        worker = cluster.workers[host]
        worker.kill(signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):  # it may have gone with the worker
            os.kill(first, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while _program_pid(cluster, host, lab.key) is not None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _program_pid(cluster, host, lab.key) is None
        # A new worker reconciles its labs: verified, and the program runs again.
        worker.start()
        deadline = time.monotonic() + 60
        while _program_pid(cluster, host, lab.key) is None and time.monotonic() < deadline:
            time.sleep(0.1)
        again = _program_pid(cluster, host, lab.key)
        assert again is not None and again != first, worker.tail()
        assert Lab.objects.get(pk=lab.pk).state == Lab.State.RUNNING
    finally:
        dep2 = request_action(Lab.objects.get(pk=lab.pk), "destroy")
        assert wait_final(dep2.pk, cluster=cluster).state == Deployment.State.DESTROYED
    assert lab_namespaces(lab.key) == set()
    assert _program_pid(cluster, host, lab.key) is None


def test_the_control_consumer_killed_mid_deploy_restarts_and_the_lab_converges(
    host: str, cluster: Cluster, make_lab: LabFactory, transactional_db: None
) -> None:
    """Reports the lab host sends while the control plane's consumer is dead wait in
    Redis; the one it held when it was killed comes back after the visibility timeout;
    the restarted consumer applies them in order, once each."""
    from lab.models import Deployment, Lab
    from tests.orchestration.test_orchestration_host import GroupListener

    cluster.wait_up(host)
    control = cluster.start_control()
    doc = star(180, "ctl")
    lab = make_lab(doc)
    _assign(lab, host)
    listener = GroupListener(lab.pk)
    dep = request_action(Lab.objects.get(pk=lab.pk), "deploy")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        row = Deployment.objects.get(pk=dep.pk)
        if row.state == Deployment.State.APPLYING and row.progress_done >= 5:
            break
        assert not row.is_final, "the deploy finished before the consumer could be killed"
        time.sleep(0.01)
    control.kill(signal.SIGKILL)
    seen = Deployment.objects.get(pk=dep.pk).progress_done
    # The lab host goes on building and reporting into the queue meanwhile.
    while len(lab_namespaces(lab.key)) < 181 and time.monotonic() < deadline + 60:
        time.sleep(0.2)
    assert Deployment.objects.get(pk=dep.pk).progress_done == seen  # nobody applied them
    control.start()
    events = listener.events_until(
        lambda e: e["type"] == "deploy.state" and e["deployment"]["state"] in ("running", "failed"),
        timeout=120,
    )
    final = wait_final(dep.pk, timeout=60, cluster=cluster)
    assert final.state == Deployment.State.RUNNING, (final.error_code, final.error_message)
    assert final.progress_done == final.progress_total > 180
    assert final.plan and final.log[0] == f"placement: whole lab on {host}"
    assert Lab.objects.get(pk=lab.pk).state == Lab.State.RUNNING
    # The progress history, across the restart, only moves forward and ends at the total.
    progress = [e["done"] for e in events if e["type"] == "deploy.progress"]
    assert progress == sorted(progress) and progress and progress[-1] == final.progress_total
    assert any(done > seen for done in progress)  # what came in while it was dead
    assert len(lab_namespaces(lab.key)) == 181 and _verified(lab.key, doc) == []
    dep2 = request_action(Lab.objects.get(pk=lab.pk), "destroy")
    assert wait_final(dep2.pk, cluster=cluster).state == Deployment.State.DESTROYED
    assert lab_namespaces(lab.key) == set()
