"""Labs: create, read, change, delete, duplicate; their topology; export; deployments."""

from __future__ import annotations

import re
from typing import Any, Literal

from django.db.models import Max
from django.http import HttpRequest, HttpResponse
from ninja import Query, Router, Schema, Status

from lab import services
from lab.api.body import read_json_body
from lab.api.errors import errors
from lab.api.schemas import (
    DeploymentEnvelopeOut,
    DeploymentOut,
    LabCreateIn,
    LabOut,
    LabPatchIn,
    LabSummaryOut,
    TopologyPutOut,
)
from lab.api.topology import dump_topology
from lab.models import Lab
from lab.services import InvalidInput, check_lab_access
from lab.topology import Issue

router = Router(tags=["labs"])

TOPOLOGY_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "description": "a topology document; GET /api/topology/schema describes it",
                }
            }
        },
    }
}


def lab_summary(lab: Lab) -> dict[str, Any]:
    """Return the list entry of a lab."""
    if hasattr(lab, "revision_number"):  # annotated by the list query: no query per lab
        number = lab.revision_number
    else:
        latest = lab.latest_revision()
        number = latest.number if latest else None
    return {
        "id": lab.pk,
        "name": lab.name,
        "description": lab.description,
        "created": lab.created,
        "updated": lab.updated,
        "key": lab.key,
        "state": lab.state,
        "revision": number,
    }


def lab_detail(lab: Lab) -> dict[str, Any]:
    """Return the full JSON of a lab: its topology, draft with issues, last deployment."""
    revision = lab.latest_revision()
    deployment = services.latest_deployment(lab)
    return {
        **lab_summary(lab),
        "host": lab.host.name if lab.host_id and lab.host else None,
        "topology": revision.document if revision else None,
        "draft": lab.draft if isinstance(lab.draft, dict) else None,
        "draft_issues": [issue.as_dict() for issue in services.draft_issues(lab)],
        "deployment": services.deployment_summary(deployment) if deployment else None,
    }


@router.get("/labs", response=list[LabSummaryOut])
def list_labs(request: HttpRequest) -> list[dict[str, Any]]:
    """Return the signed-in user's labs, most recently changed first."""
    labs = Lab.objects.filter(owner_id=request.user.pk).annotate(
        revision_number=Max("revisions__number")
    )
    return [lab_summary(lab) for lab in labs]


@router.post("/labs", response={201: LabOut, **errors(400, 401, 403)})
def create_lab(request: HttpRequest, payload: LabCreateIn) -> Status[dict[str, Any]]:
    """Create a lab; with ``topology`` it starts at revision 1 (nothing is made if invalid)."""
    lab = services.do_create_lab(request.user, payload.name, payload.description, payload.topology)
    return Status(201, lab_detail(lab))


@router.get("/labs/{lab_id}", response={200: LabOut, **errors(401, 404)})
def get_lab(request: HttpRequest, lab_id: int) -> dict[str, Any]:
    """Return one lab with its topology, draft, draft issues and latest deployment."""
    return lab_detail(check_lab_access(request.user, lab_id))


@router.patch("/labs/{lab_id}", response={200: LabOut, **errors(400, 401, 403, 404)})
def patch_lab(request: HttpRequest, lab_id: int, payload: LabPatchIn) -> dict[str, Any]:
    """Change a lab's name and/or description."""
    lab = check_lab_access(request.user, lab_id, action="write")
    services.do_update_lab(lab, name=payload.name, description=payload.description)
    return lab_detail(lab)


@router.delete("/labs/{lab_id}", response={204: None, **errors(401, 403, 404, 409)})
def delete_lab(request: HttpRequest, lab_id: int) -> Status[None]:
    """Delete a stopped lab (409 while it is deployed or a deployment runs)."""
    lab = check_lab_access(request.user, lab_id, action="delete")
    services.do_delete_lab(lab)
    return Status(204, None)


