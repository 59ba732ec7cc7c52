"""The demo library's business rules: list, open (a lab of one's own), run on the lab host.

``check_*`` authorize and validate, ``do_*`` write; the API (``lab/api/demos.py``)
only parses and calls these. A run is done by the Celery task
``worker.tasks_demos.run_demo`` on the lab's host queue; this module waits for
its result (a run takes a few seconds) and records it on the ``DemoLab``.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.utils import timezone

from lab import services
from lab.demos.catalog import DEMOS, Demo, get_demo
from lab.demos.models import DemoLab
from lab.markdown import render_markdown
from lab.models import Lab

logger = logging.getLogger(__name__)

RUN_TIMEOUT = 90.0  # seconds the web waits for a run (a run takes a few)


class WorkerUnavailable(services.ServiceError):
    """The lab host did not answer in time (503)."""

    status = 503
    code = "demo.worker_unavailable"


def render_explanation(text: str) -> str:
    """Render a demo's Markdown explanation to HTML safe to put in a page."""
    return render_markdown(text)


def demo_summary(demo: Demo) -> dict[str, Any]:
    """The list entry of a demo: slug, title, summary, explanation (Markdown and HTML),
    and ``needs``: the kernel modules no lab host that is up has (``demo_needs``)."""
    return {
        "slug": demo.slug,
        "title": demo.title,
        "summary": demo.summary,
        "explanation": demo.explanation,
        "explanation_html": render_explanation(demo.explanation),
        "show": list(demo.show),
        "needs": list(demo_needs(demo)),
    }


def demo_needs(demo: Demo) -> tuple[str, ...]:
    """The kernel modules ``demo`` needs that the best-equipped lab host lacks.

    Hosts that are up count (all known hosts when none is); none known: nothing is
    said. From the link kinds each host's heartbeat reports.
    """
    from lab.demos.catalog_kinds import missing_modules
    from lab.models import LabHost

    hosts = list(LabHost.objects.all())
    reporting = [h for h in hosts if h.is_up] or hosts
    gaps = [missing_modules(demo, h.link_kinds or ()) for h in reporting]
    return min(gaps, key=len) if gaps else ()


def demo_detail(demo: Demo) -> dict[str, Any]:
    """A demo with its topology, probes and journey."""
    return {
        **demo_summary(demo),
        "topology": demo.topology,
        "probes": [
            {"src": p.src, "dst": p.dst, "expect": p.expect, "why": p.why, "label": p.label}
            for p in demo.probes
        ],
        "journey": (
            {
                "src": demo.journey.src,
                "dst": demo.journey.dst,
                "must_show": list(demo.journey.must_show),
            }
            if demo.journey is not None
            else None
        ),
    }


def list_demos() -> list[Demo]:
    """Every demo of the library, in the library's order."""
    return list(DEMOS)


def check_demo(slug: str) -> Demo:
    """Return the demo called ``slug``.

    Raises:
        NotFound: no such demo.
    """
    demo = get_demo(slug)
    if demo is None:
        raise services.NotFound(f"no demo {slug!r}", code="demo.not_found")
    return demo


def do_open_demo(user: services.User, slug: str) -> Lab:
    """Create a lab owned by ``user`` holding the demo's topology (revision 1).

    Raises:
        NotAuthenticated: the user is anonymous.
        NotFound: no such demo.
    """
    demo = check_demo(slug)
    with transaction.atomic():
        lab = services.do_create_lab(
            user, demo.title, description=demo.summary, topology=demo.topology
        )
        DemoLab.objects.create(lab=lab, slug=demo.slug)
    return lab


def do_open_demo_lab(user: services.User, slug: str) -> tuple[Lab, bool]:
    """Return the user's lab of demo ``slug``, made on the first open; True if made now.

    Opening a demo again opens the lab made the first time (as the user left it), so
    the library makes one lab per demo, not one per click; a user who deleted it gets
    a new one.

    Raises:
        NotAuthenticated: the user is anonymous.
        NotFound: no such demo.
    """
    demo = check_demo(slug)
    owner_id = services._user_id(user)
    mine = DemoLab.objects.filter(lab__owner_id=owner_id, slug=demo.slug).select_related("lab")
    record = mine.order_by("-lab_id").first()
    if record is not None:
        return record.lab, False
    return do_open_demo(user, slug), True


