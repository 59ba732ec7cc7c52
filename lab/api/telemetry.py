"""Captures and packet journeys: the web side asks the lab host's agent (Redis RPC).

The agent runs tcpdump and the journey as root on the lab host; this router only
authorizes (a capture belongs to its lab, and so to the lab's owner; anyone else gets
404 as for labs), validates input, and relays. A capture's lab and host are kept in
Redis under `topolab:capture:<id>` so stop and download find them again.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
from collections.abc import Iterator
from typing import Any

import redis
from django.conf import settings
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from ninja import Router, Schema, Status

from lab import events, services
from lab.api.errors import errors
from lab.services import InvalidInput, NotFound, ServiceError
from lab.topology import Issue
from worker.telemetry import rpc

router = Router(tags=["telemetry"])

CAPTURE_KEY_TTL = 7 * 24 * 3600
_CAPTURE_ID = re.compile(r"^[0-9a-f]{16}$")
_FIELD_NAMES = {"node", "interface", "filter", "src", "dst", "count", "limits", "argv"}
PCAP_CHUNK = 256 * 1024


class CaptureIn(Schema):
    node: str
    interface: str
    filter: str = ""
    max_seconds: float | None = None
    max_bytes: int | None = None


class ExecIn(Schema):
    node: str
    argv: list[str]
    timeout: float = 30.0


class JourneyIn(Schema):
    src: str
    dst: str
    count: int = 3


class AgentUnavailable(ServiceError):
    """The lab host's agent did not answer (503)."""

    status = 503
    code = "agent.unavailable"


def _client() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=60, socket_connect_timeout=5)


def _capture_key(capture_id: str) -> str:
    return f"topolab:capture:{capture_id}"


def _agent_error(exc: rpc.AgentError) -> ServiceError:
    """Map an agent refusal to the API's error shape, naming the field at fault."""
    if exc.code == "agent.unavailable":
        return AgentUnavailable(exc.message)
    if exc.code.endswith("not_found"):
        return NotFound(exc.message, code=exc.code)
    if exc.code.endswith("not_running"):
        return ServiceError(exc.message, code=exc.code, status=409)
    if exc.code.startswith("limit."):
        return ServiceError(exc.message, code=exc.code, status=429)
    field = exc.field if exc.field in _FIELD_NAMES else ""
    issues = [Issue(path=field, code=exc.code, message=exc.message)] if field else []
    return InvalidInput(exc.message, code=exc.code, issues=issues)


def _call(host: str, op: str, args: dict[str, Any], timeout: float = 30.0) -> dict[str, Any]:
    try:
        return rpc.call(_client(), host, op, args, timeout)
    except rpc.AgentError as exc:
        raise _agent_error(exc) from exc
    except redis.RedisError as exc:
        raise AgentUnavailable(f"cannot reach Redis: {exc}") from exc


def _lab_host(request: HttpRequest, lab_id: int, action: str) -> str:
    lab = services.check_lab_access(request.user, lab_id, action=action)  # type: ignore[arg-type]
    return services.pick_host(lab, "deploy")


def _capture_owner(request: HttpRequest, capture_id: str) -> tuple[int, str]:
    """(lab id, host) of a capture of the caller's; 404 for anyone else's."""
    if not _CAPTURE_ID.match(capture_id):
        raise NotFound(f"no capture {capture_id}", code="capture.not_found")
    raw = _client().get(_capture_key(capture_id))
    if raw is None:
        raise NotFound(f"no capture {capture_id}", code="capture.not_found")
    data = json.loads(raw)  # type: ignore[arg-type]
    try:
        services.check_lab_access(  # type: ignore[arg-type]
            request.user, int(data["lab"]), action="capture"
        )
    except NotFound:
        raise NotFound(f"no capture {capture_id}", code="capture.not_found") from None
    return int(data["lab"]), str(data["host"])


def _check_limit(value: float | None, cap: float, field: str) -> None:
    """A capture limit must be positive and within the host's cap (settings).

    Raises:
        InvalidInput: ``capture.bad_limits`` naming ``field``.
    """
    if value is not None and not 0 < value <= cap:
        message = f"{field} must be more than 0 and at most {cap:g}"
        raise InvalidInput(
            message,
            code="capture.bad_limits",
            issues=[Issue(path=field, code="capture.bad_limits", message=message)],
        )


