"""Celery tasks of a lab host: thin shells that take an order, run the core, report.

``run_part`` carries out a :class:`lab.wire.PartOrder` (deploy, apply, destroy,
rollback or reconcile of this host's part of a lab); ``sweep_host`` removes what
labs the control plane no longer keeps left here. When the worker is ready it
starts the heartbeat, whose first beat asks the control plane for the orders
that bring this host's labs back.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from celery import Task
from celery.signals import task_postrun, worker_process_init, worker_ready, worker_shutdown

from lab import wire
from worker import recovery
from worker.celery import app
from worker.hosts import Heartbeat, identity
from worker.orchestrate import Busy, run_order
from worker.report import Reporter

logger = logging.getLogger(__name__)

BUSY_RETRY_SECONDS = 2
BUSY_MAX_RETRIES = 300


@app.task(name=wire.RUN_PART_TASK, bind=True, acks_late=True)
def run_part(self: Task, order: dict[str, Any]) -> str:  # type: ignore[type-arg]
    """Carry out an order of the control plane on this host's part of a lab."""
    parsed = wire.PartOrder.from_json(order)
    try:
        return run_order(parsed, Reporter(identity().name))
    except Busy as exc:
        # Another order of the part is finishing; its lock frees soon.
        raise self.retry(
            exc=exc, countdown=BUSY_RETRY_SECONDS, max_retries=BUSY_MAX_RETRIES
        ) from exc


@app.task(name=wire.SWEEP_HOST_TASK, acks_late=True)
def sweep_host(keep: Iterable[str], newest: int) -> list[str]:
    """Remove what database labs not in ``keep`` left on this host."""
    return recovery.sweep_orphans(identity(), keep, int(newest))


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
    """Start the heartbeat (its first beat tells the control plane this host started)."""
    global _heartbeat
    _heartbeat = Heartbeat(identity())
    _heartbeat.start()


@worker_shutdown.connect
def _on_worker_shutdown(sender: Any = None, **_: Any) -> None:
    if _heartbeat is not None:
        _heartbeat.stop()
