"""One node's services: their status and log, and start / stop / restart.

``GET /api/labs/{id}/nodes/{node}/services`` lists the node's services with their state
and the end of their log; ``POST /api/labs/{id}/nodes/{node}/services/{service}/{action}``
(``start``, ``stop``, ``restart``) acts on one and returns its state. Both ask the lab's
host and wait for it (``lab/node_control.py``). Another user's lab is 404, never 403.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Router, Schema

from lab import node_control
from lab.api.errors import errors

router = Router(tags=["nodes"])


class ServiceStatusOut(Schema):
    kind: str
    state: str
    message: str
    log: str


class NodeServicesOut(Schema):
    node: str
    lab_running: bool
    error: str
    services: list[ServiceStatusOut]


@router.get(
    "/labs/{lab_id}/nodes/{node}/services",
    response={200: NodeServicesOut, **errors(401, 404, 409, 503)},
)
def node_services(request: HttpRequest, lab_id: int, node: str) -> dict[str, Any]:
    """Return the node's services: state (running, stopped, failed), message, log's end."""
    return node_control.node_services_status(request.user, lab_id, node)


@router.post(
    "/labs/{lab_id}/nodes/{node}/services/{service}/{action}",
    response={200: ServiceStatusOut, **errors(400, 401, 403, 404, 409, 503)},
)
def control_service(
    request: HttpRequest, lab_id: int, node: str, service: str, action: str
) -> dict[str, Any]:
    """Start, stop or restart one service of a node of the running lab; return its state."""
    return node_control.do_control_service(request.user, lab_id, node, service, action)