@router.post("/labs/{lab_id}/duplicate", response={201: LabOut, **errors(401, 403, 404)})
def duplicate_lab(request: HttpRequest, lab_id: int) -> Status[dict[str, Any]]:
    """Copy a lab (name + " (copy)", latest topology as revision 1, draft)."""
    lab = check_lab_access(request.user, lab_id, action="read")
    return Status(201, lab_detail(services.do_duplicate_lab(lab, request.user)))


@router.put(
    "/labs/{lab_id}/topology",
    response={200: TopologyPutOut, **errors(400, 401, 403, 404, 413)},
    openapi_extra=TOPOLOGY_BODY,
)
def put_topology(request: HttpRequest, lab_id: int) -> dict[str, Any]:
    """Save the lab's topology: a new revision when valid; kept as the draft and 400 when not."""
    lab = check_lab_access(request.user, lab_id, action="write")
    document = read_json_body(request)
    if not isinstance(document, dict):
        raise InvalidInput(
            "a topology is a JSON object",
            code="topology.invalid",
            issues=[Issue("$", "schema.not_an_object", "a topology is a JSON/YAML object")],
        )
    revision = services.do_put_topology(lab, request.user, document)
    return {"revision": revision.number, "topology": revision.document}


class ExportQuery(Schema):
    format: Literal["json", "yaml", "clab"] = "json"


_EXPORT_TYPES = {
    "json": ("application/json", "json"),
    "yaml": ("application/yaml", "yaml"),
    "clab": ("application/yaml", "clab.yml"),
}


def _filename(name: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-.") or "lab"
    return slug[:60]


@router.get("/labs/{lab_id}/export", response={200: None, **errors(400, 401, 404, 409)})
def export_lab(request: HttpRequest, lab_id: int, query: Query[ExportQuery]) -> HttpResponse:
    """Return the lab's latest topology as a file: JSON, YAML or a containerlab file."""
    lab = check_lab_access(request.user, lab_id)
    revision = lab.latest_revision()
    if revision is None:
        raise services.Conflict(
            "the lab has no valid topology to export yet", code="lab.no_topology"
        )
    topology = services.check_topology(revision.document)
    text = dump_topology(topology, query.format)
    content_type, extension = _EXPORT_TYPES[query.format]
    response = HttpResponse(text, content_type=f"{content_type}; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{_filename(lab.name)}.{extension}"'
    return response


def _deployment_response(deployment: Any) -> Status[dict[str, Any]]:
    return Status(202, {"deployment": services.deployment_summary(deployment)})


@router.post(
    "/labs/{lab_id}/deploy", response={202: DeploymentEnvelopeOut, **errors(401, 403, 404, 409)}
)
def deploy_lab(request: HttpRequest, lab_id: int) -> Status[dict[str, Any]]:
    """Build the lab's latest revision on its lab host (409 while another deployment runs)."""
    lab = check_lab_access(request.user, lab_id, action="deploy")
    return _deployment_response(services.do_request_deploy(lab, request.user))


@router.post(
    "/labs/{lab_id}/apply", response={202: DeploymentEnvelopeOut, **errors(401, 403, 404, 409)}
)
def apply_lab(request: HttpRequest, lab_id: int) -> Status[dict[str, Any]]:
    """Reconcile the running lab with its latest revision."""
    lab = check_lab_access(request.user, lab_id, action="deploy")
    return _deployment_response(services.do_request_apply(lab, request.user))


@router.post(
    "/labs/{lab_id}/destroy", response={202: DeploymentEnvelopeOut, **errors(401, 403, 404, 409)}
)
def destroy_lab(request: HttpRequest, lab_id: int) -> Status[dict[str, Any]]:
    """Remove everything the lab owns in the kernel."""
    lab = check_lab_access(request.user, lab_id, action="deploy")
    return _deployment_response(services.do_request_destroy(lab, request.user))


@router.get(
    "/deployments/{deployment_id}",
    response={200: DeploymentOut, **errors(401, 404)},
    tags=["deployments"],
)
def get_deployment(request: HttpRequest, deployment_id: int) -> dict[str, Any]:
    """Return a deployment: state, progress, plan, log and error."""
    return services.deployment_summary(
        services.check_deployment_access(request.user, deployment_id)
    )
