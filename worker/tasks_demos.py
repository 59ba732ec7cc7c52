"""Celery task of the demo library: run a demo lab's probes, views and journey.

A thin shell: take the lab id, re-fetch what to run through the demo services,
run the core (``worker/demos.py``) on this lab host, return the JSON result
(the web waits for it and records it).
"""

from __future__ import annotations

from typing import Any

from worker.celery import app


def run_demo_now(lab_id: int) -> dict[str, Any]:
    """Run the demo of lab ``lab_id`` here; return the run as JSON-able data.

    A lab that is gone or not a demo lab gives ``{"error": ...}``.
    """
    from lab.demos import services
    from worker import demos

    inputs = services.run_inputs(lab_id)
    if inputs is None:
        return {"error": f"lab {lab_id} is not a demo lab with a topology"}
    key, demo, topology = inputs
    return demos.run_demo(key, demo, topology).to_json()


@app.task(name="worker.tasks_demos.run_demo")
def run_demo(lab_id: int) -> dict[str, Any]:
    """Run the demo of lab ``lab_id`` (sent to the lab's host queue)."""
    return run_demo_now(lab_id)