def check_demo_lab(user: services.User, lab_id: int) -> tuple[Lab, Demo]:
    """Return the user's demo lab ``lab_id`` and its demo.

    Raises:
        NotAuthenticated: the user is anonymous.
        NotFound: no such lab, not the user's, or not opened from the library.
    """
    lab = services.check_lab_access(user, lab_id)
    record = DemoLab.objects.filter(lab=lab).first()
    demo = get_demo(record.slug) if record is not None else None
    if record is None or demo is None:
        raise services.NotFound(f"lab {lab_id} is not a demo lab", code="demo.not_a_demo")
    return lab, demo


def demo_of_lab(user: services.User, lab_id: int) -> dict[str, Any]:
    """The demo of the user's demo lab ``lab_id`` (as in the library) and its last run.

    Raises:
        NotAuthenticated: the user is anonymous.
        NotFound: no such lab, not the user's, or not opened from the library.
    """
    lab, demo = check_demo_lab(user, lab_id)
    record = DemoLab.objects.get(lab=lab)
    return {**demo_summary(demo), "last_run": record.last_run, "last_run_at": record.last_run_at}


def check_runnable(lab: Lab) -> None:
    """Refuse to run a demo whose lab is not running.

    Raises:
        Conflict: ``lab.not_running``.
    """
    if lab.state != Lab.State.RUNNING:
        raise services.Conflict(f"the lab is {lab.state}: deploy it first", code="lab.not_running")


def run_on_host(lab: Lab) -> dict[str, Any]:
    """Run the lab's demo on its lab host (the Celery task) and return the result.

    The test seam: everything before is the web's, the task is the worker's.

    Raises:
        WorkerUnavailable: the message could not be sent or no answer came in time.
    """
    from lab import wire
    from lab.celery import app

    inputs = run_inputs(lab.pk)
    if inputs is None:
        return {"error": f"lab {lab.pk} is not a demo lab with a topology"}
    key, demo, topology = inputs
    order = {"key": key, "demo": demo.slug, "topology": topology.model_dump(mode="json")}
    host = services.pick_host(lab, "deploy")
    try:
        result = app.send_task(wire.RUN_DEMO_TASK, args=[order], queue=wire.host_queue(host))
        value = result.get(timeout=RUN_TIMEOUT)
    except Exception as exc:
        logger.warning("demo run of lab %s failed on host %s: %s", lab.pk, host, exc)
        raise WorkerUnavailable(
            f"the lab host {host} did not run the demo: {type(exc).__name__}: {exc}"
        ) from None
    return dict(value) if isinstance(value, dict) else {"error": "no result"}


def do_run_demo(user: services.User, lab_id: int) -> dict[str, Any]:
    """Run the demo of the user's running demo lab ``lab_id``; return and record the result.

    Raises:
        NotFound: not the user's demo lab.
        Conflict: the lab is not running.
        WorkerUnavailable: the lab host did not answer.
    """
    lab, _demo = check_demo_lab(user, lab_id)
    check_runnable(lab)
    result = run_on_host(lab)
    do_record_run(lab.pk, result)
    return result


def do_record_run(lab_id: int, result: dict[str, Any]) -> None:
    """Store a run's result as the demo lab's last run."""
    DemoLab.objects.filter(lab_id=lab_id).update(last_run=result, last_run_at=timezone.now())


def run_inputs(lab_id: int) -> tuple[str, Demo, Any] | None:
    """What the worker needs to run the demo of lab ``lab_id``: key, demo, topology.

    None when the lab is gone, not a demo lab, or has no revision.
    """
    from lab.topology.load import load_topology

    record = DemoLab.objects.select_related("lab").filter(lab_id=lab_id).first()
    demo = get_demo(record.slug) if record is not None else None
    if record is None or demo is None:
        return None
    revision = record.lab.latest_revision()
    if revision is None:
        return None
    return record.lab.key, demo, load_topology(revision.document)
