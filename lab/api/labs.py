"""Labs: create, read, change, delete, duplicate; their topology; export; deployments."""

from __future__ import annotations

import re
from ipaddress import IPv4Interface, IPv6Interface
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
    RevisionOut,
    TopologyPutOut,
)
from lab.api.topology import dump_topology
from lab.demos.models import DemoLab
from lab.models import Deployment, Lab
from lab.services import InvalidInput, NotFound, check_lab_access
from lab.topology import Issue
from lab.topology.addressing import PoolExhausted, effective_topology
from lab.topology.schema import Node

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


def applied_revision(lab: Lab) -> int | None:
    """Return the number of the revision the lab host last built and still runs, or None.

    Newest deployment first: a running one (deploy or apply) is what the kernel has; a
    failed or unfinished one is passed over (a failed apply restores the revision that
    ran before it); a destroy, whatever became of it, means nothing is known to run.
    """
    rows = (
        Deployment.objects.filter(lab=lab)
        .order_by("-id")
        .values_list("action", "state", "revision__number")
    )
    for action, state, number in rows.iterator():
        if action == Deployment.Action.DESTROY:
            return None
        if state == Deployment.State.RUNNING:
            return int(number) if number is not None else None
    return None


def _port_addresses(node: Node) -> dict[str, tuple[IPv4Interface | IPv6Interface, ...]]:
    """A node's addresses by interface or bridge name."""
    ports = {i.name: i.addresses for i in node.interfaces}
    ports.update({b.name: b.addresses for b in node.bridges})
    return ports


def auto_addressing(document: Any) -> dict[str, Any] | None:
    """Return what automatic addressing adds to a saved document, or None without it.

    ``{"nodes": {name: {"interfaces": {ifname: [address, ...]}, "gateway": address,
    "routes": ["dst via address", ...]}}}``, only what the engine adds (the
    document's own addresses, gateways and routes are not repeated): the same
    computation the lab host runs before it builds the lab, so the page can show
    the addresses the kernel gets.
    """
    if not isinstance(document, dict):
        return None
    addressing = document.get("addressing")
    if not isinstance(addressing, dict) or not addressing.get("auto"):
        return None
    try:
        topology = services.check_topology(document)
        built = effective_topology(topology)
    except (services.TopologyInvalid, PoolExhausted):
        return None  # the document's issues (or the pool's) are reported where it is saved
    nodes: dict[str, Any] = {}
    for before, after in zip(topology.nodes, built.nodes, strict=True):
        entry: dict[str, Any] = {}
        given = _port_addresses(before)
        added = {
            name: [str(a) for a in addrs if a not in given.get(name, ())]
            for name, addrs in _port_addresses(after).items()
        }
        if any(added.values()):
            entry["interfaces"] = {name: addrs for name, addrs in added.items() if addrs}
        if after.gateway is not None and before.gateway is None:
            entry["gateway"] = str(after.gateway)
        routes = [r for r in after.routes if r not in before.routes]
        if routes:
            entry["routes"] = [
                " ".join(
                    part
                    for part in (
                        str(r.dst),
                        f"via {r.via}" if r.via else "",
                        f"dev {r.dev}" if r.dev else "",
                    )
                    if part
                )
                for r in routes
            ]
        if entry:
            nodes[before.name] = entry
    return {"nodes": nodes}


def lab_detail(lab: Lab) -> dict[str, Any]:
    """Return the full JSON of a lab: its topology, draft with issues, last deployment.

    Besides: ``applied_revision`` (what the lab host runs, see ``applied_revision``),
    ``auto`` (what automatic addressing adds to the latest revision) and ``demo`` (the
    slug of the library demo the lab was opened from, or None: the page asks for the
    demo only then).
    """
    revision = lab.latest_revision()
    deployment = services.latest_deployment(lab)
    return {
        **lab_summary(lab),
        "host": lab.host.name if lab.host_id and lab.host else None,
        "topology": revision.document if revision else None,
        "draft": lab.draft if isinstance(lab.draft, dict) else None,
        "draft_issues": [issue.as_dict() for issue in services.draft_issues(lab)],
        "deployment": services.deployment_summary(deployment) if deployment else None,
        "applied_revision": applied_revision(lab),
        "auto": auto_addressing(revision.document) if revision else None,
        "demo": DemoLab.objects.filter(lab=lab).values_list("slug", flat=True).first(),
    }


