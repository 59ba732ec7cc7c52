"""The orchestration core behind the Celery tasks: deploy, apply, destroy, recover.

A task hands in a deployment id; this module re-fetches it, takes the lab's
lock, places the lab (``lab/placement.py``), moves the deployment through its
states with the web's services (which publish events after commit), runs the
engine on this host's part, asks the other hosts for theirs, verifies, and on
failure rolls back and records the failing op and errno.

Everything here is idempotent: a deployment already final is left alone, a
re-run after a crash converges because the engine plans from what the kernel has.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, transaction
from pydantic import ValidationError

from lab import services
from lab.models import Deployment, Lab, LabHost, VniAllocation
from lab.placement import (
    STITCH_VNI_MIN,
    Placement,
    PlacementError,
    Stitch,
    allocate_vnis,
    part_topology,
    place,
    vni_pairs,
)
from lab.topology.schema import Endpoint, Topology
from worker import enginelink, node_services, programs
from worker.hosts import Identity, up_hosts
from worker.locks import LabLock, LockBusy

logger = logging.getLogger(__name__)

# Progress is published at most this often (first and last op always): a 100-node
# lab has hundreds of ops and the database write per event is what costs.
PROGRESS_EVERY = 0.15
PART_TASK = "worker.tasks.run_part"
VNI_RETRIES = 8


class Busy(Exception):
    """Another deployment of the lab holds its lock; try again shortly."""


@dataclass
class Failure(Exception):
    """A deployment step failed; carries what the deployment records."""

    code: str
    message: str
    failed_op: str = ""
    errno: int | None = None
    log: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class Progress:
    """Progress reporting for one deployment (op n of N, what it is doing), off the hot path.

    The engine calls it after every op; a reporter thread sends the latest value
    at most every ``PROGRESS_EVERY`` seconds (a database write and an event
    each), so the kernel work never waits for them. ``close()`` sends the last
    value and stops the thread: call it before the final state is recorded, so
    every progress event precedes it.
    """

    def __init__(self, deployment_id: int, prefix: str = "") -> None:
        self.deployment_id = deployment_id
        self.prefix = prefix
        self._cond = threading.Condition()
        self._latest: tuple[int, int, str] | None = None
        self._sent: tuple[int, int, str] | None = None
        self._closed = False
        self._thread: threading.Thread | None = None

    def __call__(self, done: int, total: int, step: str) -> None:
        """Record that op ``done`` of ``total`` (``step``) is done."""
        with self._cond:
            if self._closed:
                return
            self._latest = (done, total, self.prefix + step)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, daemon=True)
                self._thread.start()
            self._cond.notify()

    def _send(self, item: tuple[int, int, str]) -> None:
        try:
            services.do_report_progress(self.deployment_id, *item)
        except Exception:
            # Progress is a courtesy; a lost event never fails a deploy.
            logger.exception("could not report progress of deployment %s", self.deployment_id)

    def _run(self) -> None:
        from django.db import connection

        try:
            while True:
                with self._cond:
                    self._cond.wait_for(lambda: self._latest != self._sent or self._closed)
                    item, closing = self._latest, self._closed
                if item is not None and item != self._sent:
                    self._send(item)
                    self._sent = item
                if closing:
                    return
                with self._cond:
                    self._cond.wait_for(lambda: self._closed, timeout=PROGRESS_EVERY)
        finally:
            connection.close()

    def close(self) -> None:
        """Send the last progress and stop reporting (idempotent)."""
        with self._cond:
            self._closed = True
            self._cond.notify()
            thread = self._thread
        if thread is not None:
            thread.join(timeout=30)


def _transition(deployment: Deployment, to: str, **fields: Any) -> Deployment:
    updated = services.do_transition_deployment(deployment.pk, to, **fields)
    return updated


def _topology(deployment: Deployment) -> Topology:
    if deployment.revision is None:
        raise Failure("deployment.no_revision", "the deployment has no topology revision")
    try:
        # A revision was validated in full when it was saved (validate once, at the
        # edge); here the schema is enough to rebuild the value.
        topology = Topology.model_validate(deployment.revision.document)
    except ValidationError as exc:
        raise Failure("topology.invalid", f"the stored topology no longer parses: {exc}") from exc
    if not topology.addressing.auto:
        return topology
    from worker import engine

    # Address the whole lab once, before it is split, so every host's part agrees.
    prepared = engine.prepare(topology)
    return prepared.model_copy(
        update={"addressing": prepared.addressing.model_copy(update={"auto": False})}
    )


def _placement_from_json(data: Mapping[str, Any]) -> Placement | None:
    from lab.placement import CutLink

    nodes = data.get("nodes")
    if not isinstance(nodes, dict) or not nodes:
        return None
    cut = tuple(
        CutLink(
            index=int(c["index"]),
            a=Endpoint.model_validate(c["a"]),
            b=Endpoint.model_validate(c["b"]),
            host_a=str(c["host_a"]),
            host_b=str(c["host_b"]),
        )
        for c in data.get("cut", [])
    )
    return Placement({str(k): str(v) for k, v in nodes.items()}, cut)


def _with_hints(topology: Topology, previous: Placement | None) -> Topology:
    """Pin the nodes of a running split lab where they are (an apply must not move them)."""
    if previous is None or not previous.is_split:
        return topology
    nodes = tuple(
        n.model_copy(update={"host": previous.nodes[n.name]})
        if n.host is None and n.name in previous.nodes
        else n
        for n in topology.nodes
    )
    return topology.model_copy(update={"nodes": nodes})


def _place(topology: Topology, me: Identity, previous: Placement | None, lab_id: int) -> Placement:
    hosts = up_hosts(exclude_lab=lab_id)
    if not any(h.name == me.name for h in hosts):
        from worker.hosts import beat_once, link_kinds

        beat_once(me, link_kinds())
        hosts = up_hosts(exclude_lab=lab_id)
    # The host the web chose (this one) takes the lab whole when it can.
    mine = [h for h in hosts if h.name == me.name]
    try:
        hinted = _with_hints(topology, previous)
        if not any(n.host for n in hinted.nodes) and mine:
            try:
                return place(hinted, mine)
            except PlacementError:
                pass
        return place(hinted, hosts)
    except PlacementError as exc:
        raise Failure(exc.code, exc.message) from exc


def _allocate_vnis(lab: Lab, placement: Placement) -> dict[int, int]:
    """Take a VNI for every cut link, free on both of its hosts; reuse the lab's own."""
    wanted = vni_pairs(placement)
    if not wanted:
        VniAllocation.objects.filter(lab=lab).delete()
        return {}
    for _ in range(VNI_RETRIES):
        existing = {
            (row.link_index, row.host): row.vni for row in VniAllocation.objects.filter(lab=lab)
        }
        keep: dict[int, int] = {}
        for index, ha, hb in wanted:
            va, vb = existing.get((index, ha)), existing.get((index, hb))
            if va is not None and va == vb:
                keep[index] = va
        hosts = {h for _, ha, hb in wanted for h in (ha, hb)}
        used: dict[str, set[int]] = {h: set() for h in hosts}
        for row in VniAllocation.objects.filter(host__in=hosts).exclude(lab=lab):
            used[row.host].add(row.vni)
        for index, vni in keep.items():
            for _, ha, hb in (w for w in wanted if w[0] == index):
                used[ha].add(vni)
                used[hb].add(vni)
        # Start each lab at its own offset: a VNI freed a moment ago may still be held
        # by a namespace the kernel has not finished tearing down.
        lowest = STITCH_VNI_MIN + (lab.pk * 64) % (1 << 22)
        fresh = allocate_vnis([w for w in wanted if w[0] not in keep], used, lowest)
        try:
            with transaction.atomic():
                VniAllocation.objects.filter(lab=lab).exclude(link_index__in=list(keep)).delete()
                for index, ha, hb in wanted:
                    if index in keep:
                        continue
                    for host, peer in ((ha, hb), (hb, ha)):
                        VniAllocation.objects.create(
                            lab=lab, link_index=index, host=host, peer=peer, vni=fresh[index]
                        )
            return {**keep, **fresh}
        except IntegrityError:
            # Another deployment took one of these VNIs first: look again.
            continue
    raise Failure("placement.vni", "could not allocate stitch VNIs (too much contention)")


