"""The control plane's consumer: apply the lab hosts' reports, and its periodic jobs.

Lab hosts never touch the database; they send typed reports (``lab/wire.py``)
on the ``control`` queue and this module applies them through the services:

- a deployment's parts (one per host) move on ``part.started`` (with the host's
  plan), ``part.progress`` and ``part.done``; when every part is done the
  deployment is ``running`` (or ``destroyed``); a failed part fails it, and the
  other hosts of a failed deploy are told to roll back;
- heartbeats keep the ``LabHost`` rows; a host's first beat after a start is
  answered with orders that bring its labs back and a sweep of the rest;
- check results are recorded on the exercise attempt.

Each part keeps the sequence number of the last report applied from its host
(``Deployment.parts``), under the deployment's row lock: a replayed or
duplicated report (sequence not above it) changes nothing, a late one after a
newer one is dropped, and a lost one is made good by the next (a ``part.done``
without its ``part.started`` still walks the state machine through) or, when
nothing more comes, by sending the order again (``requeue_stalled``).
"""

from __future__ import annotations

import logging
import os
import time
from datetime import UTC, datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from lab import dispatch, services, wire
from lab.models import Deployment, Lab, LabHost, VniAllocation

logger = logging.getLogger(__name__)

# A part nobody reported on for this long is ordered again (harmless: orders converge).
STALL_AFTER = float(os.environ.get("TOPOLAB_STALL_AFTER", "30"))
KEEP_STATES = (Lab.State.RUNNING, Lab.State.DEPLOYING, Lab.State.DESTROYING, Lab.State.UNKNOWN)
S = Deployment.State


def apply_report(data: dict[str, Any]) -> str:
    """Apply one encoded report; return what became of it (for logs and tests).

    Raises:
        WireError: the report does not decode.
    """
    report = wire.decode(data)
    if isinstance(report, wire.HostBeat):
        return _beat(report)
    if isinstance(report, wire.CheckResults):
        return _checks(report)
    if isinstance(report, wire.PartDone) and report.action == wire.Action.RECONCILE:
        return _reconciled(report)
    if isinstance(report, wire.PartStarted | wire.PartProgress | wire.PartDone):
        return _part(report)
    raise wire.WireError(f"no handler for {report.TYPE}")


# -- deployments ------------------------------------------------------------------------


def _parts(dep: Deployment) -> dict[str, Any]:
    parts = dict(dep.parts or {})
    if not parts.get("hosts"):
        # A deployment made before parts existed: its one host.
        parts = {"primary": dep.host, "hosts": {dep.host: {"state": "ordered", "seq": 0}}}
    return parts


_PATHS = {
    Deployment.Action.DEPLOY: (S.PENDING, S.PLANNING, S.APPLYING, S.RUNNING),
    Deployment.Action.APPLY: (S.PENDING, S.PLANNING, S.APPLYING, S.RUNNING),
    Deployment.Action.DESTROY: (S.PENDING, S.DESTROYING, S.DESTROYED),
}


def _walk(dep: Deployment, target: str, **fields: Any) -> Deployment:
    """Move ``dep`` to ``target`` through the states a lost report skipped.

    ``fields`` go with the last move.
    """
    path = _PATHS[dep.action]
    start = path.index(dep.state) if dep.state in path else 0
    for state in path[start + 1 : path.index(target) + 1]:
        dep = services.do_transition_deployment(
            dep.pk, state, **(fields if state == target else {})
        )
    return dep


def _plan_lines(parts: dict[str, Any]) -> list[str]:
    primary = parts.get("primary")
    hosts = parts["hosts"]
    lines = list(hosts.get(primary, {}).get("plan", []))
    for host, part in hosts.items():
        if host != primary:
            lines.append(f"on host {host}: {len(part.get('plan', []))} step(s)")
    return lines


