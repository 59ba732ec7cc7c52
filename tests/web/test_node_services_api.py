"""One node's services through the API: status and log, start / stop / restart.

The kernel test deploys a lab with an http service on real namespaces; the API sends
``worker.tasks_nodes`` tasks to the lab's host queue on the session's private Redis,
where a real Celery worker (in a thread of this process: it shares the test database)
acts on the real service. Students are untrusted: one cannot read or control another's
services (404, never 403, and the service runs on untouched); the course's instructor
can.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

import worker.tasks_nodes  # registers its tasks on the worker's Celery app
from tests.demos.test_demos_api import celery_worker  # noqa: F401  (a fixture)
from tests.kernel.test_frr import http_get

pytestmark = pytest.mark.web

DOC: dict[str, Any] = {
    "name": "svc",
    "nodes": [
        {"name": "h1", "interfaces": [{"name": "eth0", "addresses": ["10.0.0.1/24"]}]},
        {
            "name": "h2",
            "interfaces": [{"name": "eth0", "addresses": ["10.0.0.2/24"]}],
            "files": {"/root/www/index.html": "hello\n"},
            "services": [{"kind": "http", "port": 8080, "root": "/root/www"}],
        },
    ],
    "links": [{"a": "h1:eth0", "b": "h2:eth0"}],
}


def call(client: Client, method: str, path: str) -> Any:
    return getattr(client, method.lower())(path, content_type="application/json")


@pytest.fixture
def people(transactional_db: None) -> dict[str, Any]:
    """Students ann and ben, ann's lab (an exercise copy), the course's instructor.

    New labs get large random ids: their kernel keys stay unique among the test
    sessions that run on this machine at once.
    """
    from lab import services
    from lab.classroom.models import Course, Exercise, ExerciseAttempt
    from lab.classroom.permissions import ensure_roles
    from lab.models import Lab

    roles = ensure_roles()
    make = get_user_model().objects.create_user
    seed = Lab.objects.create(pk=random.randrange(10**6, 10**8), owner=make("seed"), name="s")
    seed.delete()
    users = {}
    for name, role in (("ann", "student"), ("ben", "student"), ("teacher", "instructor")):
        users[name] = make(name)
        users[name].groups.add(roles[role])
    course = Course.objects.create(name="Routing")
    course.instructors.add(users["teacher"])
    course.students.add(users["ann"], users["ben"])
    lab = services.do_create_lab(users["ann"], "copy", topology=DOC)
    exercise = Exercise.objects.create(
        course=course, title="ex", topology=DOC, template=DOC, checks=[]
    )
    ExerciseAttempt.objects.create(exercise=exercise, student=users["ann"], lab=lab)
    ben_lab = services.do_create_lab(users["ben"], "mine", topology=DOC)
    clients = {}
    for name, user in users.items():
        clients[name] = Client()
        clients[name].force_login(user)
    return {"lab": lab, "ben_lab": ben_lab, "clients": clients}


def test_bad_requests_are_400_or_404_naming_the_field(people: dict[str, Any]) -> None:
    ann, lab = people["clients"]["ann"], people["lab"]
    base = f"/api/labs/{lab.pk}/nodes"
    bad_action = call(ann, "POST", f"{base}/h2/services/http/reload")
    assert bad_action.status_code == 400
    body = bad_action.json()
    assert body["code"] == "service.bad_action" and body["issues"][0]["path"] == "action"
    unknown = call(ann, "POST", f"{base}/h2/services/nginx/start")
    assert unknown.status_code == 400
    assert unknown.json()["code"] == "service.unknown"
    assert unknown.json()["issues"][0]["path"] == "service"
    absent = call(ann, "POST", f"{base}/h2/services/frr/start")  # in the catalog, not on h2
    assert absent.status_code == 404 and absent.json()["code"] == "service.not_found"
    no_node = call(ann, "POST", f"{base}/zz/services/http/start")
    assert no_node.status_code == 404 and no_node.json()["code"] == "node.not_found"
    assert call(ann, "GET", f"{base}/zz/services").json()["code"] == "node.not_found"
    # A lab that is not running: nothing to control, and the list says so without asking.
    stopped = call(ann, "POST", f"{base}/h2/services/http/start")
    assert stopped.status_code == 409 and stopped.json()["code"] == "lab.not_running"
    listed = call(ann, "GET", f"{base}/h2/services")
    assert listed.status_code == 200
    assert listed.json() == {
        "node": "h2",
        "lab_running": False,
        "error": "",
        "services": [{"kind": "http", "state": "stopped", "message": "", "log": ""}],
    }
    assert call(Client(), "GET", f"{base}/h2/services").status_code == 401


def test_the_routes_are_in_the_openapi_description(people: dict[str, Any]) -> None:
    paths = call(people["clients"]["ann"], "GET", "/api/openapi.json").json()["paths"]
    assert "get" in paths["/api/labs/{lab_id}/nodes/{node}/services"]
    assert "post" in paths["/api/labs/{lab_id}/nodes/{node}/services/{service}/{action}"]


@pytest.mark.kernel
def test_control_through_the_worker_and_a_student_cannot_touch_anothers(
    people: dict[str, Any],
    celery_worker: str,  # noqa: F811
) -> None:
    from lab.models import Lab
    from lab.topology.load import load_topology
    from worker import engine, node_services, sandbox

    clients, lab = people["clients"], people["lab"]
    ann, ben, teacher = clients["ann"], clients["ben"], clients["teacher"]
    base = f"/api/labs/{lab.pk}/nodes/h2/services"
    try:
        engine.deploy(load_topology(lab.latest_revision().document), lab.key)
        Lab.objects.filter(pk=lab.pk).update(state=Lab.State.RUNNING)

        listed = call(ann, "GET", base)
        assert listed.status_code == 200, listed.content
        (http,) = listed.json()["services"]
        assert listed.json()["lab_running"] is True
        assert http["kind"] == "http" and http["state"] == "running"
        first = node_services._recorded(lab.key, "h2", "http")["pid"]  # type: ignore[index]

        restarted = call(ann, "POST", f"{base}/http/restart")
        assert restarted.status_code == 200, restarted.content
        assert restarted.json()["state"] == "running"
        second = node_services._recorded(lab.key, "h2", "http")["pid"]  # type: ignore[index]
        assert second != first and sandbox.start_time(first) is None

        # Attack: ben, a student of the same course, reads and controls ann's services.
        for method, path in (
            ("GET", base),
            ("POST", f"{base}/http/stop"),
            ("POST", f"{base}/http/restart"),
            ("POST", f"{base}/nginx/start"),  # 404 before any 400: nothing leaks
        ):
            refused = call(ben, method, path)
            assert refused.status_code == 404, (method, path, refused.content)
            assert refused.json()["code"] == "lab.not_found"
        assert node_services._recorded(lab.key, "h2", "http")["pid"] == second  # type: ignore[index]
        assert sandbox.start_time(second) is not None  # still the same process, running
        # His own lab's routes work for him (and it is not running).
        own = call(ben, "GET", f"/api/labs/{people['ben_lab'].pk}/nodes/h2/services")
        assert own.status_code == 200 and own.json()["lab_running"] is False

        # The course's instructor may stop and start a student's copy's service.
        stopped = call(teacher, "POST", f"{base}/http/stop")
        assert stopped.status_code == 200 and stopped.json()["state"] == "stopped"
        assert sandbox.start_time(second) is None
        after = call(ann, "GET", base).json()["services"][0]
        assert after["state"] == "stopped"
        started = call(ann, "POST", f"{base}/http/start")
        assert started.status_code == 200 and started.json()["state"] == "running"
        assert http_get(lab.key, "h1", "http://10.0.0.2:8080/").stdout == "hello\n"
        log = call(ann, "GET", base).json()["services"][0]["log"]
        assert '"GET / HTTP/1.1" 200' in log
    finally:
        engine.destroy(lab.key)


def test_the_web_sends_the_tasks_the_worker_registers() -> None:
    from lab import node_control
    from worker.celery import app

    assert node_control.CONTROL_TASK == worker.tasks_nodes.CONTROL_SERVICE
    assert node_control.STATUS_TASK == worker.tasks_nodes.SERVICES_STATUS
    assert {node_control.CONTROL_TASK, node_control.STATUS_TASK} <= set(app.tasks)
