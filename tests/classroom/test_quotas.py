"""The classroom's paths under the one quota rule (``lab/quotas.py``): exercise start,
booking and extending, the beat's deploy at a slot's start, an instructor acting on a
student's copy; a refusal names the limit and the usage; concurrent bookings at a quota
of one: exactly one wins."""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import partial
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from lab import services as lab_services
from lab.classroom import services
from lab.classroom.models import Exercise, ExerciseAttempt, Quota, Reservation
from lab.models import Deployment, Lab, LabHost
from tests.classroom.conftest import api
from tests.race import race


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Record the Celery hand-off instead of sending it (no worker in these tests)."""
    out: list[int] = []
    monkeypatch.setattr("lab.services.enqueue_deployment", out.append)
    return out


@pytest.fixture
def exercise(people: dict[str, Any], doc: dict[str, Any]) -> Exercise:
    """An exercise of the course, its template the routed three-node lab."""
    return Exercise.objects.create(
        course=people["course"], title="ex", topology=doc, template=doc, checks=[]
    )


def _running(user: Any, doc: dict[str, Any], name: str = "busy") -> Lab:
    """A lab of ``user``'s that the lab host reported running."""
    lab = lab_services.do_create_lab(user, name, topology=doc)
    deployment = lab_services.do_request_deploy(lab, user)
    for state in ("planning", "applying", "running"):
        lab_services.do_transition_deployment(deployment.pk, state)
    lab.refresh_from_db()
    return lab


def _future() -> datetime:
    return (timezone.now() + timedelta(days=1)).replace(minute=0, second=0, microsecond=0)


@pytest.mark.django_db
def test_exercise_start_beyond_concurrent_labs_leaves_no_copy(
    people: dict[str, Any], client_for: Any, doc: dict[str, Any], exercise: Exercise, sent: Any
) -> None:
    student = people["stud1"]
    Quota.objects.create(course=people["course"], concurrent_labs=1)
    busy = _running(student, doc)
    response = api(client_for(student), "POST", f"/api/exercises/{exercise.pk}/start")
    assert response.status_code == 409, response.content
    body = response.json()
    assert body["code"] == "quota.concurrent_labs"
    assert body["quota"] == {"name": "concurrent_labs", "usage": 1, "limit": 1}
    assert "1 other labs running" in body["message"] and "quota is 1 at once" in body["message"]
    # Copy and deploy are one transaction: the refusal left no copy behind.
    assert not ExerciseAttempt.objects.exists()
    assert list(Lab.objects.filter(owner=student)) == [busy]

    lab_services.do_request_destroy(busy, student)
    Lab.objects.filter(pk=busy.pk).update(state=Lab.State.STOPPED)
    started = api(client_for(student), "POST", f"/api/exercises/{exercise.pk}/start")
    assert started.status_code == 202, started.content
    assert started.json()["lab_state"] == "deploying"


@pytest.mark.django_db
def test_exercise_start_beyond_labs_owned_is_refused(
    people: dict[str, Any], client_for: Any, exercise: Exercise, sent: list[int]
) -> None:
    student = people["stud2"]
    Quota.objects.create(course=people["course"], labs_owned=1)
    lab_services.do_create_lab(student, "mine")
    response = api(client_for(student), "POST", f"/api/exercises/{exercise.pk}/start")
    assert response.status_code == 409, response.content
    assert response.json()["code"] == "quota.labs_owned"
    assert response.json()["quota"] == {"name": "labs_owned", "usage": 1, "limit": 1}
    assert Lab.objects.filter(owner=student).count() == 1


@pytest.mark.django_db
def test_an_instructor_on_a_students_copy_is_bound_by_the_students_quota(
    people: dict[str, Any],
    roles: dict[str, Any],
    client_for: Any,
    doc: dict[str, Any],
    exercise: Exercise,
    sent: list[int],
) -> None:
    student, teacher = people["stud1"], people["teacher"]
    attempt = services.do_start_exercise(student, exercise)
    for state in ("planning", "applying", "failed"):
        lab_services.do_transition_deployment(attempt.lab.deployments.get().pk, state)
    Quota.objects.create(course=people["course"], concurrent_labs=1)
    _running(student, doc)
    # The copy is the student's: deploying it would be the student's second running lab.
    response = api(client_for(teacher), "POST", f"/api/labs/{attempt.lab_id}/deploy")
    assert response.status_code == 409, response.content
    assert response.json()["code"] == "quota.concurrent_labs"
    # An admin acting on it is exempt.
    admin = get_user_model().objects.create_user("boss")
    admin.groups.add(roles["admin"])
    assert api(client_for(admin), "POST", f"/api/labs/{attempt.lab_id}/deploy").status_code == 202


