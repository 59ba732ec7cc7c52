"""Fixtures of the classroom room: roles, a course with people, labs with unique kernel keys,
and a synchronous stand-in for the Celery hand-off that drives the real engine.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from tests.conftest import RedisServer

DOC: dict[str, Any] = {
    "name": "routed",
    "nodes": [
        {
            "name": "h1",
            "interfaces": [{"name": "eth0", "addresses": ["10.61.1.1/24"]}],
            "gateway": "10.61.1.254",
        },
        {
            "name": "r1",
            "kind": "router",
            "interfaces": [
                {"name": "eth0", "addresses": ["10.61.1.254/24"]},
                {"name": "eth1", "addresses": ["10.61.2.254/24"]},
            ],
        },
        {
            "name": "h2",
            "interfaces": [{"name": "eth0", "addresses": ["10.61.2.1/24"]}],
            "gateway": "10.61.2.254",
        },
    ],
    "links": [
        {"kind": "veth", "a": "h1:eth0", "b": "r1:eth0"},
        {"kind": "veth", "a": "r1:eth1", "b": "h2:eth0"},
    ],
}


@pytest.fixture
def doc() -> dict[str, Any]:
    """A routed three-node topology (a fresh copy per test)."""
    return json.loads(json.dumps(DOC))


@pytest.fixture(autouse=True)
def _events_on_private_redis(redis_server: RedisServer, settings: Any) -> Iterator[None]:
    """Point event sequence numbers and the channel layer at the session's private Redis."""
    settings.REDIS_URL = redis_server.url
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [redis_server.url], "capacity": 1500, "expiry": 30},
        }
    }
    yield


@pytest.fixture
def unique_lab_ids(django_db_blocker: Any) -> None:
    """Make new labs get large random ids, so their kernel keys (``l<id>``) are unique
    among the test sessions other engineers run on this machine at the same time."""
    from lab.models import Lab

    owner = get_user_model().objects.create_user(f"seed{random.randrange(10**9)}")
    seed = Lab.objects.create(pk=random.randrange(10**6, 10**8), owner=owner, name="id seed")
    seed.delete()  # SQLite AUTOINCREMENT keeps counting from the highest id ever used


@pytest.fixture
def roles(db: None) -> dict[str, Any]:
    from lab.classroom.permissions import ensure_roles

    return ensure_roles()


@pytest.fixture
def people(roles: dict[str, Any]) -> dict[str, Any]:
    """An instructor with a course of two students, another instructor, an outsider."""
    from lab.classroom.models import Course

    users = {}
    for name, role in [
        ("teacher", "instructor"),
        ("other_teacher", "instructor"),
        ("stud1", "student"),
        ("stud2", "student"),
        ("outsider", "student"),
    ]:
        user = get_user_model().objects.create_user(name)  # force_login: no hashing
        user.groups.add(roles[role])
        users[name] = user
    course = Course.objects.create(name="Networks 101")
    course.instructors.add(users["teacher"])
    course.students.add(users["stud1"], users["stud2"])
    other = Course.objects.create(name="Other course")
    other.instructors.add(users["other_teacher"])
    other.students.add(users["outsider"])
    return {**users, "course": course, "other_course": other}


@pytest.fixture
def enqueued(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Deployments and check runs are recorded here instead of being sent to a lab host."""
    sent: list[int] = []
    monkeypatch.setattr("lab.services.enqueue_deployment", sent.append)
    monkeypatch.setattr("lab.classroom.services.enqueue_check_run", sent.append)
    return sent


@pytest.fixture
def client_for() -> Callable[[Any], Client]:
    def make(user: Any) -> Client:
        client = Client()
        client.force_login(user)
        return client

    return make


def api(client: Client, method: str, path: str, body: Any = None) -> Any:
    """Send a JSON request through the Django test client; return the response."""
    kwargs: dict[str, Any] = {}
    if body is not None:
        kwargs["data"] = json.dumps(body)
        kwargs["content_type"] = "application/json"
    return getattr(client, method.lower())(path, **kwargs)


def run_deployment_here(deployment_id: int) -> None:
    """Carry a deployment through its states with the real engine, in this process.

    Stands in for the Celery worker (``worker.tasks.run_deployment``) so a test
    needs no worker process; the kernel work is the engine's real deploy/destroy.
    """
    from lab import services
    from lab.models import Deployment
    from lab.topology import load_topology
    from worker import engine

    deployment = Deployment.objects.select_related("lab", "revision").get(pk=deployment_id)
    key = deployment.lab.key
    services.do_transition_deployment(deployment_id, Deployment.State.PLANNING)
    try:
        if deployment.action == Deployment.Action.DESTROY:
            services.do_transition_deployment(deployment_id, Deployment.State.DESTROYING)
            engine.destroy(key)
            services.do_transition_deployment(deployment_id, Deployment.State.DESTROYED)
        else:
            services.do_transition_deployment(deployment_id, Deployment.State.APPLYING)
            engine.deploy(load_topology(deployment.revision.document), lab=key)
            services.do_transition_deployment(deployment_id, Deployment.State.RUNNING)
    except Exception as exc:
        services.do_transition_deployment(
            deployment_id, Deployment.State.FAILED, error_code="test", error_message=str(exc)
        )
        raise


@pytest.fixture
def kernel_labs(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Deployments run at once in this process with the real engine; every lab key that
    was deployed is destroyed at the end, whatever happened."""
    from lab.models import Deployment
    from worker import engine

    keys: list[str] = []

    def enqueue(deployment_id: int) -> None:
        keys.append(Deployment.objects.get(pk=deployment_id).lab.key)
        run_deployment_here(deployment_id)

    monkeypatch.setattr("lab.services.enqueue_deployment", enqueue)
    try:
        yield keys
    finally:
        for key in set(keys):
            engine.destroy(key)


@pytest.fixture
def checks_here(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run requested checks at once in this process: the host task's body with the order
    the web builds, its report applied by the control plane's handler."""
    from lab import control
    from lab.classroom.services import check_order
    from worker.report import Reporter
    from worker.tasks_classroom import run_checks_now

    reporter = Reporter("test-host", send=control.apply_report)

    def run(lab: Any) -> None:
        order = check_order(lab.pk)
        if order is not None:
            run_checks_now(order, reporter)

    monkeypatch.setattr("lab.classroom.services.enqueue_check_run", run)
