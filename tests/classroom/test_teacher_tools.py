"""The instructor's tools of the course page (issue 15, features 2 and 6): bulk destroy
and reset of the students' copies, the results table's links to each copy, a
read-only view of a copy with its consoles, the course quota, and editing and
duplicating an exercise. Every promise has its attack beside the legitimate use."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from lab import services as lab_services
from lab.classroom.models import CheckStatus, Exercise, ExerciseAttempt, Quota
from lab.classroom.permissions import can_access_lab
from lab.models import Deployment, Lab
from tests.classroom.conftest import api

pytestmark = pytest.mark.django_db


@pytest.fixture
def copies(people: dict[str, Any], doc: dict[str, Any]) -> dict[str, Any]:
    """One exercise; stud1's copy running and edited by its student, stud2's stopped."""
    template = lab_services.canonical_document(lab_services.check_topology(doc))
    exercise = Exercise.objects.create(
        course=people["course"],
        title="Route it",
        topology=doc,
        template=template,
        checks=[{"kind": "forwarding", "node": "r1"}],
    )
    labs = {}
    for name, state in (("stud1", Lab.State.RUNNING), ("stud2", Lab.State.STOPPED)):
        lab = lab_services.do_create_lab(people[name], f"copy of {name}", topology=doc)
        ExerciseAttempt.objects.create(exercise=exercise, student=people[name], lab=lab)
        Lab.objects.filter(pk=lab.pk).update(state=state)
        lab.refresh_from_db()
        labs[name] = lab
    edited = {
        **doc,
        "nodes": [n for n in doc["nodes"] if n["name"] != "h2"],
        "links": [doc["links"][0]],
    }
    lab_services.do_put_topology(labs["stud1"], people["stud1"], edited)
    return {**people, "exercise": exercise, "labs": labs}


def _deployments(lab: Lab) -> list[str]:
    return list(Deployment.objects.filter(lab=lab).order_by("id").values_list("action", flat=True))


# -- bulk destroy and reset -------------------------------------------------------------


def test_instructor_destroys_every_copy_of_the_course(
    copies: dict[str, Any], client_for: Any, enqueued: list[int]
) -> None:
    course = copies["course"]
    response = api(
        client_for(copies["teacher"]), "POST", f"/api/courses/{course.pk}/labs/destroy", {}
    )
    assert response.status_code == 200, response.content
    rows = {r["student"]: r for r in response.json()}
    assert rows["stud1"]["outcome"] == "destroying"
    assert rows["stud2"]["outcome"] == "skipped" and rows["stud2"]["message"] == "already stopped"
    assert _deployments(copies["labs"]["stud1"]) == ["destroy"]
    assert _deployments(copies["labs"]["stud2"]) == []
    # Its topology stays: destroying takes the lab out of the kernel, not the student's work.
    assert quota_nodes(copies["labs"]["stud1"]) == 2

    # Again while the destroy is still pending: refused for that lab, named by its code.
    again = api(client_for(copies["teacher"]), "POST", f"/api/courses/{course.pk}/labs/destroy", {})
    assert {r["student"]: r["code"] for r in again.json()}["stud1"] == "deployment.busy"


def quota_nodes(lab: Lab) -> int:
    revision = Lab.objects.get(pk=lab.pk).latest_revision()
    assert revision is not None
    return len(revision.document["nodes"])


@pytest.mark.parametrize("who", ["stud1", "stud2", "other_teacher", "outsider"])
@pytest.mark.parametrize("action", ["destroy", "reset"])
def test_nobody_but_the_courses_instructors_acts_in_bulk(
    copies: dict[str, Any], client_for: Any, enqueued: list[int], who: str, action: str
) -> None:
    course = copies["course"]
    response = api(client_for(copies[who]), "POST", f"/api/courses/{course.pk}/labs/{action}", {})
    assert response.status_code == 404, response.content
    assert response.json()["code"] == "course.not_found"
    assert enqueued == []
    for lab in copies["labs"].values():
        assert _deployments(lab) == []
    assert quota_nodes(copies["labs"]["stud1"]) == 2  # stud1's own edit is untouched
    anonymous = api(Client(), "POST", f"/api/courses/{course.pk}/labs/{action}", {})
    assert anonymous.status_code == 401


def test_bulk_reset_restores_the_template_and_applies_or_deploys(
    copies: dict[str, Any], client_for: Any, enqueued: list[int]
) -> None:
    course = copies["course"]
    teacher = client_for(copies["teacher"])
    response = api(teacher, "POST", f"/api/courses/{course.pk}/labs/reset", {})
    assert response.status_code == 200, response.content
    rows = {r["student"]: r["outcome"] for r in response.json()}
    assert rows == {"stud1": "applying", "stud2": "deploying"}
    assert quota_nodes(copies["labs"]["stud1"]) == 3
    assert _deployments(copies["labs"]["stud1"]) == ["apply"]
    assert _deployments(copies["labs"]["stud2"]) == ["deploy"]


def test_bulk_reset_refused_by_a_quota_leaves_that_copy_as_it_was(
    copies: dict[str, Any], client_for: Any, enqueued: list[int]
) -> None:
    course = copies["course"]
    Quota.objects.create(course=course, concurrent_labs=1)
    # stud2 runs a lab of their own: deploying the stopped copy would make it two.
    other = lab_services.do_create_lab(
        copies["stud2"], "own lab", topology=copies["exercise"].template
    )
    Lab.objects.filter(pk=other.pk).update(state=Lab.State.RUNNING)
    response = api(
        client_for(copies["teacher"]), "POST", f"/api/courses/{course.pk}/labs/reset", {}
    )
    rows = {r["student"]: r for r in response.json()}
    assert rows["stud2"]["outcome"] == "refused"
    assert rows["stud2"]["code"] == "quota.concurrent_labs"
    assert rows["stud1"]["outcome"] == "applying"
    assert _deployments(copies["labs"]["stud2"]) == []


def test_bulk_of_one_exercise_and_an_exercise_of_another_course(
    copies: dict[str, Any], client_for: Any, enqueued: list[int], doc: dict[str, Any]
) -> None:
    course, teacher = copies["course"], client_for(copies["teacher"])
    foreign = Exercise.objects.create(
        course=copies["other_course"], title="x", topology=doc, template=doc
    )
    bad = api(teacher, "POST", f"/api/courses/{course.pk}/labs/destroy", {"exercise": foreign.pk})
    assert bad.status_code == 400
    assert bad.json()["code"] == "exercise.not_in_course"
    assert bad.json()["issues"][0]["path"] == "exercise"
    wrong_type = api(teacher, "POST", f"/api/courses/{course.pk}/labs/destroy", {"exercise": "all"})
    assert wrong_type.status_code == 400 and "exercise" in wrong_type.content.decode()
    ok = api(
        teacher,
        "POST",
        f"/api/courses/{course.pk}/labs/destroy",
        {"exercise": copies["exercise"].pk},
    )
    assert [r["outcome"] for r in ok.json()] == ["destroying", "skipped"]


# -- a student's copy: read-only for the instructor, consoles allowed -------------------


def test_instructor_reads_a_copy_and_opens_its_consoles_but_never_edits_it(
    copies: dict[str, Any], client_for: Any, enqueued: list[int]
) -> None:
    lab = copies["labs"]["stud1"]
    teacher = client_for(copies["teacher"])
    assert api(teacher, "GET", f"/api/labs/{lab.pk}").status_code == 200
    assert api(teacher, "GET", f"/api/labs/{lab.pk}/checks").status_code == 200
    assert can_access_lab(copies["teacher"], lab, "console")
    put = api(teacher, "PUT", f"/api/labs/{lab.pk}/topology", copies["exercise"].template)
    assert put.status_code == 404 and put.json()["code"] == "lab.not_found"
    assert api(teacher, "PATCH", f"/api/labs/{lab.pk}", {"name": "mine"}).status_code == 404
    assert api(teacher, "DELETE", f"/api/labs/{lab.pk}").status_code == 404
    assert Lab.objects.get(pk=lab.pk).name == "copy of stud1"
    assert quota_nodes(lab) == 2
    # The student still edits their own copy.
    owner = client_for(copies["stud1"])
    assert api(owner, "PATCH", f"/api/labs/{lab.pk}", {"name": "mine"}).status_code == 200


def test_making_a_copy_an_exercises_source_gives_the_instructor_no_more_rights(
    copies: dict[str, Any], client_for: Any
) -> None:
    # The instructor may read the copy, so may make an exercise from it; that must not
    # turn the student's lab into course material the instructor can edit or delete.
    lab = copies["labs"]["stud1"]
    teacher = client_for(copies["teacher"])
    made = api(
        teacher,
        "POST",
        f"/api/courses/{copies['course'].pk}/exercises",
        {"lab": lab.pk, "title": "t"},
    )
    assert made.status_code == 201, made.content
    assert Exercise.objects.filter(source_lab=lab).exists()
    assert not can_access_lab(copies["teacher"], lab, "write")
    assert api(teacher, "DELETE", f"/api/labs/{lab.pk}").status_code == 404


def test_results_rows_link_each_copy_with_its_state(
    copies: dict[str, Any], client_for: Any
) -> None:
    table = api(client_for(copies["teacher"]), "GET", f"/api/courses/{copies['course'].pk}/results")
    assert table.status_code == 200
    rows = {r["student"]: r["labs"] for r in table.json()["rows"]}
    ex = copies["exercise"].pk
    assert rows["stud1"] == [
        {"exercise": ex, "lab": copies["labs"]["stud1"].pk, "state": "running"}
    ]
    assert rows["stud2"] == [
        {"exercise": ex, "lab": copies["labs"]["stud2"].pk, "state": "stopped"}
    ]


# -- the course quota from the page -----------------------------------------------------


def test_instructor_sets_the_course_quota_and_students_are_bound(
    copies: dict[str, Any], client_for: Any, settings: Any
) -> None:
    course, teacher = copies["course"], client_for(copies["teacher"])
    settings.TOPOLAB_QUOTA_NODES_PER_LAB = 200
    got = api(teacher, "GET", f"/api/courses/{course.pk}/quota").json()
    assert got["quota"]["nodes_per_lab"] is None and got["site"]["nodes_per_lab"] == 200
    body = {"nodes_per_lab": 2, "concurrent_labs": 1, "labs_owned": None, "hours_per_week": 3}
    put = api(teacher, "PUT", f"/api/courses/{course.pk}/quota", body)
    assert put.status_code == 200, put.content
    assert put.json()["quota"] == body
    limits = api(client_for(copies["stud2"]), "GET", "/api/quota").json()
    assert limits["nodes_per_lab"] == 2 and limits["hours_per_week"] == 3
    # Bound for real: stud2 cannot make a three-node lab any more.
    made = api(
        client_for(copies["stud2"]),
        "POST",
        "/api/labs",
        {"name": "big", "topology": copies["exercise"].template},
    )
    assert made.status_code == 409 and made.json()["code"] == "quota.nodes_per_lab"
    # Clearing a limit gives the site's back.
    api(teacher, "PUT", f"/api/courses/{course.pk}/quota", {**body, "nodes_per_lab": None})
    assert api(client_for(copies["stud2"]), "GET", "/api/quota").json()["nodes_per_lab"] == 200
    assert Quota.objects.filter(course=course).count() == 1


def test_an_instructor_cannot_lift_students_above_the_sites_limits(
    copies: dict[str, Any], client_for: Any, settings: Any
) -> None:
    settings.TOPOLAB_QUOTA_NODES_PER_LAB = 200
    course, teacher = copies["course"], client_for(copies["teacher"])
    above = api(teacher, "PUT", f"/api/courses/{course.pk}/quota", {"nodes_per_lab": 201})
    assert above.status_code == 400
    assert above.json()["code"] == "quota.above_site"
    assert above.json()["issues"][0]["path"] == "nodes_per_lab"
    zero = api(teacher, "PUT", f"/api/courses/{course.pk}/quota", {"concurrent_labs": 0})
    assert zero.status_code == 400 and zero.json()["issues"][0]["path"] == "concurrent_labs"
    text = api(teacher, "PUT", f"/api/courses/{course.pk}/quota", {"labs_owned": "lots"})
    assert text.status_code == 400 and "labs_owned" in text.content.decode()
    assert not Quota.objects.filter(course=course).exists()
    assert api(client_for(copies["stud1"]), "GET", "/api/quota").json()["nodes_per_lab"] == 200


@pytest.mark.parametrize("who", ["stud1", "other_teacher"])
def test_nobody_else_reads_or_sets_a_course_quota(
    copies: dict[str, Any], client_for: Any, who: str
) -> None:
    course, client = copies["course"], client_for(copies[who])
    # A student setting their own course's quota to the site's limit would lift a
    # tighter one the instructor set.
    Quota.objects.create(course=course, nodes_per_lab=2)
    assert api(client, "GET", f"/api/courses/{course.pk}/quota").status_code == 404
    put = api(client, "PUT", f"/api/courses/{course.pk}/quota", {"nodes_per_lab": 200})
    assert put.status_code == 404 and put.json()["code"] == "course.not_found"
    assert Quota.objects.get(course=course).nodes_per_lab == 2


# -- editing and duplicating an exercise -------------------------------------------------


def test_instructor_edits_an_exercise_and_changed_checks_clear_results(
    copies: dict[str, Any], client_for: Any
) -> None:
    exercise, teacher = copies["exercise"], client_for(copies["teacher"])
    attempt = ExerciseAttempt.objects.get(lab=copies["labs"]["stud1"])
    CheckStatus.objects.create(attempt=attempt, index=0, passed=True, last_run="2026-01-01T00:00Z")
    got = api(teacher, "GET", f"/api/exercises/{exercise.pk}").json()
    assert got["manage"] is True and got["specs"][0]["kind"] == "forwarding"

    renamed = api(teacher, "PATCH", f"/api/exercises/{exercise.pk}", {"title": "Route it well"})
    assert renamed.status_code == 200 and renamed.json()["title"] == "Route it well"
    assert CheckStatus.objects.filter(attempt=attempt).exists()  # same checks: results kept

    checks = [{"kind": "reach", "src": "h1", "dst": "10.61.2.1"}]
    changed = api(
        teacher,
        "PATCH",
        f"/api/exercises/{exercise.pk}",
        {
            "checks": checks,
            "preconfigure": {"addresses": False, "routes": False, "nodes": ["h2"]},
        },
    )
    assert changed.status_code == 200, changed.content
    assert [c["title"] for c in changed.json()["checks"]] == ["h1 reaches 10.61.2.1"]
    h2 = next(n for n in changed.json()["template"]["nodes"] if n["name"] == "h2")
    assert h2["interfaces"][0]["addresses"] == []
    assert not CheckStatus.objects.filter(attempt=attempt).exists()

    bad = api(
        teacher,
        "PATCH",
        f"/api/exercises/{exercise.pk}",
        {"title": " ", "checks": [{"kind": "forwarding", "node": "nope"}]},
    )
    assert bad.status_code == 400
    assert [i["path"] for i in bad.json()["issues"]] == ["title"]
    assert Exercise.objects.get(pk=exercise.pk).title == "Route it well"  # nothing half-done


def test_a_bad_check_is_named_by_its_path(copies: dict[str, Any], client_for: Any) -> None:
    exercise, teacher = copies["exercise"], client_for(copies["teacher"])
    bad = api(
        teacher,
        "PATCH",
        f"/api/exercises/{exercise.pk}",
        {"checks": [{"kind": "forwarding", "node": "nope"}]},
    )
    assert bad.status_code == 400
    assert bad.json()["issues"][0]["path"] == "checks[0].node"
    assert Exercise.objects.get(pk=exercise.pk).checks[0]["node"] == "r1"


@pytest.mark.parametrize("who", ["stud1", "other_teacher"])
def test_nobody_else_edits_or_duplicates_an_exercise(
    copies: dict[str, Any], client_for: Any, who: str
) -> None:
    exercise, client = copies["exercise"], client_for(copies[who])
    patch = api(client, "PATCH", f"/api/exercises/{exercise.pk}", {"title": "owned"})
    assert patch.status_code == 404 and patch.json()["code"] == "exercise.not_found"
    dup = api(client, "POST", f"/api/exercises/{exercise.pk}/duplicate", {})
    assert dup.status_code == 404
    assert Exercise.objects.get(pk=exercise.pk).title == "Route it"
    assert Exercise.objects.count() == 1
    if who == "stud1":
        # The student still reads it, without the stored specs (hints, targets).
        seen = api(client, "GET", f"/api/exercises/{exercise.pk}").json()
        assert seen["manage"] is False and seen["specs"] is None


def test_duplicate_into_own_courses_only(copies: dict[str, Any], client_for: Any) -> None:
    exercise, teacher = copies["exercise"], client_for(copies["teacher"])
    dup = api(teacher, "POST", f"/api/exercises/{exercise.pk}/duplicate", {})
    assert dup.status_code == 201, dup.content
    assert dup.json()["title"] == "Route it (copy)" and dup.json()["course"] == exercise.course_id
    assert dup.json()["attempt"] is None
    copy = Exercise.objects.get(pk=dup.json()["id"])
    assert copy.checks == exercise.checks and copy.template == exercise.template
    foreign = api(
        teacher,
        "POST",
        f"/api/exercises/{exercise.pk}/duplicate",
        {"course": copies["other_course"].pk},
    )
    assert foreign.status_code == 404 and foreign.json()["code"] == "course.not_found"
    assert not Exercise.objects.filter(course=copies["other_course"]).exists()


def test_only_instructors_are_offered_new_courses(copies: dict[str, Any], client_for: Any) -> None:
    me = "/api/classroom/me"
    assert api(client_for(copies["teacher"]), "GET", me).json() == {"can_create_courses": True}
    assert api(client_for(copies["stud1"]), "GET", me).json() == {"can_create_courses": False}
    assert api(Client(), "GET", me).status_code == 401


def test_the_checks_builder_reads_its_forms_signed_in(
    people: dict[str, Any], client_for: Any
) -> None:
    forms = api(client_for(people["teacher"]), "GET", "/api/classroom/check-forms")
    assert forms.status_code == 200
    assert {f["kind"] for f in forms.json()} >= {"reach", "mtu", "route", "forwarding"}
    assert api(Client(), "GET", "/api/classroom/check-forms").status_code == 401
