"""Exercises from the ready templates (issue 16, item 5): the catalog for instructors, and
an exercise made from the OSPF template whose checks validate against its lab and whose
student copy lacks the FRR configuration the student writes. Each promise has its attack
beside the legitimate use."""

from __future__ import annotations

from typing import Any

import pytest

from lab.classroom.checks import load_checks
from lab.classroom.models import Exercise, ExerciseAttempt
from lab.demos.catalog_routing import EXERCISES, get_exercise
from lab.models import Deployment
from lab.topology import load_topology
from tests.classroom.conftest import api

pytestmark = pytest.mark.django_db

OSPF = "ospf-configure-r2"
URL = "/api/classroom/exercise-templates"


def _from_template(client: Any, course_id: int, body: dict[str, Any]) -> Any:
    return api(client, "POST", f"/api/courses/{course_id}/exercises/from-template", body)


def _files(document: dict[str, Any]) -> dict[str, dict[str, str]]:
    """Each node's files as path -> content (stored documents list them as path/content)."""
    return {
        node["name"]: {f["path"]: f["content"] for f in node.get("files") or []}
        for node in document["nodes"]
    }


def test_instructor_lists_the_templates(people: dict[str, Any], client_for: Any) -> None:
    response = api(client_for(people["teacher"]), "GET", URL)
    assert response.status_code == 200
    body = response.json()
    assert [t["slug"] for t in body] == [e.slug for e in EXERCISES]
    ospf = next(t for t in body if t["slug"] == OSPF)
    assert ospf["title"] == "Bring r2 into OSPF area 0"
    assert "frr.conf" in ospf["description"]
    assert ospf["nodes"] == len(get_exercise(OSPF).topology["nodes"])  # type: ignore[union-attr]


def test_a_student_does_not_see_the_templates(people: dict[str, Any], client_for: Any) -> None:
    response = api(client_for(people["stud1"]), "GET", URL)
    assert response.status_code == 404
    assert response.json()["code"] == "templates.not_found"


def test_anonymous_gets_401_on_the_templates(people: dict[str, Any]) -> None:
    from django.test import Client

    assert Client().get(URL).status_code == 401


def test_exercise_from_the_ospf_template(people: dict[str, Any], client_for: Any) -> None:
    course = people["course"]
    response = _from_template(client_for(people["teacher"]), course.pk, {"template": OSPF})
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["course"] == course.pk
    assert body["title"] == "Bring r2 into OSPF area 0"
    assert body["manage"] is True
    assert [c["kind"] for c in body["checks"]] == [
        "learned_route",
        "learned_route",
        "learned_route",
        "reach",
    ]
    exercise = Exercise.objects.get(pk=body["id"])
    assert exercise.source_lab is None
    assert "10.10.10.2/32" in exercise.instructions
    # The stored checks validate against the stored lab, as the grader loads them.
    topology = load_topology(exercise.topology)
    specs = load_checks(exercise.checks, topology)
    assert [(s.kind, getattr(s, "node", None)) for s in specs][:3] == [
        ("learned_route", "r2"),
        ("learned_route", "r1"),
        ("learned_route", "r2"),
    ]
    # The solution keeps every router's frr.conf; the student's copy lacks r2's files only.
    full, student = _files(exercise.topology), _files(exercise.template)
    assert "/etc/frr/frr.conf" in full["r2"]
    assert "router ospf" in full["r2"]["/etc/frr/frr.conf"]
    assert student["r2"] == {}
    assert student["r1"] == full["r1"] and "/etc/frr/frr.conf" in student["r1"]
    assert student["r3"] == full["r3"]
    # The student copy is still a lab a student deploys: r2 keeps its FRR service.
    r2 = load_topology(exercise.template).node("r2")
    assert r2 is not None and [s.kind for s in r2.services] == ["frr"]


def test_student_starts_the_template_exercise_from_the_stripped_copy(
    people: dict[str, Any], client_for: Any, enqueued: list[int]
) -> None:
    teacher = client_for(people["teacher"])
    made = _from_template(teacher, people["course"].pk, {"template": OSPF}).json()
    response = api(client_for(people["stud1"]), "POST", f"/api/exercises/{made['id']}/start")
    assert response.status_code == 202, response.content
    attempt = ExerciseAttempt.objects.select_related("lab").get(
        exercise_id=made["id"], student=people["stud1"]
    )
    document = attempt.lab.latest_revision().document
    assert _files(document)["r2"] == {}
    # The deploy is requested (it is handed to a lab host after commit, which this test skips).
    assert Deployment.objects.filter(lab=attempt.lab, action=Deployment.Action.DEPLOY).exists()


def test_title_overrides_the_templates(people: dict[str, Any], client_for: Any) -> None:
    response = _from_template(
        client_for(people["teacher"]),
        people["course"].pk,
        {"template": "dhcp-serve-the-segment", "title": "Week 6: DHCP"},
    )
    assert response.status_code == 201, response.content
    exercise = Exercise.objects.get(pk=response.json()["id"])
    assert exercise.title == "Week 6: DHCP"
    assert [c["kind"] for c in exercise.checks][:2] == ["dhcp", "dhcp"]
    assert _files(exercise.template)["srv"] == {}


@pytest.mark.parametrize("slug", ["no-such-template", "", "OSPF-CONFIGURE-R2"])
def test_unknown_template_is_400_naming_the_field(
    people: dict[str, Any], client_for: Any, slug: str
) -> None:
    response = _from_template(
        client_for(people["teacher"]), people["course"].pk, {"template": slug}
    )
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "template.unknown"
    assert body["issues"][0]["path"] == "template"
    assert OSPF in body["issues"][0]["hint"]
    assert not Exercise.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"template": OSPF, "title": "   "}, "title"),
        ({"template": OSPF, "title": "x" * 201}, "title"),
        ({}, "template"),
        ({"template": OSPF, "solution": True}, "solution"),
    ],
)
def test_bad_body_is_400_naming_the_field(
    people: dict[str, Any], client_for: Any, body: dict[str, Any], field: str
) -> None:
    response = _from_template(client_for(people["teacher"]), people["course"].pk, body)
    assert response.status_code == 400, response.content
    payload = response.json()
    assert payload["code"]
    assert any(field in issue["path"] for issue in payload["issues"]), payload
    assert not Exercise.objects.exists()


@pytest.mark.parametrize("who", ["stud1", "outsider", "other_teacher"])
def test_only_the_courses_instructors_make_template_exercises(
    people: dict[str, Any], client_for: Any, who: str
) -> None:
    # A student of the course, a stranger and another course's teacher: all 404, nothing made.
    response = _from_template(client_for(people[who]), people["course"].pk, {"template": OSPF})
    assert response.status_code == 404
    assert response.json()["code"] == "course.not_found"
    assert not Exercise.objects.exists()


def test_unknown_course_is_404(people: dict[str, Any], client_for: Any) -> None:
    response = _from_template(client_for(people["teacher"]), 987654, {"template": OSPF})
    assert response.status_code == 404
    assert not Exercise.objects.exists()
