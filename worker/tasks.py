"""Celery tasks: thin shells that take ids, re-fetch, and call the orchestration core.

``run_deployment`` is the task the web enqueues (by name) on ``host.<name>``;
``run_part`` builds or removes one host's part of a split lab; ``check_hosts``
and ``sweep_all`` are the beat's; ``sweep_host`` and ``reconcile_host`` run on
one host. Recovery runs when a worker becomes ready (``worker_ready``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from celery import Task
from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import task_postrun, worker_process_init, worker_ready, worker_shutdown

from worker import recovery
from worker.celery import TASK_SOFT_TIME_LIMIT, app, host_queue
from worker.hosts import Heartbeat, identity
from worker.orchestrate import PART_TASK, Busy, PartDispatcher

logger = logging.getLogger(__name__)

BUSY_RETRY_SECONDS = 2
BUSY_MAX_RETRIES = 300


class CeleryParts(PartDispatcher):
    """Sends part tasks to the other hosts' queues and waits for their results."""

    def start(self, deployment_id: int, host: str, action: str) -> Callable[[], dict[str, Any]]:
        """Queue ``action`` of the deployment's part on ``host``; return a waiter."""
        result = app.send_task(PART_TASK, args=[deployment_id, action], queue=host_queue(host))

        def wait() -> dict[str, Any]:
            # The coordinator never waits on its own queue, so this cannot deadlock
            # on a single host; across hosts the worker pool has more than one slot.
            value = result.get(timeout=TASK_SOFT_TIME_LIMIT, disable_sync_subtasks=False)
            return dict(value) if isinstance(value, dict) else {"ok": False, "message": "?"}

        return wait


@app.task(name="worker.tasks.run_deployment", bind=True, acks_late=True)
def run_deployment(self: Task, deployment_id: int) -> str:  # type: ignore[type-arg]
    """Carry a deployment (deploy, apply-changes or destroy) to a final state."""
    from worker import orchestrate

    try:
        return orchestrate.run_deployment(deployment_id, identity(), CeleryParts())
    except Busy as exc:
        # Another deployment of the lab is finishing; its lock frees soon.
        raise self.retry(
            exc=exc, countdown=BUSY_RETRY_SECONDS, max_retries=BUSY_MAX_RETRIES
        ) from exc
    except SoftTimeLimitExceeded:
        logger.error("deployment %s hit the time limit", deployment_id)
        raise


@app.task(name=PART_TASK, acks_late=True)
def run_part(deployment_id: int, action: str) -> dict[str, Any]:
    """Build or remove this host's part of a split lab (asked by the coordinating host)."""
    from worker import orchestrate

    return orchestrate.run_part(deployment_id, identity(), action)


@app.task(name="worker.tasks.check_hosts")
def check_hosts() -> list[str]:
    """Mark the labs of hosts that missed their heartbeats ``unknown`` (beat, any host)."""
    return recovery.mark_down_hosts()


@app.task(name="worker.tasks.sweep_all")
def sweep_all() -> list[str]:
    """Ask every up host to sweep its orphans (beat, any host)."""
    from worker.hosts import up_hosts

    names = [h.name for h in up_hosts()]
    for name in names:
        app.send_task("worker.tasks.sweep_host", queue=host_queue(name))
    return names


@app.task(name="worker.tasks.sweep_host", acks_late=True)
def sweep_host() -> list[str]:
    """Remove what labs that no longer exist or are not running left on this host."""
    return recovery.sweep_orphans(identity())


@app.task(name="worker.tasks.reconcile_host", acks_late=True)
def reconcile_host() -> dict[str, Any]:
    """Reconcile this host's labs with its kernel, then sweep orphans."""
    return recovery.reconcile(identity())


_heartbeat: Heartbeat | None = None


@worker_process_init.connect
def _on_process_init(**_: Any) -> None:
    """Detect the host's facts in each pool process now, not in its first deploy."""
    try:
        from worker import engine

        engine.host_facts()
    except Exception:
        logger.exception("could not detect host facts at start")


@task_postrun.connect
def _release_kernel(**_: Any) -> None:
    """After every task, let go of the namespaces this process held sockets in."""
    from worker.kernel import release_default

    release_default()


@worker_ready.connect
def _on_worker_ready(sender: Any = None, **_: Any) -> None:
    """Start the heartbeat and queue the recovery of this host (runs in the pool)."""
    global _heartbeat
    me = identity()
    _heartbeat = Heartbeat(me)
    _heartbeat.extra.append(recovery.requeue_stalled_factory(me))
    _heartbeat.start()
    app.send_task("worker.tasks.reconcile_host", queue=host_queue(me.name))


@worker_shutdown.connect
def _on_worker_shutdown(sender: Any = None, **_: Any) -> None:
    if _heartbeat is not None:
        _heartbeat.stop()