def _part(report: wire.PartStarted | wire.PartProgress | wire.PartDone) -> str:
    with transaction.atomic():
        dep = (
            Deployment.objects.select_for_update()
            .select_related("lab", "revision")
            .filter(pk=report.deployment)
            .first()
        )
        if dep is None:
            return "gone"
        parts = _parts(dep)
        part = parts["hosts"].get(report.host)
        if part is None:
            logger.warning("deployment %s has no part on %s", dep.pk, report.host)
            return "stranger"
        if report.seq <= int(part.get("seq", 0)):
            return "duplicate"
        part["seq"] = report.seq
        part["at"] = time.time()
        if dep.is_final:
            outcome = _late(dep, parts, report)
        elif isinstance(report, wire.PartStarted):
            outcome = _started(dep, parts, part, report)
        elif isinstance(report, wire.PartProgress):
            outcome = _progress(dep, parts, report)
        else:
            outcome = _done(dep, parts, part, report)
        Deployment.objects.filter(pk=dep.pk).update(parts=parts)
    return outcome


def _late(dep: Deployment, parts: dict[str, Any], report: wire.Report) -> str:
    """A report for a final deployment: a rollback's outcome is logged, the rest dropped."""
    if isinstance(report, wire.PartDone) and report.action == wire.Action.ROLLBACK:
        line = (
            f"rolled back on {report.host}"
            if report.ok
            else f"rollback on {report.host} failed: {report.message}"
        )
        Deployment.objects.filter(pk=dep.pk).update(log=[*(dep.log or []), line])
        return "rollback"
    return "late"


def _started(
    dep: Deployment, parts: dict[str, Any], part: dict[str, Any], report: wire.PartStarted
) -> str:
    part["state"] = "applying"
    part["plan"] = list(report.plan)
    lines = _plan_lines(parts)
    if dep.action == Deployment.Action.DESTROY:
        _walk(dep, S.DESTROYING, host=parts["primary"])
        return "started"
    if dep.state in (S.PENDING, S.PLANNING):
        if dep.state == S.PENDING:
            dep = _walk(dep, S.PLANNING, host=parts["primary"])
        services.do_transition_deployment(dep.pk, S.APPLYING, plan=lines)
    else:
        Deployment.objects.filter(pk=dep.pk).update(plan=lines)
    return "started"


def _progress(dep: Deployment, parts: dict[str, Any], report: wire.PartProgress) -> str:
    if dep.state == S.PENDING:
        target = S.DESTROYING if dep.action == Deployment.Action.DESTROY else S.APPLYING
        _walk(dep, target, host=parts["primary"])
    prefix = "" if report.host == parts["primary"] else f"{report.host}: "
    services.do_report_progress(dep.pk, report.done, report.total, prefix + report.step)
    return "progress"


def _placement_line(lab: Lab, parts: dict[str, Any]) -> str:
    placement = dispatch.placement_of(lab)
    if placement is None:
        return f"placement: whole lab on {parts['primary']}"
    counts = {h: sum(1 for v in placement.nodes.values() if v == h) for h in placement.hosts}
    return (
        "placement: "
        + ", ".join(f"{n} node(s) on {h}" for h, n in counts.items())
        + f"; {len(placement.cut)} link(s) stitched"
    )


def _done(
    dep: Deployment,
    parts: dict[str, Any],
    part: dict[str, Any],
    report: wire.PartDone,
) -> str:
    part["log"] = list(report.log)
    part["ops"] = report.ops
    if report.action == wire.Action.ROLLBACK:
        return "rollback"
    if not report.ok:
        part["state"] = "failed"
        return _failed(dep, parts, report)
    part["state"] = "done"
    if any(p.get("state") != "done" for p in parts["hosts"].values()):
        return "part-done"
    logs = [line for p in parts["hosts"].values() for line in p.get("log", [])]
    if dep.action == Deployment.Action.DESTROY:
        VniAllocation.objects.filter(lab_id=dep.lab_id).delete()
        Lab.objects.filter(pk=dep.lab_id).update(placement={})
        _walk(dep, S.DESTROYED, progress_step="destroyed", log=logs)
        return "destroyed"
    total = sum(int(p.get("ops", 0)) for p in parts["hosts"].values())
    _walk(
        dep,
        S.RUNNING,
        progress_done=total,
        progress_total=total,
        progress_step="running",
        log=[_placement_line(dep.lab, parts), *logs],
    )
    return "running"