@pytest.mark.django_db
def test_booking_and_extending_refusals_name_the_limit_and_the_usage(
    people: dict[str, Any], client_for: Any, doc: dict[str, Any]
) -> None:
    student = people["stud1"]
    client = client_for(student)
    host = LabHost.objects.create(name="quota-book-host", capacity_nodes=100)
    one, two = (lab_services.do_create_lab(student, n, topology=doc) for n in ("one", "two"))
    Lab.objects.filter(pk__in=[one.pk, two.pk]).update(host=host)
    Quota.objects.create(course=people["course"], concurrent_labs=1, hours_per_week=3)
    t0 = _future()

    def book(lab: Lab, start: datetime, hours: int) -> Any:
        end = start + timedelta(hours=hours)
        payload = {"lab": lab.pk, "start": start.isoformat(), "end": end.isoformat()}
        return api(client, "POST", "/api/reservations", payload)

    assert book(one, t0, 2).status_code == 201
    response = book(two, t0 + timedelta(hours=1), 1)
    assert response.status_code == 409, response.content
    assert response.json()["quota"] == {"name": "concurrent_labs", "usage": 1, "limit": 1}
    assert response.json()["issues"][0]["path"] == "start"
    mine = Reservation.objects.get(lab=one)
    longer = (t0 + timedelta(hours=4)).isoformat()
    response = api(client, "POST", f"/api/reservations/{mine.pk}/extend", {"end": longer})
    assert response.status_code == 409, response.content
    body = response.json()
    assert body["code"] == "quota.hours_per_week"
    assert body["quota"] == {"name": "hours_per_week", "usage": 0, "limit": 3}
    assert "plus 4 h" in body["message"] and "quota is 3 h" in body["message"]
    mine.refresh_from_db()
    assert mine.end == t0 + timedelta(hours=2)


@pytest.mark.django_db
def test_the_beat_does_not_deploy_a_booked_lab_past_the_quota(
    people: dict[str, Any], doc: dict[str, Any], sent: list[int]
) -> None:
    student = people["stud2"]
    host = LabHost.objects.create(name="quota-tick-host", capacity_nodes=100)
    booked = lab_services.do_create_lab(student, "booked", topology=doc)
    Lab.objects.filter(pk=booked.pk).update(host=host)
    booked.refresh_from_db()
    start = _future()
    reservation = services.do_book(student, booked, start, start + timedelta(hours=1), now=start)
    Quota.objects.create(course=people["course"], concurrent_labs=1)
    _running(student, doc)
    assert services.reservations_tick(start)["started"] == [reservation.pk]
    booked.refresh_from_db()
    assert booked.state == Lab.State.STOPPED
    assert not Deployment.objects.filter(lab=booked).exists()


@pytest.mark.django_db(transaction=True)
def test_concurrent_bookings_at_a_quota_of_one_exactly_one_wins(
    people: dict[str, Any], client_for: Any, doc: dict[str, Any]
) -> None:
    student = people["stud1"]
    Quota.objects.create(course=people["course"], concurrent_labs=1)
    t0 = _future()
    labs = []
    for i in range(6):
        # A host each: no host lock is shared, only the student's quota.
        host = LabHost.objects.create(name=f"quota-race-{i}", capacity_nodes=100)
        lab = lab_services.do_create_lab(student, f"lab{i}", topology=doc)
        Lab.objects.filter(pk=lab.pk).update(host=host)
        labs.append(lab)
    end = t0 + timedelta(hours=1)
    responses = race(
        [
            partial(
                api,
                client_for(student),
                "POST",
                "/api/reservations",
                {"lab": lab.pk, "start": t0.isoformat(), "end": end.isoformat()},
            )
            for lab in labs
        ]
    )
    statuses = [r.status_code for r in responses]
    assert sorted(statuses) == [201] + [409] * 5, [r.content for r in responses]
    assert Reservation.objects.filter(user=student).count() == 1
