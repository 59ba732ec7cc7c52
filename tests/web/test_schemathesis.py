"""The API against its own OpenAPI description (schemathesis), as a student and an instructor.

Every operation gets a fixed number of generated requests (valid and invalid ones),
sent through Django's WSGI handler in this process with a real session and CSRF
token. No answer may be a 5xx, and every answer must be one the description lists,
with its documented content type, headers and body schema. Bounded: derandomized,
``EXAMPLES`` per operation, a few minutes for both roles.
"""

from __future__ import annotations

import contextlib
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import schemathesis
from django.contrib.auth import get_user_model
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.test import Client
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from lab.api import api as ninja_api
from lab.classroom.models import Course
from lab.classroom.permissions import INSTRUCTOR, STUDENT, ensure_roles
from tests.conftest import RedisServer

pytestmark = pytest.mark.django_db

EXAMPLES = 12
SCHEMA = schemathesis.openapi.from_dict(ninja_api.get_openapi_schema(path_prefix="/api/"))
WSGI = get_wsgi_application()
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture
def no_workers(db: None, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Record what would go to a lab host's worker instead of sending it."""
    sent: list[Any] = []
    monkeypatch.setattr("lab.services.enqueue_deployment", sent.append)
    monkeypatch.setattr("lab.classroom.services.enqueue_check_run", sent.append)
    return sent


@pytest.fixture
def empty_lab_host(redis_server: RedisServer, settings: Any, tmp_path: Path) -> Iterator[None]:
    """This box's telemetry agent, real but seeing no lab in the kernel (so it never touches
    another session's namespaces): captures, journeys and exec get its real refusals."""
    from worker.telemetry.agent import Agent

    client = redis.Redis.from_url(redis_server.url)
    agent = Agent(
        host=settings.TOPOLAB_HOST_NAME,
        client=client,
        capture_dir=tmp_path / "captures",
        discover=dict,
        publish=lambda *args: None,
        group_send=lambda *args: None,
    )
    stop = threading.Event()
    server = threading.Thread(target=agent.serve, args=(stop,), daemon=True)
    server.start()
    try:
        yield
    finally:
        stop.set()
        server.join(timeout=30)
        agent.close()
        client.close()


@contextlib.contextmanager
def _test_database_kept_open() -> Iterator[None]:
    """Keep the WSGI handler from closing the test's database connection after a request
    (Django's test client does the same around each of its requests)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


class Session:
    """A signed-in user's cookies and CSRF header, as a browser sends them, and the ids of
    objects the user may reach (half the generated ids are aimed at these)."""

    def __init__(self, user: Any, objects: dict[str, Any]) -> None:
        client = Client()
        client.force_login(user)
        token = client.get("/api/auth/csrf").json()["csrf_token"]
        self.cookies = {
            "sessionid": client.cookies["sessionid"].value,
            "csrftoken": client.cookies["csrftoken"].value,
        }
        self.headers = {"X-CSRFToken": token}
        self.objects = objects


@pytest.fixture
def people(
    no_workers: list[Any], empty_lab_host: None, valid_doc: dict[str, Any]
) -> dict[str, Session]:
    """An instructor teaching a course with an exercise and a student; labs, deployments."""
    from lab import services
    from lab.classroom import services as classroom

    roles = ensure_roles()
    users = get_user_model().objects
    teacher = users.create_user("st-teacher", password="pw-st-teacher-1")
    teacher.groups.add(roles[INSTRUCTOR])
    student = users.create_user("st-student", password="pw-st-student-1")
    student.groups.add(roles[STUDENT])
    course = Course.objects.create(name="Schemathesis 101")
    course.instructors.add(teacher)
    course.students.add(student)
    sessions = {}
    exercise = None
    for role, user in (("instructor", teacher), ("student", student)):
        lab = services.do_create_lab(user, f"{user.username} lab", topology=valid_doc)
        if exercise is None:
            exercise = classroom.do_create_exercise(user, course, lab.pk, "Reach h2")
        deployment = services.do_request_deploy(lab, user)
        objects = {
            "lab_id": lab.pk,
            "course_id": course.pk,
            "exercise_id": exercise.pk,
            "deployment_id": deployment.pk,
            "number": 1,
            "slug": "routing",
        }
        sessions[role] = Session(user, objects)
    return sessions


def _run(case: Any, session: Session) -> None:
    for name, value in list((case.path_parameters or {}).items()):
        # Random ids are nearly always 404: aim half of them at the user's own objects.
        if name in session.objects and zlib.crc32(str(value).encode()) % 2 == 0:
            case.path_parameters[name] = session.objects[name]
    with _test_database_kept_open():
        case.call_and_validate(
            app=WSGI, headers=session.headers, cookies=session.cookies, checks=CHECKS
        )


_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


@SCHEMA.parametrize()
@_SETTINGS
def test_api_conforms_as_a_student(case: Any, people: dict[str, Session]) -> None:
    _run(case, people["student"])


@SCHEMA.parametrize()
@_SETTINGS
def test_api_conforms_as_an_instructor(case: Any, people: dict[str, Session]) -> None:
    _run(case, people["instructor"])
