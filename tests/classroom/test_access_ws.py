"""The websockets of a student's lab (live view, console) refuse other students."""

from __future__ import annotations

from typing import Any

import pytest
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser

from lab.consumers import websocket_urlpatterns

pytestmark = pytest.mark.django_db(transaction=True)


async def _first_message(path: str, user: Any) -> dict[str, Any]:
    communicator = WebsocketCommunicator(URLRouter(websocket_urlpatterns), path)
    communicator.scope["user"] = user
    connected, _ = await communicator.connect()
    assert connected
    try:
        return dict(await communicator.receive_json_from(timeout=5))
    finally:
        await communicator.disconnect()


@pytest.mark.parametrize("path", ["/ws/labs/{id}/", "/ws/labs/{id}/nodes/h1/console"])
async def test_another_student_gets_not_found_on_every_socket(
    people: dict[str, Any], doc: dict[str, Any], path: str
) -> None:
    from asgiref.sync import sync_to_async

    from lab import services as lab_services

    lab = await sync_to_async(lab_services.do_create_lab)(people["stud1"], "mine", topology=doc)
    for intruder in (people["stud2"], people["other_teacher"], AnonymousUser()):
        message = await _first_message(path.format(id=lab.pk), intruder)
        assert message["type"] == "error", message
        assert message["code"] in ("lab.not_found", "auth.required"), message
    if "console" not in path:  # the owner gets the snapshot (a console needs an agent)
        message = await _first_message(path.format(id=lab.pk), people["stud1"])
        assert message["type"] == "snapshot", message


async def test_the_reservation_warning_reaches_the_labs_page(
    people: dict[str, Any], doc: dict[str, Any]
) -> None:
    from datetime import timedelta

    from asgiref.sync import sync_to_async
    from django.utils import timezone

    from lab import services as lab_services
    from lab.classroom import services
    from lab.classroom.models import Reservation
    from lab.models import LabHost

    student = people["stud1"]
    host = await sync_to_async(LabHost.objects.create)(name="ws-host", capacity_nodes=10)
    lab = await sync_to_async(lab_services.do_create_lab)(student, "mine", topology=doc)
    lab.host = host
    await sync_to_async(lab.save)()
    start = (timezone.now() + timedelta(days=1)).replace(second=0, microsecond=0)
    end = start + timedelta(minutes=30)
    reservation = await sync_to_async(services.do_book)(student, lab, start, end, now=start)
    await sync_to_async(Reservation.objects.filter(pk=reservation.pk).update)(state="active")

    communicator = WebsocketCommunicator(URLRouter(websocket_urlpatterns), f"/ws/labs/{lab.pk}/")
    communicator.scope["user"] = student
    connected, _ = await communicator.connect()
    assert connected
    try:
        snapshot = await communicator.receive_json_from(timeout=5)
        assert snapshot["type"] == "snapshot"
        done = await sync_to_async(services.reservations_tick)(end - timedelta(minutes=5))
        assert done["warned"] == [reservation.pk]
        event = await communicator.receive_json_from(timeout=5)
        while event["type"] != "reservation.warning":
            event = await communicator.receive_json_from(timeout=5)
        assert event["reservation"] == reservation.pk and event["minutes_left"] == 5
        assert event["seq"] > snapshot["seq"]
    finally:
        await communicator.disconnect()