def _vnis_of(lab_id: int) -> dict[int, int]:
    return {row.link_index: row.vni for row in VniAllocation.objects.filter(lab_id=lab_id)}


def _underlays() -> dict[str, str]:
    return {h.name: h.underlay_address for h in LabHost.objects.all() if h.underlay_address}


def part_for(
    topology: Topology, placement: Placement | None, host: str, vnis: Mapping[int, int]
) -> tuple[Topology, tuple[Stitch, ...]]:
    """Return the part of the lab ``host`` builds (the whole lab when it is not split).

    Raises:
        Failure: a stitch lacks its VNI or a host its underlay address.
    """
    if placement is None or not placement.is_split:
        return topology, ()
    try:
        return part_topology(topology, placement, host, _underlays(), vnis)
    except PlacementError as exc:
        raise Failure(exc.code, exc.message) from exc


def foreign_nodes(placement: Placement | None, host: str) -> frozenset[str]:
    """Return the nodes of a split lab that hosts other than ``host`` build."""
    if placement is None:
        return frozenset()
    return frozenset(n for n, h in placement.nodes.items() if h != host)


def run_deployment(deployment_id: int, me: Identity, dispatch: PartDispatcher) -> str:
    """Carry deployment ``deployment_id`` to a final state; return that state.

    Raises:
        Busy: another deployment of the lab holds its lock.
    """
    deployment = (
        Deployment.objects.select_related("lab", "revision").filter(pk=deployment_id).first()
    )
    if deployment is None:
        logger.warning("deployment %s is gone", deployment_id)
        return "gone"
    if deployment.is_final:
        return str(deployment.state)
    lock = LabLock(deployment.lab_id, f"deployment:{deployment.pk}")
    try:
        lock.acquire()
    except LockBusy as exc:
        if exc.holder.startswith(f"deployment:{deployment.pk}/"):
            # Another delivery of this very message is working on it.
            return "busy"
        raise Busy(str(exc)) from exc
    try:
        deployment.refresh_from_db()
        if deployment.is_final:
            return str(deployment.state)
        if deployment.action == Deployment.Action.DESTROY:
            return _destroy(deployment, me, dispatch)
        return _deploy(deployment, me, dispatch)
    finally:
        lock.release()


