"""Who may touch which lab: one table over every lab endpoint of the API, the
permission function itself, roles, CSV enrolment and sign-in links."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser
from django.test import Client

from lab.api import api as ninja_api
from lab.classroom.models import Exercise, ExerciseAttempt, LoginToken
from lab.classroom.permissions import ACTIONS, can_access_lab, ensure_roles
from lab.models import Deployment, Lab
from tests.classroom.conftest import api

pytestmark = pytest.mark.django_db
MISSING = 987654321


def _lab_operations() -> list[tuple[str, str]]:
    """Every (method, path) of the API that names a lab: the table is the API itself."""
    schema = ninja_api.get_openapi_schema()
    ops = [
        (method.upper(), path)
        for path, methods in schema["paths"].items()
        if "{lab_id}" in path
        for method in methods
    ]
    assert len(ops) >= 12, ops  # labs, topology, export, deploy/apply/destroy, checks...
    return sorted(ops)


@pytest.fixture
def world(people: dict[str, Any], doc: dict[str, Any]) -> dict[str, Any]:
    from lab import services as lab_services

    exercise = Exercise.objects.create(
        course=people["course"], title="ex", topology=doc, template=doc, checks=[]
    )
    lab = lab_services.do_create_lab(people["stud1"], "copy", topology=doc)
    ExerciseAttempt.objects.create(exercise=exercise, student=people["stud1"], lab=lab)
    Lab.objects.filter(pk=lab.pk).update(state=Lab.State.RUNNING)
    lab.refresh_from_db()
    return {**people, "lab": lab, "exercise": exercise}


def _call(client: Client, method: str, path: str, lab_id: int) -> Any:
    body = {} if method in ("POST", "PUT", "PATCH") else None
    return api(client, method, path.replace("{lab_id}", str(lab_id)), body)


@pytest.mark.parametrize(("method", "path"), _lab_operations())
@pytest.mark.parametrize("who", ["stud2", "other_teacher", "outsider", "anonymous"])
def test_nobody_else_can_touch_a_students_lab(
    world: dict[str, Any], client_for: Any, who: str, method: str, path: str, enqueued: list[int]
) -> None:
    client = Client() if who == "anonymous" else client_for(world[who])
    lab = world["lab"]
    response = _call(client, method, path, lab.pk)
    assert response.status_code in (400, 401, 404), (response.status_code, response.content)
    # Indistinguishable from a lab that does not exist: nothing leaks.
    missing = _call(client, method, path.replace("{lab_id}", str(MISSING)), MISSING)
    assert response.status_code == missing.status_code
    assert response.json()["code"] == missing.json()["code"]
    if who == "anonymous":
        assert response.status_code == 401
    # And nothing happened to it.
    assert Lab.objects.get(pk=lab.pk).name == "copy"
    assert not Deployment.objects.filter(lab=lab).exists()
    assert enqueued == []


@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_permission_table(world: dict[str, Any], roles: dict[str, Any], action: str) -> None:
    from django.contrib.auth import get_user_model

    admin = get_user_model().objects.create_user("root2")
    admin.groups.add(roles["admin"])
    lab = world["lab"]
    expected = {
        "stud1": True,  # the owner
        "teacher": True,  # teaches the course the copy belongs to (but see below)
        "stud2": False,
        "other_teacher": False,
        "outsider": False,
    }
    # An instructor watches a student's copy but never edits or deletes it.
    expected["teacher"] = action not in ("write", "delete")
    for name, allowed in expected.items():
        assert can_access_lab(world[name], lab, action) is allowed, (name, action)
    assert can_access_lab(admin, lab, action)
    assert not can_access_lab(AnonymousUser(), lab, action)
    # The exercise's source lab is the instructor's course material too.
    source = Lab.objects.create(owner=world["other_teacher"], name="src")
    assert not can_access_lab(world["teacher"], source, action)
    Exercise.objects.filter(pk=world["exercise"].pk).update(source_lab=source)
    assert can_access_lab(world["teacher"], source, action)
    with pytest.raises(ValueError):
        can_access_lab(world["stud1"], lab, "fly")


def test_instructor_reaches_course_labs_only(
    world: dict[str, Any], client_for: Any, enqueued: list[int]
) -> None:
    lab = world["lab"]
    teacher = client_for(world["teacher"])
    assert api(teacher, "GET", f"/api/labs/{lab.pk}/checks").status_code == 200
    assert api(teacher, "POST", f"/api/labs/{lab.pk}/checks").status_code == 202
    assert api(client_for(world["stud1"]), "POST", f"/api/labs/{lab.pk}/checks").status_code == 202
    other = client_for(world["other_teacher"])
    assert api(other, "GET", f"/api/labs/{lab.pk}/checks").status_code == 404
    course = world["course"]
    assert api(other, "GET", f"/api/courses/{course.pk}").status_code == 404
    assert api(other, "GET", f"/api/courses/{course.pk}/results.csv").status_code == 404
    stud = client_for(world["stud1"])
    assert api(stud, "GET", f"/api/courses/{course.pk}").json()["role"] == "student"
    assert api(stud, "GET", f"/api/courses/{course.pk}/results").status_code == 404
    assert api(stud, "GET", f"/api/exercises/{world['exercise'].pk}").status_code == 200
    assert api(other, "GET", f"/api/exercises/{world['exercise'].pk}").status_code == 404
    assert [c["name"] for c in api(teacher, "GET", "/api/courses").json()] == ["Networks 101"]


def test_roles_are_idempotent_and_only_instructors_create_courses(
    people: dict[str, Any], client_for: Any
) -> None:
    first = ensure_roles()
    again = ensure_roles()
    assert {k: g.pk for k, g in first.items()} == {k: g.pk for k, g in again.items()}
    # Roles hold no model permissions: the API's rules decide (the admin is superusers').
    assert not again["instructor"].permissions.exists()
    assert not again["student"].permissions.exists()
    assert again["admin"].permissions.filter(codename="delete_course").exists()
    made = api(client_for(people["teacher"]), "POST", "/api/courses", {"name": "New"})
    assert made.status_code == 201 and made.json()["role"] == "instructor"
    refused = api(client_for(people["stud1"]), "POST", "/api/courses", {"name": "Mine"})
    assert refused.status_code == 403 and refused.json()["code"] == "role.forbidden"


def test_csv_enrolment_and_one_time_sign_in_link(people: dict[str, Any], client_for: Any) -> None:
    course = people["course"]
    teacher = client_for(people["teacher"])
    bad = api(
        teacher,
        "POST",
        f"/api/courses/{course.pk}/students/csv",
        {"csv": "username,email\nann,ann@example.org\nb b,not-an-email\n"},
    )
    assert bad.status_code == 400
    assert {i["path"] for i in bad.json()["issues"]} == {"rows[1].username", "rows[1].email"}
    assert not course.students.filter(username="ann").exists()  # nothing half-done

    added = api(
        teacher,
        "POST",
        f"/api/courses/{course.pk}/students/csv",
        {"csv": "username,email\nann,ann@example.org\nstud2,s2@example.org\n"},
    )
    assert added.status_code == 200, added.content
    rows = {r["username"]: r for r in added.json()}
    assert rows["ann"]["created"] and not rows["stud2"]["created"]
    assert course.students.filter(username="ann").exists()
    link = rows["ann"]["login_link"]
    assert link.startswith("/login?token=")
    token = link.split("=", 1)[1]
    assert not LoginToken.objects.filter(token_hash=token).exists()  # only the hash is kept
    assert (
        api(
            client_for(people["stud1"]),
            "POST",
            f"/api/courses/{course.pk}/students/csv",
            {"csv": "x,x@y.z"},
        ).status_code
        == 404
    )

    browser = Client(enforce_csrf_checks=True)
    csrf = browser.get("/api/auth/csrf").json()["csrf_token"]
    signed = browser.post(
        "/api/auth/token",
        data={"token": token},
        content_type="application/json",
        HTTP_X_CSRFTOKEN=csrf,
    )
    assert signed.status_code == 200, signed.content
    assert signed.json()["username"] == "ann"
    assert browser.get("/api/auth/me").json()["username"] == "ann"
    assert [c["name"] for c in browser.get("/api/courses").json()] == ["Networks 101"]

    again = Client(enforce_csrf_checks=True)
    csrf = again.get("/api/auth/csrf").json()["csrf_token"]
    reused = again.post(
        "/api/auth/token",
        data={"token": token},
        content_type="application/json",
        HTTP_X_CSRFTOKEN=csrf,
    )
    assert reused.status_code == 400 and reused.json()["code"] == "auth.token_invalid"
    assert again.get("/api/auth/me").status_code == 401
