"""Celery tasks of the classroom: run an exercise's checks, and the reservations tick.

Thin shells: take ids (or a time), re-fetch through the classroom's services,
run the core, record the outcome.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from worker.celery import app


def run_checks_now(lab_id: int) -> list[dict[str, Any]]:
    """Run the checks of the exercise copy ``lab_id`` here and record them; return results.

    Raises:
        ExerciseAttempt.DoesNotExist: the lab stopped being an exercise copy meanwhile.
    """
    from lab.classroom import services
    from worker.checks import run_checks as run

    inputs = services.check_run_inputs(lab_id)
    if inputs is None:
        return []
    key, topology, specs = inputs
    results = run(key, topology, specs)
    services.do_record_check_results(lab_id, results)
    return [r.as_dict() for r in results]


@app.task(name="worker.tasks_classroom.run_checks")
def run_checks(lab_id: int) -> list[dict[str, Any]]:
    """Run the exercise checks of lab ``lab_id`` (sent to the lab's host queue)."""
    return run_checks_now(lab_id)


@app.task(name="worker.tasks_classroom.reservations_tick")
def reservations_tick(now: str | None = None) -> dict[str, list[int]]:
    """Start, warn about and end reservations at ``now`` (ISO time; default: the clock)."""
    from lab.classroom import services

    moment = datetime.fromisoformat(now) if now else None
    return services.reservations_tick(moment)
