"""Recovery: a host that (re)starts reconciles its labs, hosts that go silent are
marked down, deployments whose message was lost are picked up again, and orphans
(what labs that no longer exist or are not running left in the kernel) are swept.

Discovery trusts owner tags, never the database alone: a lab whose row is gone
is still found in the kernel by its key and removed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import time
from collections.abc import Callable
from typing import Any

import redis
from django.db import close_old_connections

from lab import services
from lab.models import Deployment, Lab
from worker import enginelink, node_services, programs
from worker.hosts import Identity, down_host_names
from worker.locks import LabLock, LockBusy, holder, release_stale

logger = logging.getLogger(__name__)

# Only keys of database labs are swept (``l<pk>``); labs the CLI made are the admin's.
DB_LAB_KEY = re.compile(r"^l(\d+)$")
# A deployment is picked up again when nobody worked on it for this long.
STALL_AFTER = float(os.environ.get("TOPOLAB_STALL_AFTER", "10"))
KEEP_STATES = (
    Lab.State.RUNNING,
    Lab.State.DEPLOYING,
    Lab.State.DESTROYING,
    Lab.State.UNKNOWN,
)


def _sweep_filter() -> re.Pattern[str] | None:
    # Tests share the machine with other sessions: they restrict sweeping to their keys.
    pattern = os.environ.get("TOPOLAB_SWEEP_KEYS")
    return re.compile(pattern) if pattern else None


def _labs_on(host: str) -> list[Lab]:
    """Return the labs that have nodes on ``host`` (whole or split)."""
    out: list[Lab] = []
    for lab in Lab.objects.select_related("host").filter(state__in=KEEP_STATES):
        nodes = (lab.placement or {}).get("nodes")
        if isinstance(nodes, dict) and nodes:
            if host in nodes.values():
                out.append(lab)
        elif lab.host is not None and lab.host.name == host:
            out.append(lab)
    return out


def _set_lab_state(lab: Lab, state: str) -> None:
    if lab.state == state:
        return
    services.do_set_lab_state(lab.pk, state)
    lab.state = state


def mark_down_hosts() -> list[str]:
    """Mark ``unknown`` every active lab with nodes on a host that missed its heartbeats.

    The lab is not forgotten: when its host comes back, its reconcile verifies it
    and marks it running again.
    """
    down = down_host_names()
    marked: list[str] = []
    if not down:
        return marked
    for host in sorted(down):
        for lab in _labs_on(host):
            if lab.state in (Lab.State.RUNNING, Lab.State.DEPLOYING, Lab.State.DESTROYING):
                _set_lab_state(lab, Lab.State.UNKNOWN)
                marked.append(f"lab {lab.pk} on {host}")
    return marked


def sweep_orphans(me: Identity) -> list[str]:
    """Remove the kernel objects of labs that no longer exist or are not running.

    A lab with a deployment in progress, or whose lock is held, is left alone.
    Returns the keys removed.
    """
    only = _sweep_filter()
    removed: list[str] = []
    for key in sorted(enginelink.lab_keys_present()):
        match = DB_LAB_KEY.match(key)
        if match is None or (only is not None and not only.search(key)):
            continue
        lab_id = int(match.group(1))
        lab = Lab.objects.filter(pk=lab_id).first()
        if lab is not None:
            if lab.state in KEEP_STATES:
                continue
            if (
                Deployment.objects.filter(lab=lab)
                .exclude(state__in=Deployment.FINAL_STATES)
                .exists()
            ):
                continue
        try:
            with LabLock(lab_id, f"sweep:{me.name}"):
                enginelink.destroy(key, None, None)
            removed.append(key)
        except LockBusy:
            continue
        except Exception:
            logger.exception("could not sweep lab %s", key)
    if removed:
        logger.info("swept orphans of %s", ", ".join(removed))
    return removed


def reconcile(me: Identity) -> dict[str, Any]:
    """Bring this host's labs in line with its kernel after a (re)start.

    Interrupted deployments are carried to a final state (finished, or failed and
    rolled back); running labs are verified through discovery (``unknown`` when the
    kernel no longer matches); then orphans are swept.
    """
    from worker import orchestrate
    from worker.tasks import CeleryParts

    finished: dict[str, str] = {}
    for dep in Deployment.objects.filter(host=me.name).exclude(state__in=Deployment.FINAL_STATES):
        # One worker per host, and it is starting: a lock this host's deployment holds
        # belongs to the process that died, so it is stale.
        with contextlib.suppress(redis.RedisError):
            release_stale(dep.lab_id, f"deployment:{dep.pk}/")
        try:
            finished[str(dep.pk)] = orchestrate.run_deployment(dep.pk, me, CeleryParts())
        except orchestrate.Busy:
            finished[str(dep.pk)] = "busy"
    verified: dict[str, str] = {}
    for lab in _labs_on(me.name):
        if lab.state not in (Lab.State.RUNNING, Lab.State.UNKNOWN):
            continue
        if Deployment.objects.filter(lab=lab).exclude(state__in=Deployment.FINAL_STATES).exists():
            continue
        verified[lab.key] = _verify_lab(lab, me)
    swept = sweep_orphans(me)
    return {"deployments": finished, "verified": verified, "swept": swept}


def _verify_lab(lab: Lab, me: Identity) -> str:
    from worker import orchestrate

    last = (
        Deployment.objects.filter(lab=lab, state=Deployment.State.RUNNING)
        .select_related("revision")
        .order_by("-id")
        .first()
    )
    if last is None:
        return "no deployment"
    try:
        topology = orchestrate._topology(last)
        placement = orchestrate._placement_from_json(lab.placement or {})
        local, stitches = orchestrate.part_for(
            topology, placement, me.name, orchestrate._vnis_of(lab.pk)
        )
        foreign = orchestrate.foreign_nodes(placement, me.name)
        drift = enginelink.verify(lab.key, local, stitches, foreign)
    except Exception as exc:
        logger.exception("could not verify lab %s", lab.key)
        drift = [str(exc)]
    if drift:
        logger.warning("lab %s does not match its kernel: %s", lab.key, "; ".join(drift[:5]))
        _set_lab_state(lab, Lab.State.UNKNOWN)
        return "unknown"
    # The devices are there; so must be the programs that hold the tun/tap/macvtap ones
    # (a program that died with the machine's load or by hand is started again).
    try:
        # Services that died with the worker's host are started again; exec lines are not.
        node_services.start_node_software(lab.key, local, run_exec=False)
        programs.start_programs(lab.key, local)
    except programs.ProgramError as exc:
        logger.warning("lab %s: a program did not start again: %s", lab.key, exc)
        _set_lab_state(lab, Lab.State.UNKNOWN)
        return "unknown"
    _set_lab_state(lab, Lab.State.RUNNING)
    return "running"


def requeue_stalled_factory(me: Identity) -> Callable[[], None]:
    """Return a job (run with each heartbeat) that re-queues deployments nobody works on.

    A deployment of this host that is not final, is older than ``STALL_AFTER``, and
    whose lab lock stayed free over two heartbeats lost its message (Redis restarted
    with it queued, or a worker died holding it): it is sent again. Running it twice
    is harmless: the task is idempotent and the lab lock admits one.
    """
    free_since: dict[int, float] = {}
    last_sent: dict[int, float] = {}

    def job() -> None:
        from django.utils import timezone

        from worker.celery import app, host_queue

        close_old_connections()
        now = time.monotonic()
        cutoff = timezone.now() - timezone.timedelta(seconds=STALL_AFTER)
        stalled = Deployment.objects.filter(host=me.name, created__lt=cutoff).exclude(
            state__in=Deployment.FINAL_STATES
        )
        seen: set[int] = set()
        for dep in stalled.only("id", "lab_id"):
            seen.add(dep.pk)
            try:
                held = holder(dep.lab_id)
            except redis.RedisError:
                return
            if held is not None:
                free_since.pop(dep.pk, None)
                continue
            first = free_since.setdefault(dep.pk, now)
            if now - first < STALL_AFTER or now - last_sent.get(dep.pk, 0.0) < 3 * STALL_AFTER:
                continue
            logger.warning("deployment %s stalled; queueing it again", dep.pk)
            try:
                app.send_task(
                    "worker.tasks.run_deployment", args=[dep.pk], queue=host_queue(me.name)
                )
                last_sent[dep.pk] = now
            except Exception:
                logger.exception("could not re-queue deployment %s", dep.pk)
        for gone in set(free_since) - seen:
            free_since.pop(gone, None)

    return job
