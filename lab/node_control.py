"""One node's services from the web: authorize, find the node's document, ask its lab host.

``check_*`` authorize and validate; ``node_services_status`` and
``do_control_service`` send the Celery task of ``worker/tasks_nodes.py`` to the lab's
host queue with everything it needs (the lab key, the node's name and its document
from the revision the lab runs) and wait for the answer: the user waits for it, and a
restart of FRR takes a few seconds. The lab host keeps the services' state; nothing is
written here.

Who may: a lab's owner and its instructors (``services.check_lab_access``), reading
with ``read`` and starting or stopping with ``deploy``, the right that starts and stops
the whole lab. Anyone else gets 404, as for the lab itself.
"""

from __future__ import annotations

import logging
from typing import Any

from lab import services, wire
from lab.models import Lab
from lab.topology import Issue
from lab.topology.schema import SERVICE_KINDS

logger = logging.getLogger(__name__)

# The task names of worker/tasks_nodes.py (the web never imports the worker's tasks).
CONTROL_TASK = wire.CONTROL_SERVICE_TASK
STATUS_TASK = wire.SERVICES_STATUS_TASK
ACTIONS = ("start", "stop", "restart")
WAIT_TIMEOUT = 90.0  # seconds the web waits: FRR's init script may take up to 60


class HostUnavailable(services.ServiceError):
    """The lab host did not answer in time (503)."""

    status = 503
    code = "node.host_unavailable"


def running_document(lab: Lab) -> dict[str, Any]:
    """The topology document the lab's host runs (its latest revision when none runs).

    Raises:
        Conflict: ``lab.no_topology``: the lab has no revision.
    """
    # The rule of which revision runs is the lab page's (lab/api/labs.py); one copy.
    from lab.api.labs import applied_revision

    number = applied_revision(lab)
    revision = lab.revisions.filter(number=number).first() if number is not None else None
    revision = revision or lab.latest_revision()
    if revision is None or not isinstance(revision.document, dict):
        raise services.Conflict("the lab has no topology yet", code="lab.no_topology")
    return revision.document


def check_node(
    user: services.User, lab_id: int, node: str, action: str
) -> tuple[Lab, dict[str, Any]]:
    """Return lab ``lab_id`` and the document of its node ``node``, if ``user`` may ``action``.

    Raises:
        NotAuthenticated: the user is anonymous.
        NotFound: no such lab (or not the user's), or no such node in what it runs.
        Conflict: the lab has no topology.
    """
    lab = services.check_lab_access(user, lab_id, action=action)
    nodes = running_document(lab).get("nodes") or []
    found = next((n for n in nodes if isinstance(n, dict) and n.get("name") == node), None)
    if found is None:
        raise services.NotFound(f"lab {lab_id} has no node {node!r}", code="node.not_found")
    return lab, found


def check_service(node_document: dict[str, Any], service: str) -> None:
    """Refuse a service that is not in the catalog (400) or not on the node (404).

    Raises:
        InvalidInput: ``service.unknown``, naming the field ``service``.
        NotFound: ``service.not_found``: the node has no such service.
    """
    if service not in SERVICE_KINDS:
        raise _invalid(
            "service",
            "service.unknown",
            f"{service!r} is not a service: {', '.join(SERVICE_KINDS)}",
        )
    kinds = [s.get("kind") for s in node_document.get("services") or [] if isinstance(s, dict)]
    if service not in kinds:
        raise services.NotFound(
            f"node {node_document.get('name')} has no service {service}",
            code="service.not_found",
        )


def check_action(action: str) -> None:
    """Refuse an action other than start, stop and restart.

    Raises:
        InvalidInput: ``service.bad_action``, naming the field ``action``.
    """
    if action not in ACTIONS:
        raise _invalid(
            "action", "service.bad_action", f"{action!r} is not an action: {', '.join(ACTIONS)}"
        )


def node_services_status(user: services.User, lab_id: int, node: str) -> dict[str, Any]:
    """Every service of a node: ``{"node", "lab_running", "error", "services": [...]}``.

    Each service is ``{"kind", "state", "message", "log"}``. A lab that is not running
    is not asked: its services are all ``stopped``.

    Raises:
        NotFound: no such lab (or not the user's) or node.
        HostUnavailable: the lab host did not answer.
    """
    lab, document = check_node(user, lab_id, node, "read")
    if lab.state != Lab.State.RUNNING:
        kinds = [s.get("kind") for s in document.get("services") or [] if isinstance(s, dict)]
        stopped = [{"kind": k, "state": "stopped", "message": "", "log": ""} for k in kinds]
        return {"node": node, "lab_running": False, "error": "", "services": stopped}
    return {"lab_running": True, **_ask(lab, STATUS_TASK, [lab.key, node, document])}


def do_control_service(
    user: services.User, lab_id: int, node: str, service: str, action: str
) -> dict[str, Any]:
    """Start, stop or restart one service of a node of a running lab; return its status.

    Authorization comes first: another user's lab is 404 whatever else is wrong.

    Raises:
        NotFound: no such lab (or not the user's), node, or service on the node.
        InvalidInput: an unknown service kind or action.
        Conflict: the lab (or the node) is not running.
        HostUnavailable: the lab host did not answer.
    """
    lab, document = check_node(user, lab_id, node, "deploy")
    check_action(action)
    check_service(document, service)
    if lab.state != Lab.State.RUNNING:
        raise services.Conflict(f"the lab is {lab.state}: deploy it first", code="lab.not_running")
    return _ask(lab, CONTROL_TASK, [lab.key, node, document, service, action])


def _ask(lab: Lab, task: str, args: list[Any]) -> dict[str, Any]:
    """Send ``task`` to the lab's host and wait for its answer; map a refusal to an error.

    Raises:
        HostUnavailable: the message could not be sent or no answer came in time.
        ServiceError: the host refused (its code kept).
    """
    from lab.celery import app

    host = services.pick_host(lab, "deploy")
    try:
        value = app.send_task(task, args=args, queue=wire.host_queue(host)).get(
            timeout=WAIT_TIMEOUT
        )
    except Exception as exc:
        logger.warning("%s for lab %s failed on host %s: %s", task, lab.pk, host, exc)
        raise HostUnavailable(
            f"the lab host {host} did not answer: {type(exc).__name__}: {exc}"
        ) from None
    if not isinstance(value, dict):
        raise HostUnavailable(f"the lab host {host} gave no answer")
    error = value.get("error")
    if isinstance(error, dict):
        raise _refusal(error)
    return value


def _refusal(error: dict[str, Any]) -> services.ServiceError:
    code, message = str(error.get("code", "")), str(error.get("message", ""))
    if code == "node.not_running":
        return services.Conflict(message, code=code)
    if code.endswith("not_found"):
        return services.NotFound(message, code=code)
    return _invalid(str(error.get("field", "")), code or "request.invalid", message)


def _invalid(field: str, code: str, message: str) -> services.InvalidInput:
    """A 400 whose issue names ``field`` (none when the field is unknown)."""
    issues = [Issue(path=field, code=code, message=message)] if field else []
    return services.InvalidInput(message, code=code, issues=issues)
