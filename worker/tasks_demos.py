"""Celery task of the demo library on a lab host: run a demo lab's probes and journey.

A thin shell: the order carries the lab key, the demo's slug (the catalog is
pure data, ``lab/demos/catalog.py``) and the lab's topology; the host runs the
core (``worker/demos.py``) and returns the JSON result, which the web waits for
and records.
"""

from __future__ import annotations

from typing import Any

from lab import wire
from lab.demos.catalog import get_demo
from lab.topology.schema import Topology
from worker.celery import app


def run_demo_now(order: dict[str, Any]) -> dict[str, Any]:
    """Run the demo an order names against its lab here; return the run as JSON data.

    An unknown demo gives ``{"error": ...}``.

    Raises:
        WireError: the order lacks a field.
    """
    from worker import demos

    try:
        key, slug = str(order["key"]), str(order["demo"])
        topology = Topology.model_validate(order["topology"])
    except (KeyError, TypeError, ValueError) as exc:
        raise wire.WireError(f"bad demo order: {exc}") from None
    demo = get_demo(slug)
    if demo is None:
        return {"error": f"no demo {slug!r}"}
    return demos.run_demo(key, demo, topology).to_json()


@app.task(name=wire.RUN_DEMO_TASK)
def run_demo(order: dict[str, Any]) -> dict[str, Any]:
    """Run the demo an order names (sent to the lab's host queue)."""
    return run_demo_now(order)
