"""Celery task of the classroom on a lab host: run an exercise's checks, report them.

A thin shell: the order carries the lab, its key, its topology and the check
specs (pure data, ``lab/classroom/checks.py``); the host runs them
(``worker/checks.py``) and reports the results to the control plane, which
records them. No database here.
"""

from __future__ import annotations

from typing import Any

from lab import wire
from lab.classroom.checks import load_checks
from lab.topology.schema import Topology
from worker.celery import app
from worker.hosts import identity
from worker.report import Reporter, next_seq


def run_checks_now(order: dict[str, Any], reporter: Reporter | None = None) -> list[dict[str, Any]]:
    """Run the checks an order carries against its lab here, report and return the results.

    Raises:
        ChecksError: the order's specs do not validate (a programming error upstream).
        WireError: the order lacks a field.
    """
    from worker.checks import run_checks as run

    try:
        lab, key = int(order["lab"]), str(order["key"])
        topology = Topology.model_validate(order["topology"])
        specs = load_checks(order["checks"])
    except (KeyError, TypeError, ValueError) as exc:
        raise wire.WireError(f"bad checks order: {exc}") from None
    results = [r.as_dict() for r in run(key, topology, specs)]
    reporter = reporter or Reporter(identity().name)
    reporter.send(
        wire.CheckResults(host=reporter.host, seq=next_seq(), lab=lab, results=tuple(results))
    )
    return results


@app.task(name=wire.RUN_CHECKS_TASK)
def run_checks(order: dict[str, Any]) -> list[dict[str, Any]]:
    """Run the exercise checks an order carries (sent to the lab's host queue)."""
    return run_checks_now(order)