@router.get("/labs", response=list[LabSummaryOut])
def list_labs(request: HttpRequest) -> list[dict[str, Any]]:
    """Return the signed-in user's labs, most recently changed first."""
    labs = Lab.objects.filter(owner_id=request.user.pk).annotate(
        revision_number=Max("revisions__number")
    )
    return [lab_summary(lab) for lab in labs]


@router.post("/labs", response={201: LabOut, **errors(400, 401, 403, 409)})
def create_lab(request: HttpRequest, payload: LabCreateIn) -> Status[dict[str, Any]]:
    """Create a lab; with ``topology`` it starts at revision 1 (nothing is made if invalid).

    409 ``quota.labs_owned`` / ``quota.nodes_per_lab`` beyond the caller's quota.
    """
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


@router.post("/labs/{lab_id}/duplicate", response={201: LabOut, **errors(401, 403, 404, 409)})
def duplicate_lab(request: HttpRequest, lab_id: int) -> Status[dict[str, Any]]:
    """Copy a lab (name + " (copy)", latest topology as revision 1, draft); 409 ``quota.*``."""
    lab = check_lab_access(request.user, lab_id, action="read")
    return Status(201, lab_detail(services.do_duplicate_lab(lab, request.user)))


@router.put(
    "/labs/{lab_id}/topology",
    response={200: TopologyPutOut, **errors(400, 401, 403, 404, 409, 413)},
    openapi_extra=TOPOLOGY_BODY,
)
def put_topology(request: HttpRequest, lab_id: int) -> dict[str, Any]:
    """Save the lab's topology: a new revision when valid; kept as the draft and 400 when not
    (409 ``quota.nodes_per_lab``, also kept as the draft, when larger than the quota).
    """
    lab = check_lab_access(request.user, lab_id, action="write")
    document = read_json_body(request)
    if not isinstance(document, dict):
        raise InvalidInput(
            "a topology is a JSON object",
            code="topology.invalid",
            issues=[Issue("$", "schema.not_an_object", "a topology is a JSON/YAML object")],
        )
    revision = services.do_put_topology(lab, request.user, document)
    return {
        "revision": revision.number,
        "topology": revision.document,
        "auto": auto_addressing(revision.document),
    }


@router.get("/labs/{lab_id}/revisions/{number}", response={200: RevisionOut, **errors(401, 404)})
def get_revision(request: HttpRequest, lab_id: int, number: int) -> dict[str, Any]:
    """Return one saved revision of the lab's topology (e.g. the one its host runs).

    Raises:
        NotFound: no such lab (or not the caller's), or no such revision.
    """
    lab = check_lab_access(request.user, lab_id)
    revision = lab.revisions.filter(number=number).first()
    if revision is None:
        raise NotFound(f"lab {lab_id} has no revision {number}", code="revision.not_found")
    return {"number": revision.number, "created": revision.created, "topology": revision.document}


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
    """Build the lab's latest revision on its lab host (409 while another deployment runs,
    or ``quota.concurrent_labs`` / ``quota.nodes_per_lab`` beyond the owner's quota).
    """
    lab = check_lab_access(request.user, lab_id, action="deploy")
    return _deployment_response(services.do_request_deploy(lab, request.user))


@router.post(
    "/labs/{lab_id}/apply", response={202: DeploymentEnvelopeOut, **errors(401, 403, 404, 409)}
)
def apply_lab(request: HttpRequest, lab_id: int) -> Status[dict[str, Any]]:
    """Reconcile the running lab with its latest revision (409 ``quota.nodes_per_lab``)."""
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