def _failed(dep: Deployment, parts: dict[str, Any], report: wire.PartDone) -> str:
    split = len(parts["hosts"]) > 1
    message = f"host {report.host}: {report.message}" if split else report.message
    if report.errno is not None:
        message = f"{message} (errno {report.errno})"
    log = list(report.log)
    services.do_transition_deployment(
        dep.pk,
        S.FAILED,
        error_code=(report.code or "part.failed")[:100],
        error_message=message,
        failed_op=report.failed_op,
        log=log,
    )
    if dep.action == Deployment.Action.DEPLOY:
        others = [h for h in parts["hosts"] if h != report.host]
        if others:
            fresh = Deployment.objects.select_related("lab", "revision").get(pk=dep.pk)
            orders = dispatch.orders_for(fresh, others, wire.Action.ROLLBACK)

            def send() -> None:
                for order in orders:
                    dispatch.send_order(order)

            transaction.on_commit(send)
        VniAllocation.objects.filter(lab_id=dep.lab_id).delete()
        Lab.objects.filter(pk=dep.lab_id).update(placement={})
    elif dep.action == Deployment.Action.APPLY and report.restored:
        services.do_set_lab_state(dep.lab_id, Lab.State.RUNNING)  # it runs what it ran
    return "failed"


def _reconciled(report: wire.PartDone) -> str:
    """A host verified a running lab after its restart: running, or unknown."""
    lab = Lab.objects.filter(pk=report.lab).first()
    if lab is None:
        return "gone"
    busy = Deployment.objects.filter(lab=lab).exclude(state__in=Deployment.FINAL_STATES)
    if busy.exists() or lab.state not in (Lab.State.RUNNING, Lab.State.UNKNOWN):
        return "late"
    state = Lab.State.RUNNING if report.state == "running" else Lab.State.UNKNOWN
    services.do_set_lab_state(lab.pk, state)
    return state


# -- hosts ------------------------------------------------------------------------------


def _beat(report: wire.HostBeat) -> str:
    with transaction.atomic():
        host, _ = LabHost.objects.select_for_update().get_or_create(name=report.host)
        if report.seq <= host.last_seq:
            return "duplicate"
        LabHost.objects.filter(pk=host.pk).update(
            underlay_address=report.underlay,
            capacity_nodes=report.capacity,
            link_kinds=list(report.kinds),
            load=report.load,
            last_heartbeat=timezone.now(),
            last_seq=report.seq,
        )
    if report.started:
        host_started(report.host)
        return "started"
    # Each beat also looks for this host's parts nobody reported on (an order lost with a
    # Redis restart, a final report lost): the beat itself proves the host is there.
    requeue_stalled(hosts={report.host})
    return "beat"


def labs_on(host: str) -> list[Lab]:
    """Return the labs in a state that keeps kernel objects with nodes on ``host``."""
    out: list[Lab] = []
    for lab in Lab.objects.select_related("host").filter(state__in=KEEP_STATES):
        nodes = (lab.placement or {}).get("nodes")
        if isinstance(nodes, dict) and nodes:
            if host in nodes.values():
                out.append(lab)
        elif lab.host is not None and lab.host.name == host:
            out.append(lab)
    return out


def host_started(host: str) -> dict[str, list[int]]:
    """A host (re)started: order again what it had not finished, reconcile its running
    labs, and sweep what is not kept. Returns the deployment ids and lab ids handled.
    """
    resent: list[int] = []
    for dep in _unfinished(host):
        try:
            dispatch.send_orders(dep, [host])
            resent.append(dep.pk)
        except Exception:
            logger.exception("could not order deployment %s again", dep.pk)
    reconciled: list[int] = []
    for lab in labs_on(host):
        if lab.state not in (Lab.State.RUNNING, Lab.State.UNKNOWN):
            continue
        if Deployment.objects.filter(lab=lab).exclude(state__in=Deployment.FINAL_STATES).exists():
            continue
        last = (
            Deployment.objects.filter(lab=lab, state=S.RUNNING)
            .select_related("lab", "revision")
            .order_by("-id")
            .first()
        )
        if last is None:
            continue
        try:
            dispatch.send_orders(last, [host], wire.Action.RECONCILE)
            reconciled.append(lab.pk)
        except Exception:
            logger.exception("could not reconcile lab %s on %s", lab.pk, host)
    sweep(host)
    return {"resent": resent, "reconciled": reconciled}