class PartDispatcher:
    """Runs parts of a split lab on other hosts (the tasks module gives the Celery one)."""

    def start(self, deployment_id: int, host: str, action: str) -> Callable[[], dict[str, Any]]:
        """Start ``action`` of the deployment's part on ``host``; return a waiter."""
        raise NotImplementedError


def _wait_parts(waiters: Mapping[str, Callable[[], dict[str, Any]]]) -> list[Failure]:
    failures: list[Failure] = []
    for host, wait in waiters.items():
        try:
            result = wait()
        except Exception as exc:
            failures.append(Failure("host.unreachable", f"host {host}: {exc}"))
            continue
        if not result.get("ok"):
            failures.append(
                Failure(
                    str(result.get("code") or "part.failed"),
                    f"host {host}: {result.get('message', '')}",
                    failed_op=str(result.get("failed_op", "")),
                    errno=result.get("errno"),
                )
            )
    return failures


def _deploy(deployment: Deployment, me: Identity, dispatch: PartDispatcher) -> str:
    lab = deployment.lab
    key = lab.key
    progress = Progress(deployment.pk)
    applied_hosts: list[str] = []
    clock = _Clock()
    try:
        topology = _topology(deployment)
        if deployment.state == Deployment.State.PENDING:
            deployment = _transition(deployment, Deployment.State.PLANNING, host=me.name)
        previous = _placement_from_json(lab.placement or {})
        placement = _place(topology, me, previous, lab.pk)
        vnis = _allocate_vnis(lab, placement)
        local, stitches = part_for(topology, placement, me.name, vnis)
        # Store where every node goes before anything is built: recovery and destroy
        # must find the lab's parts even if this worker dies in the next second.
        Lab.objects.filter(pk=lab.pk).update(
            placement=placement.to_json() if placement.is_split else {},
            host=LabHost.objects.filter(name=me.name).first(),
        )
        clock.lap("placed")
        foreign = foreign_nodes(placement, me.name)
        the_plan = enginelink.prepare_plan(key, local, stitches, foreign)
        plan = the_plan.describe()
        clock.lap("planned")
        lines = list(plan)
        for host in placement.hosts:
            if host != me.name:
                count = sum(1 for h in placement.nodes.values() if h == host)
                lines.append(f"on host {host}: build {count} node(s) and their links")
        lines.extend(s.describe() for s in stitches)
        if deployment.state == Deployment.State.PLANNING:
            deployment = _transition(deployment, Deployment.State.APPLYING, plan=lines)
        others = [h for h in placement.hosts if h != me.name]
        waiters = {h: dispatch.start(deployment.pk, h, "deploy") for h in others}
        applied_hosts = [me.name, *others]
        enginelink.apply(the_plan, progress)
        progress.close()  # every progress event goes out before the final state
        clock.lap(f"applied {len(plan)} op(s)")
        failures = _wait_parts(waiters)
        if failures:
            raise failures[0]
        if others:
            clock.lap(f"{len(others)} other host(s) done")
        drift = enginelink.verify(key, local, stitches, foreign)
        clock.lap("verified")
        if drift:
            raise Failure("verify.drift", "the kernel does not match the plan: " + "; ".join(drift))
        # Node files, exec lines (on a deploy only) and services; a failing node marks
        # its own report, not the lab. Before the programs: a node whose files changed
        # gets a fresh init, which ends its programs too.
        redeploy = deployment.action == Deployment.Action.DEPLOY
        nodes = node_services.start_node_software(key, local, run_exec=redeploy)
        programs.start_programs(key, local)  # the tun/tap/macvtap links' programs
        total = len(plan)
        _transition(
            deployment,
            Deployment.State.RUNNING,
            progress_done=total,
            progress_total=total,
            progress_step="running",
            log=[
                f"placement: {_placement_line(placement)}",
                *[s.describe() for s in stitches],
                *[line for report in nodes for line in report.log_lines()],
                clock.line(),
            ],
        )
        return Deployment.State.RUNNING
    except Exception as exc:
        progress.close()
        failure = as_failure(exc)
        logger.warning("deployment %s failed: %s", deployment.pk, failure)
        log = list(failure.log)
        restored = False
        if deployment.action == Deployment.Action.DEPLOY:
            log.extend(_rollback(deployment, me, dispatch, applied_hosts or [me.name]))
        elif deployment.action == Deployment.Action.APPLY:
            restored, lines = _restore_previous(deployment, me)
            log.extend(lines)
        _fail(deployment, failure, log)
        if restored:  # the lab runs what it ran before the failed edit
            services.do_set_lab_state(deployment.lab_id, Lab.State.RUNNING)
        return Deployment.State.FAILED


