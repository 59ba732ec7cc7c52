"""The demo library: list demos, open one as a lab of one's own, run it.

``GET /api/demos`` and ``GET /api/demos/{slug}`` describe the library (the
explanation as Markdown and as sanitized HTML); ``POST /api/demos/{slug}/open``
makes a lab owned by the caller with the demo's topology, or gives back the one it
made before (one lab per demo and user); ``GET
/api/labs/{id}/demo`` tells the lab page which demo a lab is and its last run; ``POST
/api/labs/{id}/demo/run`` runs the demo of a running demo lab on its lab host and
returns the probes, views and journey. Another user's lab is 404, never 403.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from ninja import Field, Router, Schema, Status

from lab.api.errors import errors
from lab.demos import services

router = Router(tags=["demos"])


class DemoOut(Schema):
    slug: str
    title: str
    summary: str
    explanation: str
    explanation_html: str
    show: list[str]
    needs: list[str] = Field(description="kernel modules no lab host that is up has")


class DemoDetailOut(DemoOut):
    topology: dict[str, Any]
    probes: list[dict[str, Any]]
    journey: dict[str, Any] | None


class LabDemoOut(DemoOut):
    last_run: dict[str, Any] | None
    last_run_at: datetime | None


class OpenedOut(Schema):
    lab_id: int
    created: bool
    state: str


@router.get("/demos", response={200: list[DemoOut], **errors(401)})
def list_demos(request: HttpRequest) -> list[dict[str, Any]]:
    """Return every demo of the library, with its explanation rendered to safe HTML."""
    services.services._user_id(request.user)
    return [services.demo_summary(d) for d in services.list_demos()]


@router.get("/demos/{slug}", response={200: DemoDetailOut, **errors(401, 404)})
def get_demo(request: HttpRequest, slug: str) -> dict[str, Any]:
    """Return one demo with its topology, probes and journey."""
    services.services._user_id(request.user)
    return services.demo_detail(services.check_demo(slug))


@router.post(
    "/demos/{slug}/open", response={200: OpenedOut, 201: OpenedOut, **errors(401, 404, 409)}
)
def open_demo(request: HttpRequest, slug: str) -> Status[dict[str, Any]]:
    """Open the caller's lab of this demo: 201 when made now, 200 when it existed.

    One lab per demo and user: opening again gives back the same lab (with its
    ``state``, so "Open & run" deploys only a lab that is not running).
    """
    lab, created = services.do_open_demo_lab(request.user, slug)
    return Status(
        201 if created else 200, {"lab_id": lab.pk, "created": created, "state": lab.state}
    )


@router.get("/labs/{lab_id}/demo", response={200: LabDemoOut, **errors(401, 404)})
def lab_demo(request: HttpRequest, lab_id: int) -> dict[str, Any]:
    """Return the demo a lab was opened from, with its last run (404 for other labs)."""
    return services.demo_of_lab(request.user, lab_id)


@router.post(
    "/labs/{lab_id}/demo/run", response={200: dict[str, Any], **errors(401, 404, 409, 503)}
)
def run_demo(request: HttpRequest, lab_id: int) -> dict[str, Any]:
    """Run the demo of the caller's running demo lab on its lab host; return the results."""
    return services.do_run_demo(request.user, lab_id)