@router.post(
    "/labs/{lab_id}/captures", response={201: dict[str, Any], **errors(400, 401, 404, 409, 503)}
)
def start_capture(request: HttpRequest, lab_id: int, payload: CaptureIn) -> Status[dict[str, Any]]:
    """Start tcpdump on one interface of a node; lines arrive as `capture.lines` events."""
    host = _lab_host(request, lab_id, "capture")
    _check_limit(payload.max_seconds, settings.TOPOLAB_CAPTURE_MAX_SECONDS, "max_seconds")
    _check_limit(payload.max_bytes, settings.TOPOLAB_CAPTURE_MAX_BYTES, "max_bytes")
    args: dict[str, Any] = {
        "lab": lab_id,
        "node": payload.node,
        "interface": payload.interface,
        "filter": payload.filter,
        "max_seconds": payload.max_seconds,
        "max_bytes": payload.max_bytes,
    }
    args["id"] = secrets.token_hex(8)
    _client().set(
        _capture_key(args["id"]), json.dumps({"lab": lab_id, "host": host}), ex=CAPTURE_KEY_TTL
    )
    try:
        info = _call(host, "capture.start", args)
    except ServiceError:
        _client().delete(_capture_key(args["id"]))
        raise
    info.pop("pcap_path", None)  # a lab-host path means nothing to the browser
    return Status(201, info)


@router.post("/captures/{capture_id}/stop", response={200: dict[str, Any], **errors(401, 404, 503)})
def stop_capture(request: HttpRequest, capture_id: str) -> dict[str, Any]:
    """Stop a capture; the pcap stays downloadable."""
    lab_id, host = _capture_owner(request, capture_id)
    info = _call(host, "capture.stop", {"lab": lab_id, "id": capture_id})
    info.pop("pcap_path", None)
    return info


@router.get("/captures/{capture_id}/pcap", response={200: None, **errors(401, 404, 503)})
def download_pcap(request: HttpRequest, capture_id: str) -> HttpResponse:
    """The capture's pcap file (as far as written, if it still runs)."""
    lab_id, host = _capture_owner(request, capture_id)
    # The first chunk is fetched now, so a missing capture is a clean error, not a
    # broken stream; the rest follow one request per chunk while the client reads.
    first = _pcap_chunk(host, lab_id, capture_id, 0)

    def chunks() -> Iterator[bytes]:
        chunk, offset = first, 0
        while chunk:
            yield chunk
            if len(chunk) < PCAP_CHUNK:
                return
            offset += len(chunk)
            chunk = _pcap_chunk(host, lab_id, capture_id, offset)

    response = StreamingHttpResponse(chunks(), content_type="application/vnd.tcpdump.pcap")
    response["Content-Disposition"] = f'attachment; filename="capture-{capture_id}.pcap"'
    return response


def _pcap_chunk(host: str, lab_id: int, capture_id: str, offset: int) -> bytes:
    args = {"lab": lab_id, "id": capture_id, "offset": offset, "size": PCAP_CHUNK}
    return base64.b64decode(_call(host, "capture.pcap", args, timeout=60)["pcap"])


@router.post(
    "/labs/{lab_id}/exec", response={200: dict[str, Any], **errors(400, 401, 404, 409, 503)}
)
def exec_in_node(request: HttpRequest, lab_id: int, payload: ExecIn) -> dict[str, Any]:
    """Run a program in a node, as `topolab exec` does: argv list, the console's sandbox.

    Returns its exit status (null when it ran past `timeout`, then it was killed) and
    the last 64 KiB of its stdout and stderr.
    """
    host = _lab_host(request, lab_id, "console")  # the rights of a console, which it is
    if not 0 < payload.timeout <= settings.TOPOLAB_EXEC_TIMEOUT_MAX:
        message = f"timeout must be more than 0 and at most {settings.TOPOLAB_EXEC_TIMEOUT_MAX:g}"
        raise InvalidInput(
            message,
            code="exec.bad_timeout",
            issues=[Issue(path="timeout", code="exec.bad_timeout", message=message)],
        )
    args = {"lab": lab_id, "node": payload.node, "argv": payload.argv, "timeout": payload.timeout}
    return _call(host, "exec", args, timeout=payload.timeout + 15)


@router.post(
    "/labs/{lab_id}/journeys", response={200: dict[str, Any], **errors(400, 401, 404, 409, 503)}
)
def start_journey(request: HttpRequest, lab_id: int, payload: JourneyIn) -> dict[str, Any]:
    """Ping from node `src` to address `dst` and return every hop in order.

    Everyone watching the lab's page gets the same hops as a ``journey.done`` event
    on the lab's websocket (a teacher's projected page follows a student's trace).
    """
    host = _lab_host(request, lab_id, "journey")
    result = _call(
        host,
        "journey",
        {"lab": lab_id, "src": payload.src, "dst": payload.dst, "count": payload.count},
        60,
    )
    events.publish(
        lab_id,
        events.JOURNEY_DONE,
        {"src": payload.src, "dst": payload.dst, "hops": result.get("hops", [])},
    )
    return result
