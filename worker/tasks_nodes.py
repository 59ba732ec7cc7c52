"""Celery tasks of one node's services: start, stop, restart, status (and the log's end).

Thin shells over ``worker.node_services``: the web sends the lab key, the node's name
and its document (from the revision the lab runs) to the lab's host queue and waits
for the answer; nothing here reads the database. A refusal comes back as
``{"error": {"code", "message", "field"}}`` (plain data: the web maps the code to its
HTTP status), a result as the service's (or node's) status.
"""

from __future__ import annotations

from typing import Any

from lab import wire
from worker import node_services
from worker.celery import app

CONTROL_SERVICE = wire.CONTROL_SERVICE_TASK
SERVICES_STATUS = wire.SERVICES_STATUS_TASK


@app.task(name=CONTROL_SERVICE)
def control_service(
    lab: str, node: str, node_json: dict[str, Any], service: str, action: str
) -> dict[str, Any]:
    """``start``/``stop``/``restart``/``status`` one service of a node of a running lab."""
    try:
        return node_services.control_service(lab, node, node_json, service, action)
    except node_services.NodeControlError as exc:
        return {"error": exc.to_json()}


@app.task(name=SERVICES_STATUS)
def services_status(lab: str, node: str, node_json: dict[str, Any]) -> dict[str, Any]:
    """Every service of a node of a running lab: state, message and the log's end."""
    try:
        return node_services.node_services_status(lab, node, node_json)
    except node_services.NodeControlError as exc:
        return {"error": exc.to_json()}
