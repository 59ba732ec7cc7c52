"""The demo library's API: list, detail, open, run (through a real Celery worker and Redis).

The run test deploys a demo lab with the engine, then ``POST /api/labs/{id}/demo/run``
sends ``worker.tasks_demos.run_demo`` to the lab's host queue on the session's private
Redis, where a real Celery worker (in a thread of this process, so it shares the test
database) runs it against the real namespaces.
"""

from __future__ import annotations

import json
import random
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from lab.demos import DEMOS
from tests.conftest import RedisServer, point_celery_at

pytestmark = pytest.mark.web


def call(client: Client, method: str, path: str, body: Any = None) -> Any:
    kwargs: dict[str, Any] = {}
    if body is not None:
        kwargs["data"] = json.dumps(body)
        kwargs["content_type"] = "application/json"
    return getattr(client, method.lower())(path, **kwargs)


@pytest.fixture(autouse=True)
def _private_redis(redis_server: RedisServer, settings: Any) -> None:
    settings.REDIS_URL = redis_server.url
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [redis_server.url], "capacity": 1500, "expiry": 30},
        }
    }


@pytest.fixture
def users(transactional_db: None) -> dict[str, Client]:
    """Signed-in clients of two users; new labs get large random ids (unique lab keys)."""
    from lab.models import Lab

    make = get_user_model().objects.create_user
    seed_owner = make(f"seed{random.randrange(10**9)}")
    Lab.objects.create(pk=random.randrange(10**6, 10**8), owner=seed_owner, name="seed").delete()
    clients = {}
    for name in ("ann", "ben"):
        client = Client()
        client.force_login(make(name))
        clients[name] = client
    return clients


def test_list_renders_every_explanation_safely(users: dict[str, Client]) -> None:
    response = call(users["ann"], "GET", "/api/demos")
    assert response.status_code == 200
    listed = response.json()
    assert [d["slug"] for d in listed] == [d.slug for d in DEMOS]
    for entry in listed:
        assert set(entry) >= {"slug", "title", "summary", "explanation", "explanation_html"}
        assert entry["explanation_html"].startswith("<p>")
        assert "<script" not in entry["explanation_html"]
    veth = listed[0]
    assert "<strong>Run</strong>" in veth["explanation_html"]  # Markdown, rendered


def test_markup_in_an_explanation_is_not_passed_through() -> None:
    from lab.demos.services import render_explanation

    html = render_explanation("Hi <script>alert(1)</script> [x](javascript:alert(1)) **b**")
    assert "<script" not in html and "&lt;script&gt;" in html  # shown, not run
    assert "href" not in html  # a javascript: link is no link
    assert "<strong>b</strong>" in html


def test_detail_has_the_topology(users: dict[str, Client]) -> None:
    response = call(users["ann"], "GET", "/api/demos/vxlan-overlay")
    assert response.status_code == 200
    body = response.json()
    assert body["topology"]["name"] == "vxlan-overlay"
    assert body["journey"]["src"] == "g1"
    assert body["probes"][0]["dst"] == "10.10.0.2"
    missing = call(users["ann"], "GET", "/api/demos/no-such-demo")
    assert missing.status_code == 404
    assert missing.json()["code"] == "demo.not_found"


def test_signed_out_is_401(transactional_db: None) -> None:
    response = call(Client(), "GET", "/api/demos")
    assert response.status_code == 401
    assert set(response.json()) == {"code", "message", "issues"}
    assert call(Client(), "POST", "/api/demos/routing/open").status_code == 401


def test_open_makes_a_lab_of_ones_own(users: dict[str, Client]) -> None:
    from lab.demos.models import DemoLab
    from lab.models import Lab

    response = call(users["ann"], "POST", "/api/demos/routing/open")
    assert response.status_code == 201
    lab_id = response.json()["lab_id"]
    lab = Lab.objects.get(pk=lab_id)
    assert lab.owner.username == "ann"
    assert DemoLab.objects.get(lab=lab).slug == "routing"
    assert lab.latest_revision().document["name"] == "routing"
    detail = call(users["ann"], "GET", f"/api/labs/{lab_id}").json()
    assert {n["name"] for n in detail["topology"]["nodes"]} == {"h1", "r1", "h2"}
    assert call(users["ann"], "POST", "/api/demos/nope/open").status_code == 404
    # The lab page learns which demo the lab is, before any run.
    about = call(users["ann"], "GET", f"/api/labs/{lab_id}/demo")
    assert about.status_code == 200
    body = about.json()
    assert body["slug"] == "routing" and "<p>" in body["explanation_html"]
    assert body["last_run"] is None and body["last_run_at"] is None
    assert call(users["ben"], "GET", f"/api/labs/{lab_id}/demo").status_code == 404