class _Clock:
    """Times the phases of a deployment for its log (where the time went)."""

    def __init__(self) -> None:
        self.start = self.last = time.monotonic()
        self.laps: list[str] = []

    def lap(self, what: str) -> None:
        now = time.monotonic()
        self.laps.append(f"{what} {now - self.last:.2f}s")
        self.last = now

    def line(self) -> str:
        return f"timing: {', '.join(self.laps)}; total {time.monotonic() - self.start:.2f}s"


def _placement_line(placement: Placement) -> str:
    if not placement.is_split:
        return f"whole lab on {placement.primary}"
    counts = {h: sum(1 for v in placement.nodes.values() if v == h) for h in placement.hosts}
    return (
        ", ".join(f"{n} node(s) on {h}" for h, n in counts.items())
        + f"; {len(placement.cut)} link(s) stitched"
    )


def _my_nodes(lab_id: int, me: Identity) -> set[str] | None:
    """This host's nodes of a split lab; None (the whole lab) when it is not split."""
    data = Lab.objects.filter(pk=lab_id).values_list("placement", flat=True).first() or {}
    placement = _placement_from_json(data)
    if placement is None or not placement.is_split:
        return None
    return {n for n, h in placement.nodes.items() if h == me.name}


def _rollback(
    deployment: Deployment, me: Identity, dispatch: PartDispatcher, hosts: list[str]
) -> list[str]:
    """Remove whatever this deployment built, on every host it touched; return log lines."""
    log: list[str] = []
    key = deployment.lab.key
    waiters = {h: dispatch.start(deployment.pk, h, "destroy") for h in hosts if h != me.name}
    try:
        enginelink.destroy(key, _my_nodes(deployment.lab_id, me), None)
        log.append(f"rolled back on {me.name}")
    except Exception as exc:
        log.append(f"rollback on {me.name} failed: {as_failure(exc)}")
    for failure in _wait_parts(waiters):
        log.append(f"rollback failed: {failure}")
    VniAllocation.objects.filter(lab_id=deployment.lab_id).delete()
    Lab.objects.filter(pk=deployment.lab_id).update(placement={})
    return log


