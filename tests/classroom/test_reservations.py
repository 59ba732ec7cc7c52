"""Reservations: capacity in nodes per minute, the race for the last room, quotas, and
the beat's tick deploying, warning and destroying (time driven by the test)."""

from __future__ import annotations

import asyncio
import threading
import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels_redis.core import RedisChannelLayer
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, connections
from django.utils import timezone

from lab import events, quotas
from lab.classroom import services
from lab.classroom.models import Quota, Reservation
from lab.models import Lab, LabHost
from tests.classroom.conftest import api
from tests.conftest import netns_names


def _future() -> datetime:
    return (timezone.now() + timedelta(days=1)).replace(minute=0, second=0, microsecond=0)


def _lab(user: Any, doc: dict[str, Any], host: LabHost, name: str = "lab") -> Lab:
    from lab import services as lab_services

    lab = lab_services.do_create_lab(user, name, topology=doc)
    lab.host = host
    lab.save(update_fields=["host"])
    return lab


def _iso(moment: datetime) -> str:
    return moment.isoformat()


@pytest.mark.django_db
def test_overbooking_is_refused_with_the_next_free_slot(
    people: dict[str, Any], client_for: Any, doc: dict[str, Any]
) -> None:
    host = LabHost.objects.create(name="booking-host", capacity_nodes=5)
    t0 = _future()
    a, b = people["stud1"], people["stud2"]
    lab_a, lab_b = _lab(a, doc, host), _lab(b, doc, host)  # 3 nodes each
    ca, cb = client_for(a), client_for(b)

    first = api(
        ca,
        "POST",
        "/api/reservations",
        {"lab": lab_a.pk, "start": _iso(t0), "end": _iso(t0 + timedelta(hours=2))},
    )
    assert first.status_code == 201, first.content
    assert first.json()["nodes"] == 3 and first.json()["host"] == "booking-host"

    refused = api(
        cb,
        "POST",
        "/api/reservations",
        {
            "lab": lab_b.pk,
            "start": _iso(t0 + timedelta(hours=1, minutes=59)),
            "end": _iso(t0 + timedelta(hours=3)),
        },
    )
    assert refused.status_code == 409, refused.content
    body = refused.json()
    assert body["code"] == "reservation.full"
    assert datetime.fromisoformat(body["next_free"]) == t0 + timedelta(hours=2)
    assert "next free slot" in body["issues"][0]["hint"]

    # Back to back is fine: slots are half-open.
    ok = api(
        cb,
        "POST",
        "/api/reservations",
        {
            "lab": lab_b.pk,
            "start": body["next_free"],
            "end": _iso(t0 + timedelta(hours=3)),
        },
    )
    assert ok.status_code == 201, ok.content
    # Somebody else's lab cannot be booked; bad times name the field.
    stolen = api(
        cb,
        "POST",
        "/api/reservations",
        {"lab": lab_a.pk, "start": _iso(t0), "end": _iso(t0 + timedelta(hours=1))},
    )
    assert stolen.status_code == 404
    bad = api(
        ca,
        "POST",
        "/api/reservations",
        {"lab": lab_a.pk, "start": _iso(t0), "end": _iso(t0 - timedelta(hours=1))},
    )
    assert bad.status_code == 400 and bad.json()["issues"][0]["path"] == "end"

    # Extending into b's slot is refused; cancelling frees it.
    mine = Reservation.objects.get(lab=lab_a)
    longer = api(
        ca, "POST", f"/api/reservations/{mine.pk}/extend", {"end": _iso(t0 + timedelta(hours=3))}
    )
    assert longer.status_code == 409 and longer.json()["code"] == "reservation.full"
    theirs = Reservation.objects.get(lab=lab_b)
    assert api(ca, "DELETE", f"/api/reservations/{theirs.pk}").status_code == 404
    assert api(cb, "DELETE", f"/api/reservations/{theirs.pk}").json()["state"] == "cancelled"
    longer = api(
        ca, "POST", f"/api/reservations/{mine.pk}/extend", {"end": _iso(t0 + timedelta(hours=3))}
    )
    assert longer.status_code == 200, longer.content
    assert [r["id"] for r in api(ca, "GET", "/api/reservations").json()] == [mine.pk]


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_requests_for_the_last_room_one_wins(
    roles: dict[str, Any], client_for: Any, doc: dict[str, Any]
) -> None:
    assert "memory" not in str(connection.settings_dict["NAME"]), "needs a file database"
    host = LabHost.objects.create(name="race-host", capacity_nodes=3)
    t0 = _future()
    users = [get_user_model().objects.create_user(f"racer{i}") for i in range(20)]
    labs = [_lab(user, doc, host) for user in users]
    clients = [client_for(user) for user in users]
    barrier = threading.Barrier(len(users))
    statuses: list[int] = []
    codes: list[str] = []
    lock = threading.Lock()

    def book(i: int) -> None:
        try:
            barrier.wait()
            response = api(
                clients[i],
                "POST",
                "/api/reservations",
                {"lab": labs[i].pk, "start": _iso(t0), "end": _iso(t0 + timedelta(hours=1))},
            )
            with lock:
                statuses.append(response.status_code)
                codes.append(response.json().get("code", ""))
        finally:
            connections.close_all()  # this thread's own connection

    threads = [threading.Thread(target=book, args=(i,)) for i in range(len(users))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(statuses) == [201] + [409] * 19, (statuses, codes)
    assert codes.count("reservation.full") == 19
    assert Reservation.objects.filter(host=host).count() == 1


@pytest.mark.django_db
def test_quotas_refuse_naming_the_quota(
    people: dict[str, Any], roles: dict[str, Any], client_for: Any, doc: dict[str, Any]
) -> None:
    host = LabHost.objects.create(name="quota-host", capacity_nodes=100)
    student = people["stud1"]
    client = client_for(student)
    t0 = _future()
    lab1, lab2 = _lab(student, doc, host, "one"), _lab(student, doc, host, "two")

    def book(lab: Lab, start: datetime, hours: float) -> Any:
        return api(
            client,
            "POST",
            "/api/reservations",
            {"lab": lab.pk, "start": _iso(start), "end": _iso(start + timedelta(hours=hours))},
        )

    quota = Quota.objects.create(group=roles["student"], nodes_per_lab=2)
    refused = book(lab1, t0, 1)
    assert refused.status_code == 409
    assert refused.json()["code"] == "quota.nodes_per_lab"
    assert "nodes_per_lab" in refused.json()["message"]

    quota.nodes_per_lab, quota.hours_per_week = None, 3
    quota.save()
    assert book(lab1, t0, 2).status_code == 201
    refused = book(lab2, t0 + timedelta(hours=2), 2)
    assert refused.json()["code"] == "quota.hours_per_week", refused.content
    assert "hours_per_week" in refused.json()["message"]

    # A course quota applies to its students too; the smallest limit wins.
    Quota.objects.create(course=people["course"], concurrent_labs=1)
    refused = book(lab2, t0 + timedelta(hours=1), 1)
    assert refused.json()["code"] == "quota.concurrent_labs", refused.content
    # What no quota of the student's sets is the site default (settings).
    assert api(client, "GET", "/api/quota").json() == {
        "concurrent_labs": 1,
        "nodes_per_lab": settings.TOPOLAB_QUOTA_NODES_PER_LAB,
        "labs_owned": settings.TOPOLAB_QUOTA_LABS_OWNED,
        "hours_per_week": 3,
    }
    # An admin has no limits.
    admin = get_user_model().objects.create_user("boss")
    admin.groups.add(roles["admin"])
    assert quotas.effective_limits(admin) == dict.fromkeys(quotas.QUOTA_NAMES)


@pytest.mark.django_db
def test_exercise_start_respects_the_nodes_quota(
    people: dict[str, Any], roles: dict[str, Any], client_for: Any, doc: dict[str, Any]
) -> None:
    from lab.classroom.models import Exercise

    exercise = Exercise.objects.create(
        course=people["course"], title="big", topology=doc, template=doc, checks=[]
    )
    Quota.objects.create(course=people["course"], nodes_per_lab=2)
    refused = api(client_for(people["stud1"]), "POST", f"/api/exercises/{exercise.pk}/start")
    assert refused.status_code == 409
    assert refused.json()["code"] == "quota.nodes_per_lab"
    assert not Lab.objects.filter(owner=people["stud1"]).exists()


def _listen(lab_id: int) -> str:
    """Join the lab's group with a plain channel name (readable from any event loop)."""
    channel = f"test.classroom.{uuid.uuid4().hex}"

    async def join() -> None:
        layer = RedisChannelLayer(hosts=[settings.REDIS_URL])
        await layer.group_add(events.lab_group(lab_id), channel)
        await layer.close_pools()

    async_to_sync(join)()
    return channel


def _stopped(event: dict[str, Any]) -> bool:
    return event["type"] == "lab.state" and event.get("state") == "stopped"


def _drain(
    channel: str, after_seq: int = 0, until: Any = _stopped, wait: float = 10.0
) -> list[dict[str, Any]]:
    """Return the events numbered above ``after_seq``, in order, up to the one ``until``
    accepts (or whatever came within ``wait`` seconds)."""

    async def drain() -> list[dict[str, Any]]:
        layer = RedisChannelLayer(hosts=[settings.REDIS_URL])
        out: list[dict[str, Any]] = []
        try:
            while True:
                try:
                    message = await asyncio.wait_for(layer.receive(channel), wait)
                except TimeoutError:
                    return out
                event = message["event"]
                if event["seq"] > after_seq:
                    out.append(event)
                    if until(event):
                        return out
        finally:
            await layer.close_pools()

    return list(async_to_sync(drain)())


@pytest.mark.kernel
@pytest.mark.django_db(transaction=True)
def test_tick_deploys_warns_then_destroys_leaving_nothing(
    people: dict[str, Any],
    doc: dict[str, Any],
    unique_lab_ids: None,
    kernel_labs: list[str],
) -> None:
    host = LabHost.objects.create(name="tick-host", capacity_nodes=10)
    student = people["stud1"]
    lab = _lab(student, doc, host)
    start = _future()
    end = start + timedelta(hours=1)
    reservation = services.do_book(student, lab, start, end, now=start - timedelta(hours=1))

    channel = _listen(lab.pk)

    assert services.reservations_tick(start - timedelta(minutes=1)) == {
        "started": [],
        "warned": [],
        "ended": [],
    }
    assert services.reservations_tick(start)["started"] == [reservation.pk]
    lab.refresh_from_db()
    assert lab.state == Lab.State.RUNNING
    assert f"tl-{lab.key}-r1" in netns_names()
    before = events.current_seq(lab.pk)

    assert services.reservations_tick(end - timedelta(minutes=6))["warned"] == []
    assert services.reservations_tick(end - timedelta(minutes=5))["warned"] == [reservation.pk]
    assert services.reservations_tick(end - timedelta(minutes=4))["warned"] == []  # once
    assert services.reservations_tick(end)["ended"] == [reservation.pk]

    seen = _drain(channel, before)
    assert _stopped(seen[-1]), seen  # the destroy finished and was announced
    types = [event["type"] for event in seen]
    assert types[0] == "reservation.warning", types
    assert seen[0]["reservation"] == reservation.pk and seen[0]["minutes_left"] == 5
    assert types.index("reservation.warning") < types.index("deploy.state")
    assert [e["seq"] for e in seen] == sorted(e["seq"] for e in seen)

    lab.refresh_from_db()
    assert lab.state == Lab.State.STOPPED
    assert not {n for n in netns_names() if n.startswith(f"tl-{lab.key}-")}
    assert lab.latest_revision() is not None  # the topology is kept
    reservation.refresh_from_db()
    assert reservation.state == Reservation.State.ENDED
    assert services.reservations_tick(end + timedelta(minutes=1))["ended"] == []


@pytest.mark.kernel
@pytest.mark.django_db(transaction=True)
def test_an_expired_slot_warns_before_destroying_even_in_one_tick(
    people: dict[str, Any],
    doc: dict[str, Any],
    unique_lab_ids: None,
    kernel_labs: list[str],
) -> None:
    from lab.tasks import reservations_tick

    host = LabHost.objects.create(name="tick-host2", capacity_nodes=10)
    student = people["stud2"]
    lab = _lab(student, doc, host)
    start = _future()
    services.do_book(student, lab, start, start + timedelta(minutes=30), now=start)
    reservations_tick.apply(kwargs={"now": start.isoformat()}).get()
    channel = _listen(lab.pk)
    before = events.current_seq(lab.pk)
    # The beat was down for an hour: the slot is long over at the next tick.
    done = reservations_tick.apply(kwargs={"now": (start + timedelta(hours=1)).isoformat()}).get()
    assert done["ended"] and done["warned"] == done["ended"]
    types = [event["type"] for event in _drain(channel, before)]
    assert types[0] == "reservation.warning", types
    assert not {n for n in netns_names() if n.startswith(f"tl-{lab.key}-")}


@pytest.mark.django_db
def test_a_busy_lab_is_destroyed_at_a_later_tick(
    people: dict[str, Any], doc: dict[str, Any]
) -> None:
    from lab.models import Deployment

    host = LabHost.objects.create(name="busy-host", capacity_nodes=10)
    student = people["stud1"]
    lab = _lab(student, doc, host)
    start = _future()
    end = start + timedelta(hours=1)
    reservation = services.do_book(student, lab, start, end, now=start)
    Reservation.objects.filter(pk=reservation.pk).update(state=Reservation.State.ACTIVE)
    Lab.objects.filter(pk=lab.pk).update(state=Lab.State.DEPLOYING)
    busy = Deployment.objects.create(lab=lab, action="deploy", state="applying")

    assert services.reservations_tick(end)["ended"] == []  # still deploying: retry later
    reservation.refresh_from_db()
    assert reservation.state == Reservation.State.ACTIVE and reservation.warned == end

    Deployment.objects.filter(pk=busy.pk).update(state="running")
    Lab.objects.filter(pk=lab.pk).update(state=Lab.State.RUNNING)
    assert services.reservations_tick(end + timedelta(minutes=1))["ended"] == [reservation.pk]
    assert Deployment.objects.filter(lab=lab, action="destroy").count() == 1
