"""Unpublishing an exercise (issue 15, feature 6): a draft is seen by its course's
instructors only; students neither see nor start it, and a copy they have stays theirs.
Every promise has its attack beside the legitimate use."""

from __future__ import annotations

from typing import Any

import pytest

from lab import services as lab_services
from lab.classroom.models import Exercise, ExerciseAttempt
from lab.models import Deployment, Lab
from tests.classroom.conftest import api

pytestmark = pytest.mark.django_db


@pytest.fixture
def draft(people: dict[str, Any], doc: dict[str, Any]) -> dict[str, Any]:
    """An unpublished exercise of the course; stud1 made a copy while it was published."""
    template = lab_services.canonical_document(lab_services.check_topology(doc))
    exercise = Exercise.objects.create(
        course=people["course"], title="Route it", topology=doc, template=template
    )
    lab = lab_services.do_create_lab(people["stud1"], "copy of stud1", topology=template)
    ExerciseAttempt.objects.create(exercise=exercise, student=people["stud1"], lab=lab)
    Exercise.objects.filter(pk=exercise.pk).update(published=False)
    exercise.refresh_from_db()
    return {**people, "exercise": exercise, "copy": lab}


def _listed(client: Any, course_id: int) -> list[dict[str, Any]]:
    got = api(client, "GET", f"/api/courses/{course_id}")
    assert got.status_code == 200, got.content
    return list(got.json()["exercises"])


def test_instructor_unpublishes_and_still_sees_it_marked(
    people: dict[str, Any], doc: dict[str, Any], client_for: Any
) -> None:
    exercise = Exercise.objects.create(
        course=people["course"], title="Route it", topology=doc, template=doc
    )
    teacher = client_for(people["teacher"])
    assert api(teacher, "GET", f"/api/exercises/{exercise.pk}").json()["published"] is True

    hidden = api(teacher, "PATCH", f"/api/exercises/{exercise.pk}", {"published": False})
    assert hidden.status_code == 200, hidden.content
    assert hidden.json()["published"] is False
    assert Exercise.objects.get(pk=exercise.pk).published is False
    assert api(teacher, "GET", f"/api/exercises/{exercise.pk}").json()["published"] is False
    assert _listed(teacher, people["course"].pk) == [
        {"id": exercise.pk, "title": "Route it", "published": False}
    ]

    shown = api(teacher, "PATCH", f"/api/exercises/{exercise.pk}", {"published": True})
    assert shown.status_code == 200 and shown.json()["published"] is True


def test_a_student_neither_lists_nor_reads_a_draft(draft: dict[str, Any], client_for: Any) -> None:
    exercise = draft["exercise"]
    for who in ("stud1", "stud2"):
        client = client_for(draft[who])
        assert _listed(client, draft["course"].pk) == []
        got = api(client, "GET", f"/api/exercises/{exercise.pk}")
        assert got.status_code == 404 and got.json()["code"] == "exercise.not_found"


def test_a_student_cannot_start_a_draft_and_gets_no_copy(
    draft: dict[str, Any], client_for: Any, enqueued: list[int]
) -> None:
    exercise, stud2 = draft["exercise"], draft["stud2"]
    labs_before = Lab.objects.filter(owner=stud2).count()
    for action in ("start", "reset"):
        got = api(client_for(stud2), "POST", f"/api/exercises/{exercise.pk}/{action}")
        assert got.status_code == 404 and got.json()["code"] == "exercise.not_found"
    assert not ExerciseAttempt.objects.filter(exercise=exercise, student=stud2).exists()
    assert Lab.objects.filter(owner=stud2).count() == labs_before


def test_a_student_with_a_copy_is_told_and_keeps_it(
    draft: dict[str, Any], client_for: Any, enqueued: list[int]
) -> None:
    exercise, stud1, copy = draft["exercise"], client_for(draft["stud1"]), draft["copy"]
    for action in ("start", "reset"):
        got = api(stud1, "POST", f"/api/exercises/{exercise.pk}/{action}")
        assert got.status_code == 409, got.content
        assert got.json()["code"] == "exercise.unpublished"
    assert not Deployment.objects.filter(lab=copy).exists()  # neither deployed nor reset
    assert Lab.objects.get(pk=copy.pk).revisions.count() == 1
    assert ExerciseAttempt.objects.filter(exercise=exercise, lab=copy).exists()
    own = api(stud1, "GET", f"/api/labs/{copy.pk}")
    assert own.status_code == 200 and own.json()["id"] == copy.pk


@pytest.mark.parametrize("who", ["stud1", "stud2", "other_teacher", "outsider"])
@pytest.mark.parametrize("published", [False, True])
def test_nobody_but_the_instructors_publishes_or_unpublishes(
    draft: dict[str, Any], client_for: Any, who: str, published: bool
) -> None:
    exercise = draft["exercise"]
    Exercise.objects.filter(pk=exercise.pk).update(published=not published)
    got = api(
        client_for(draft[who]), "PATCH", f"/api/exercises/{exercise.pk}", {"published": published}
    )
    assert got.status_code == 404 and got.json()["code"] == "exercise.not_found"
    assert Exercise.objects.get(pk=exercise.pk).published is (not published)


def test_republished_it_is_listed_and_started_again(
    draft: dict[str, Any], client_for: Any, enqueued: list[int]
) -> None:
    exercise = draft["exercise"]
    teacher, stud2 = client_for(draft["teacher"]), client_for(draft["stud2"])
    shown = api(teacher, "PATCH", f"/api/exercises/{exercise.pk}", {"published": True})
    assert shown.status_code == 200, shown.content
    assert [e["id"] for e in _listed(stud2, draft["course"].pk)] == [exercise.pk]
    assert api(stud2, "GET", f"/api/exercises/{exercise.pk}").json()["published"] is True
    started = api(stud2, "POST", f"/api/exercises/{exercise.pk}/start")
    assert started.status_code == 202, started.content
    attempt = ExerciseAttempt.objects.get(exercise=exercise, student=draft["stud2"])
    assert Deployment.objects.filter(lab=attempt.lab, action=Deployment.Action.DEPLOY).exists()


def test_a_bad_published_value_is_a_400_naming_the_field(
    draft: dict[str, Any], client_for: Any
) -> None:
    exercise = draft["exercise"]
    got = api(
        client_for(draft["teacher"]), "PATCH", f"/api/exercises/{exercise.pk}", {"published": []}
    )
    assert got.status_code == 400, got.content
    body = got.json()
    assert body["code"] and "published" in [i["path"] for i in body["issues"]]
    assert Exercise.objects.get(pk=exercise.pk).published is False