def _restore_previous(deployment: Deployment, me: Identity) -> tuple[bool, list[str]]:
    """Bring a lab whose edit failed back to the revision it ran before; return (done, log).

    The executor's rollback removes what the failed apply made, but not what it had
    already deleted or changed; converging to the last revision that ran puts those
    back. Only for a lab on this one host (a split lab is left failed: deploy again).
    """
    previous = (
        Deployment.objects.filter(
            lab_id=deployment.lab_id, state=Deployment.State.RUNNING, pk__lt=deployment.pk
        )
        .select_related("revision")
        .order_by("-pk")
        .first()
    )
    if previous is None:
        return False, ["not restored: the lab never ran before this edit"]
    lab = Lab.objects.get(pk=deployment.lab_id)
    placement = _placement_from_json(lab.placement or {})
    if placement is not None and placement.is_split:
        return False, ["not restored: the lab is split across hosts; deploy it again"]
    number = previous.revision.number if previous.revision else "?"
    try:
        topology = _topology(previous)
        enginelink.converge(lab.key, topology, (), None)
        drift = enginelink.verify(lab.key, topology, ())
        if not drift:
            node_services.start_node_software(lab.key, topology, run_exec=False)
            programs.start_programs(lab.key, topology)
    except Exception as exc:
        return False, [f"restoring revision {number} failed: {as_failure(exc)}"]
    if drift:
        return False, [f"restoring revision {number} left drift: " + "; ".join(drift[:3])]
    return True, [f"restored revision {number}, the one that ran before this edit"]


def _fail(deployment: Deployment, failure: Failure, log: list[str]) -> None:
    message = failure.message
    if failure.errno is not None:
        message = f"{message} (errno {failure.errno})"
    try:
        _transition(
            deployment,
            Deployment.State.FAILED,
            error_code=failure.code[:100],
            error_message=message,
            failed_op=failure.failed_op,
            log=log,
        )
    except Exception:
        logger.exception("could not record the failure of deployment %s", deployment.pk)


def _destroy(deployment: Deployment, me: Identity, dispatch: PartDispatcher) -> str:
    lab = deployment.lab
    progress = Progress(deployment.pk)
    try:
        if deployment.state in (Deployment.State.PENDING, Deployment.State.PLANNING):
            deployment = _transition(deployment, Deployment.State.DESTROYING, host=me.name)
        placement = _placement_from_json(lab.placement or {})
        others = [h for h in (placement.hosts if placement else ()) if h != me.name]
        waiters = {h: dispatch.start(deployment.pk, h, "destroy") for h in others}
        enginelink.destroy(lab.key, _my_nodes(lab.pk, me), progress)
        progress.close()
        failures = _wait_parts(waiters)
        if failures:
            raise failures[0]
        VniAllocation.objects.filter(lab=lab).delete()
        Lab.objects.filter(pk=lab.pk).update(placement={})
        _transition(deployment, Deployment.State.DESTROYED, progress_step="destroyed")
        return Deployment.State.DESTROYED
    except Exception as exc:
        progress.close()
        failure = as_failure(exc)
        _fail(deployment, failure, list(failure.log))
        return Deployment.State.FAILED


def run_part(deployment_id: int, me: Identity, action: str) -> dict[str, Any]:
    """Build (``deploy``) or remove (``destroy``) this host's part of a split lab.

    Called on the other hosts of a split lab by the coordinating host; returns
    ``{"ok": bool, ...}`` with the failure's code, message, failed op and errno.
    """
    deployment = (
        Deployment.objects.select_related("lab", "revision").filter(pk=deployment_id).first()
    )
    if deployment is None:
        return {"ok": False, "code": "deployment.gone", "message": "no such deployment"}
    key = deployment.lab.key
    try:
        if action == "destroy":
            enginelink.destroy(key, _my_nodes(deployment.lab_id, me), None)
            return {"ok": True}
        topology = _topology(deployment)
        placement = _placement_from_json(deployment.lab.placement or {})
        local, stitches = part_for(topology, placement, me.name, _vnis_of(deployment.lab_id))
        foreign = foreign_nodes(placement, me.name)
        progress = Progress(deployment_id, f"{me.name}: ")
        try:
            enginelink.converge(key, local, stitches, progress, foreign)
        finally:
            progress.close()
        drift = enginelink.verify(key, local, stitches, foreign)
        if drift:
            raise Failure("verify.drift", "; ".join(drift))
        deploying = deployment.action == Deployment.Action.DEPLOY
        node_services.start_node_software(key, local, run_exec=deploying)
        programs.start_programs(key, local)
        return {"ok": True}
    except Exception as exc:
        failure = as_failure(exc)
        return {
            "ok": False,
            "code": failure.code,
            "message": failure.message,
            "failed_op": failure.failed_op,
            "errno": failure.errno,
        }


def as_failure(exc: BaseException) -> Failure:
    """Turn any exception into a ``Failure`` (the engine's errors carry op and errno)."""
    if isinstance(exc, Failure):
        return exc
    return enginelink.failure_fields(exc, Failure)
