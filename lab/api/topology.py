"""Topology documents without a lab: validate, JSON Schema, import from text."""

from __future__ import annotations

import importlib
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from ninja import Router

from lab import quotas, services
from lab.api.body import read_json_body
from lab.api.errors import errors
from lab.api.schemas import ImportIn, ImportOut, ValidateOut
from lab.services import InvalidInput, ServiceError, TopologyInvalid
from lab.topology import Issue, Limits, Topology, TopologyError

router = Router(tags=["topology"])


def _module(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise ServiceError(
            f"{name} is not available on this server: {exc}",
            code="feature.unavailable",
            status=501,
        ) from None


def load_text(text: str, fmt: str) -> tuple[Topology, list[Issue]]:
    """Parse a topology from text in ``fmt`` (json, yaml or clab) and validate it.

    Returns the topology and warnings about what an import could not carry over.

    Raises:
        TopologyInvalid: the text does not parse, or is not a valid topology (issues
            with paths; syntax problems have codes ``syntax.*``).
        ServiceError: 501 when the import module is missing.
    """
    io = _module("lab.topology.io")
    limits = Limits(max_nodes=settings.TOPOLAB_MAX_NODES)
    try:
        topology, warnings = io.import_text(text, fmt, limits)
    except TopologyError as exc:
        raise TopologyInvalid(str(exc), issues=exc.issues, warnings=exc.warnings) from None
    except RecursionError:
        raise InvalidInput(
            "the text is nested too deeply",
            code="import.too_deep",
            issues=[Issue("text", "import.too_deep", "the text is nested too deeply")],
        ) from None
    if not isinstance(topology, Topology):
        raise ServiceError("the importer returned no topology", code="import.failed", status=500)
    return topology, list(warnings)


def dump_topology(topology: Topology, fmt: str) -> str:
    """Render a topology as ``fmt`` (json, yaml or clab).

    Raises:
        ServiceError: 501 when the export module is missing.
    """
    return str(_module("lab.topology.io").export_text(topology, fmt))


@router.post(
    "/topology/validate",
    response={200: ValidateOut, **errors(400, 401, 403, 413)},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    },
)
def validate_topology(request: HttpRequest) -> dict[str, Any]:
    """Validate a document without saving it; every issue with its path."""
    document = read_json_body(request)
    try:
        services.check_topology(document)
    except TopologyInvalid as exc:
        return {"valid": False, "issues": [issue.as_dict() for issue in exc.issues]}
    return {"valid": True, "issues": []}


@router.get("/topology/schema", auth=None, response=dict[str, Any])
def topology_schema(request: HttpRequest) -> dict[str, Any]:
    """Return the JSON Schema of a topology document (for editors and other tools)."""
    try:
        module = importlib.import_module("lab.topology.jsonschema")
    except ImportError:
        return Topology.model_json_schema()
    return dict(module.topology_json_schema())


@router.post("/topology/import", response={200: ImportOut, **errors(400, 401, 403, 409, 501)})
def import_topology(request: HttpRequest, payload: ImportIn) -> dict[str, Any]:
    """Turn JSON, YAML or a containerlab file into a topology document (not saved).

    409 ``quota.nodes_per_lab`` when it is larger than a lab the caller may have.
    """
    topology, warnings = load_text(payload.text, payload.format)
    return import_result(request, topology, warnings)


def import_result(
    request: HttpRequest, topology: Topology, warnings: list[Issue]
) -> dict[str, Any]:
    """The answer of an import: the document (not saved) and its warnings, once the caller's
    quota takes it.

    Raises:
        QuotaExceeded: 409 ``quota.nodes_per_lab`` beyond a lab the caller may have.
    """
    quotas.check_quota(int(request.user.pk), quotas.Want(nodes=len(topology.nodes)))
    return {
        "topology": services.canonical_document(topology),
        "warnings": [
            f"{w.path}: {w.message}" if w.path not in ("", "$") else w.message for w in warnings
        ],
        "warning_issues": [w.as_dict() for w in warnings],
    }
