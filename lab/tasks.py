"""The control plane's Celery tasks (queue ``control``): reports and periodic jobs.

Thin shells over ``lab/control.py`` and the classroom's services; they run in
the control-plane worker (``manage.py control``), never on a lab host.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from lab import wire
from lab.celery import app


@app.task(name=wire.REPORT_TASK)
def report(data: dict[str, Any]) -> str:
    """Apply one report of a lab host."""
    from lab import control

    return control.apply_report(data)


@app.task(name=wire.CHECK_HOSTS_TASK)
def check_hosts() -> dict[str, list[Any]]:
    """Mark the labs of silent hosts ``unknown``; order stalled parts again (beat)."""
    from lab import control

    return {"down": control.mark_down_hosts(), "resent": control.requeue_stalled()}


@app.task(name=wire.SWEEP_ALL_TASK)
def sweep_all() -> list[str]:
    """Ask every up host to sweep what labs it should not keep left behind (beat)."""
    from lab import control, dispatch

    names = [h.name for h in dispatch.up_hosts()]
    for name in names:
        control.sweep(name)
    return names


@app.task(name=wire.RESERVATIONS_TICK_TASK)
def reservations_tick(now: str | None = None) -> dict[str, list[int]]:
    """Start, warn about and end reservations at ``now`` (ISO time; default: the clock)."""
    from lab.classroom import services

    moment = datetime.fromisoformat(now) if now else None
    return services.reservations_tick(moment)