def test_run_refuses_a_stopped_lab_and_other_users(users: dict[str, Client]) -> None:
    lab_id = call(users["ann"], "POST", "/api/demos/veth-pair/open").json()["lab_id"]
    stopped = call(users["ann"], "POST", f"/api/labs/{lab_id}/demo/run")
    assert stopped.status_code == 409
    assert stopped.json()["code"] == "lab.not_running"
    other = call(users["ben"], "POST", f"/api/labs/{lab_id}/demo/run")
    assert other.status_code == 404  # never 403: existence does not leak
    # A lab of one's own that was not opened from the library is not a demo lab.
    plain = call(users["ann"], "POST", "/api/labs", {"name": "plain"}).json()["id"]
    assert call(users["ann"], "POST", f"/api/labs/{plain}/demo/run").status_code == 404
    not_demo = call(users["ann"], "GET", f"/api/labs/{plain}/demo")
    assert not_demo.status_code == 404
    assert not_demo.json()["code"] == "demo.not_a_demo"


@pytest.fixture
def celery_worker(redis_server: RedisServer, settings: Any) -> Iterator[str]:
    """A real Celery worker on a private host queue (``host.<name>``) and the test Redis.

    The worker's ready hook (heartbeat, host recovery and orphan sweep) is
    disconnected for this worker: it must not reconcile the machine's labs.
    """
    from celery.contrib.testing.worker import start_worker
    from celery.signals import worker_ready

    from worker import tasks
    from worker.celery import app

    host = f"dm{secrets.token_hex(4)}"
    settings.TOPOLAB_HOST_NAME = host
    saved = point_celery_at(redis_server.url)
    worker_ready.disconnect(tasks._on_worker_ready)
    try:
        with start_worker(app, pool="solo", perform_ping_check=False, queues=[f"host.{host}"]):
            yield host
    finally:
        worker_ready.connect(tasks._on_worker_ready)
        point_celery_at(*saved)


@pytest.mark.kernel
def test_run_through_the_worker_returns_the_journey(
    users: dict[str, Client], celery_worker: str
) -> None:
    from lab.demos.models import DemoLab
    from lab.models import Lab
    from lab.topology.load import load_topology
    from worker import engine

    lab_id = call(users["ann"], "POST", "/api/demos/routing/open").json()["lab_id"]
    lab = Lab.objects.get(pk=lab_id)
    try:
        engine.deploy(load_topology(lab.latest_revision().document), lab.key)
        Lab.objects.filter(pk=lab_id).update(state=Lab.State.RUNNING)
        response = call(users["ann"], "POST", f"/api/labs/{lab_id}/demo/run")
        assert response.status_code == 200, response.content
        run = response.json()
        assert run["lab"] == lab.key and run["slug"] == "routing"
        assert [p["passed"] for p in run["probes"]] == [True]
        assert run["journey"]["missing"] == []
        places = {(h["node"], h["interface"]) for h in run["journey"]["hops"]}
        assert {("h1", "eth0"), ("r1", "eth0"), ("r1", "eth1"), ("h2", "eth0")} <= places
        assert run["passed"]
        assert DemoLab.objects.get(lab_id=lab_id).last_run["passed"] is True
        last = call(users["ann"], "GET", f"/api/labs/{lab_id}/demo").json()
        assert last["last_run"]["passed"] is True and last["last_run_at"] is not None
        # Ben cannot run Ann's demo.
        assert call(users["ben"], "POST", f"/api/labs/{lab_id}/demo/run").status_code == 404
    finally:
        engine.destroy(lab.key)