def _unfinished(host: str) -> list[Deployment]:
    """The non-final deployments with a part on ``host`` that it has not finished."""
    out: list[Deployment] = []
    for dep in (
        Deployment.objects.select_related("lab", "revision")
        .exclude(state__in=Deployment.FINAL_STATES)
        .order_by("id")
    ):
        part = _parts(dep)["hosts"].get(host)
        if part is not None and part.get("state") not in ("done", "failed"):
            out.append(dep)
    return out


def sweep(host: str) -> None:
    """Tell ``host`` which labs it keeps; it removes the other database labs it holds."""
    from lab.celery import app

    keep = [lab.key for lab in labs_on(host)]
    busy = Deployment.objects.exclude(state__in=Deployment.FINAL_STATES)
    keep.extend(d.lab.key for d in busy.select_related("lab"))
    newest = Deployment.objects.order_by("-id").values_list("id", flat=True).first() or 0
    app.send_task(
        wire.SWEEP_HOST_TASK,
        args=[sorted(set(keep)), newest],
        queue=wire.host_queue(host),
        expires=dispatch.ORDER_EXPIRES,
        ignore_result=True,
    )


def mark_down_hosts() -> list[str]:
    """Mark ``unknown`` every active lab with nodes on a host that missed its heartbeats.

    The lab is not forgotten: when its host comes back, its reconcile verifies it
    and marks it running again.
    """
    marked: list[str] = []
    for host in sorted(dispatch.down_host_names()):
        for lab in labs_on(host):
            if lab.state in (Lab.State.RUNNING, Lab.State.DEPLOYING, Lab.State.DESTROYING):
                services.do_set_lab_state(lab.pk, Lab.State.UNKNOWN)
                marked.append(f"lab {lab.pk} on {host}")
    return marked


def requeue_stalled(now: float | None = None, hosts: set[str] | None = None) -> list[int]:
    """Order again the parts on up hosts (only ``hosts`` when given) that nobody reported
    on for ``STALL_AFTER``.

    A part's order may be lost (Redis restarted with it queued) or its final report
    may be; the host converges again and reports. Returns the deployment ids.
    """
    now = time.time() if now is None else now
    up = hosts if hosts is not None else {h.name for h in dispatch.up_hosts()}
    resent: list[int] = []
    for dep in (
        Deployment.objects.select_related("lab", "revision")
        .exclude(state__in=Deployment.FINAL_STATES)
        .order_by("id")
    ):
        parts = _parts(dep)
        created = dep.created.timestamp() if dep.created else now
        stalled = [
            h
            for h, p in parts["hosts"].items()
            if h in up
            and p.get("state") not in ("done", "failed")
            and now - float(p.get("at") or created) > STALL_AFTER
        ]
        if not stalled:
            continue
        logger.warning("deployment %s stalled on %s; ordering it again", dep.pk, stalled)
        try:
            dispatch.send_orders(dep, stalled)
        except Exception:
            logger.exception("could not order deployment %s again", dep.pk)
            continue
        with transaction.atomic():
            fresh = Deployment.objects.select_for_update().get(pk=dep.pk)
            parts = _parts(fresh)
            for h in stalled:
                parts["hosts"][h]["at"] = now
            Deployment.objects.filter(pk=dep.pk).update(parts=parts)
        resent.append(dep.pk)
    return resent


# -- checks -----------------------------------------------------------------------------


def _checks(report: wire.CheckResults) -> str:
    from lab.classroom.checks import CheckResult
    from lab.classroom.models import ExerciseAttempt
    from lab.classroom.services import do_record_check_results

    at = datetime.fromtimestamp(report.seq / 1e6, tz=UTC)
    with transaction.atomic():
        attempt = ExerciseAttempt.objects.select_for_update().filter(lab_id=report.lab).first()
        if attempt is None:
            return "gone"
        if attempt.last_checked is not None and attempt.last_checked >= at:
            return "duplicate"
        results = [
            CheckResult(
                passed=bool(r.get("passed")),
                message=str(r.get("message", "")),
                hint=str(r.get("hint", "")),
            )
            for r in report.results
        ]
        do_record_check_results(report.lab, results, now=at)
    return "recorded"
