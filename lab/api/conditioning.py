"""Link conditioning of one interface: netem impairments, rate, up/down, MTU.

``GET /api/labs/{id}/nodes/{node}/interfaces/{ifname}/conditioning`` shows the values of
the latest revision and of the revision the lab host runs; ``PUT`` sets them (all of
them: what the body leaves out is the default, no impairment, no rate limit, up, the
kernel's MTU) as a new revision and, when the lab runs, asks for an apply, which
changes the interface in place. The rules live in ``lab/conditioning.py``.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Field, Router, Schema

from lab import conditioning, services
from lab.api.errors import errors
from lab.api.labs import applied_revision
from lab.api.schemas import DeploymentOut, StrictIn
from lab.topology.schema import Netem

router = Router(tags=["conditioning"])

PATH = "/labs/{lab_id}/nodes/{node}/interfaces/{interface}/conditioning"


class ConditioningIn(StrictIn):
    netem: Netem | None = Field(
        None, description="impairments (sch_netem); null or all zero for none"
    )
    rate_mbit: int | None = Field(None, ge=1, le=100_000, description="egress rate limit")
    up: bool = Field(True, description="false sets the interface administratively down")
    mtu: int | None = Field(None, ge=68, le=65535)


class NetemOut(Schema):
    delay_ms: float
    jitter_ms: float
    loss_pct: float
    duplicate_pct: float
    reorder_pct: float
    corrupt_pct: float


class ValuesOut(Schema):
    revision: int
    netem: NetemOut | None
    rate_mbit: int | None
    up: bool
    mtu: int | None


class ConditioningOut(Schema):
    node: str
    interface: str
    lab_state: str
    host: str | None = Field(description="the lab host of the node, when known")
    netem_available: bool | None = Field(
        description="whether that host has sch_netem; null when it has not reported yet"
    )
    latest: ValuesOut
    running: ValuesOut | None = Field(description="the values the lab host runs; null if none")


class ConditioningSetOut(ConditioningOut):
    deployment: DeploymentOut | None = Field(description="the apply asked for, when running")


def _wanted(payload: ConditioningIn) -> conditioning.Settings:
    netem = payload.netem.model_dump() if payload.netem is not None else None
    if netem is not None and not any(netem.values()):
        netem = None  # all zero is no impairment: it needs no sch_netem
    return conditioning.Settings(
        netem=netem, rate_mbit=payload.rate_mbit, up=payload.up, mtu=payload.mtu
    )


@router.get(PATH, response={200: ConditioningOut, **errors(401, 404, 409)})
def get_conditioning(
    request: HttpRequest, lab_id: int, node: str, interface: str
) -> dict[str, Any]:
    """Return one interface's conditioning in the latest and the running revision."""
    lab = services.check_lab_access(request.user, lab_id)
    return conditioning.read_conditioning(lab, node, interface, applied_revision(lab))


@router.put(PATH, response={200: ConditioningSetOut, **errors(400, 401, 403, 404, 409)})
def put_conditioning(
    request: HttpRequest, lab_id: int, node: str, interface: str, payload: ConditioningIn
) -> dict[str, Any]:
    """Set one interface's conditioning: a new revision, applied live when the lab runs.

    400 names the field (``netem.loss_pct``...); 400 ``host.module_missing`` names
    ``sch_netem`` when the node's lab host lacks it (a rate alone works there); 409
    ``deployment.busy`` while a deployment of the lab runs.
    """
    lab = services.check_lab_access(request.user, lab_id, action="deploy")
    _number, deployment = conditioning.do_set_conditioning(
        lab, request.user, node, interface, _wanted(payload)
    )
    body = conditioning.read_conditioning(lab, node, interface, applied_revision(lab))
    body["deployment"] = services.deployment_summary(deployment) if deployment else None
    return body
