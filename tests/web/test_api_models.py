"""Models and events: the deployment state machine, host liveness, lab keys, publish()."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from lab import events
from lab.models import Deployment, IllegalTransition, Lab, LabHost

pytestmark = pytest.mark.django_db


@pytest.fixture
def lab() -> Lab:
    owner = get_user_model().objects.create_user("owner")
    return Lab.objects.create(owner=owner, name="m")


def _deployment(lab: Lab, action: str = "deploy") -> Deployment:
    return Deployment.objects.create(lab=lab, action=action)


@pytest.mark.parametrize(
    ("action", "path"),
    [
        ("deploy", ["planning", "applying", "running"]),
        ("apply", ["planning", "applying", "running"]),
        ("destroy", ["planning", "destroying", "destroyed"]),
        ("destroy", ["destroying", "destroyed"]),
        ("deploy", ["failed"]),
        ("deploy", ["planning", "applying", "failed"]),
        ("destroy", ["destroying", "failed"]),
    ],
)
def test_legal_paths(lab: Lab, action: str, path: list[str]) -> None:
    deployment = _deployment(lab, action)
    assert deployment.state == "pending" and deployment.started is None
    for state in path:
        deployment.transition(state)
        assert Deployment.objects.get(pk=deployment.pk).state == state
    deployment.refresh_from_db()
    assert deployment.started is not None
    assert deployment.finished is not None and deployment.is_final


@pytest.mark.parametrize(
    ("action", "path", "bad"),
    [
        ("deploy", [], "running"),  # skipping planning and applying
        ("deploy", [], "applying"),
        ("deploy", ["planning"], "destroying"),  # a deploy never destroys
        ("destroy", ["planning"], "applying"),  # a destroy never applies
        ("deploy", ["planning", "applying", "running"], "failed"),  # final
        ("deploy", ["failed"], "planning"),
        ("destroy", ["destroying", "destroyed"], "destroying"),
        ("deploy", [], "pending"),
        ("deploy", [], "exploded"),
    ],
)
def test_illegal_moves_are_refused(lab: Lab, action: str, path: list[str], bad: str) -> None:
    deployment = _deployment(lab, action)
    for state in path:
        deployment.transition(state)
    before = deployment.state
    with pytest.raises(IllegalTransition) as caught:
        deployment.transition(bad)
    message = str(caught.value)
    assert f"from {before} to {bad}" in message and f"deployment {deployment.pk}" in message
    assert Deployment.objects.get(pk=deployment.pk).state == before


def test_transition_saves_extra_fields(lab: Lab) -> None:
    deployment = _deployment(lab)
    deployment.transition("planning", plan=["create ns", "create veth"])
    deployment.transition("failed", error_code="kernel.EPERM", failed_op="create veth")
    stored = Deployment.objects.get(pk=deployment.pk)
    assert stored.plan == ["create ns", "create veth"]
    assert (stored.error_code, stored.failed_op) == ("kernel.EPERM", "create veth")


def test_a_stale_copy_cannot_fail_a_moved_deployment(lab: Lab) -> None:
    deployment = _deployment(lab)
    other_process = Deployment.objects.get(pk=deployment.pk)
    deployment.transition("planning")
    # pending -> failed is legal from the stale copy's point of view, but the stored
    # row moved on: the conditional update refuses to apply it on top.
    with pytest.raises(IllegalTransition, match="now planning"):
        other_process.transition("failed")
    assert Deployment.objects.get(pk=deployment.pk).state == "planning"


def test_stale_copy_is_refused(lab: Lab) -> None:
    deployment = _deployment(lab)
    stale = Deployment.objects.get(pk=deployment.pk)
    deployment.transition("planning")
    deployment.transition("applying")
    with pytest.raises(IllegalTransition, match="changed underneath"):
        stale.transition("planning")
    assert Deployment.objects.get(pk=deployment.pk).state == "applying"


def test_lab_key_and_host_liveness(lab: Lab, settings: Any) -> None:
    assert lab.key == f"l{lab.pk}"
    settings.TOPOLAB_HOST_HEARTBEAT_TIMEOUT = 30
    host = LabHost.objects.create(name="h-a")
    assert not host.is_up
    host.last_heartbeat = timezone.now() - timedelta(seconds=5)
    assert host.is_up
    host.last_heartbeat = timezone.now() - timedelta(seconds=31)
    assert not host.is_up


# -- events -----------------------------------------------------------------------------


def test_group_names_are_channels_safe() -> None:
    import re

    name = events.lab_group(123456789)
    assert name == "lab.123456789"
    assert re.fullmatch(r"[A-Za-z0-9.\-]{1,99}", name)
    for bad in (0, -1, "3", True):
        with pytest.raises(ValueError):
            events.lab_group(bad)  # type: ignore[arg-type]


def test_unknown_event_type_is_refused_at_once(lab: Lab) -> None:
    with pytest.raises(ValueError, match="unknown event type"):
        events.publish(lab.pk, "deploy.exploded", {})
    with pytest.raises(ValueError, match="may not set"):
        events.make_event(lab.pk, events.COUNTERS, {"seq": 1})


def test_publish_after_commit_with_sequence_numbers(
    lab: Lab, django_capture_on_commit_callbacks: Any
) -> None:
    layer = get_channel_layer()
    assert layer is not None
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(events.lab_group(lab.pk), channel)
    start = events.current_seq(lab.pk)

    with django_capture_on_commit_callbacks(execute=False) as pending:
        with transaction.atomic():
            events.publish(lab.pk, events.LAB_STATE, {"state": "running"})
            events.publish(lab.pk, events.COUNTERS, {"nodes": {}})
        # Nothing is sent (or numbered) before the transaction commits.
        assert events.current_seq(lab.pk) == start
    assert len(pending) == 2
    for callback in pending:
        callback()

    first = async_to_sync(layer.receive)(channel)
    second = async_to_sync(layer.receive)(channel)
    assert first["type"] == events.CHANNEL_MESSAGE_TYPE
    assert first["event"] == {
        "type": "lab.state",
        "seq": start + 1,
        "lab": lab.pk,
        "state": "running",
    }
    assert second["event"]["type"] == "counters" and second["event"]["seq"] == start + 2
    assert events.current_seq(lab.pk) == start + 2
    async_to_sync(layer.group_discard)(events.lab_group(lab.pk), channel)


def test_publish_survives_a_dead_redis(
    lab: Lab,
    settings: Any,
    caplog: pytest.LogCaptureFixture,
    django_capture_on_commit_callbacks: Any,
) -> None:
    from tests.conftest import free_port

    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
    # The failure is logged, not raised: the change the event describes is
    # committed, and clients resync from a snapshot.
    with (
        caplog.at_level("ERROR", logger="lab.events"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        events.publish(lab.pk, events.LAB_STATE, {"state": "unknown"})
    assert any("could not publish lab.state" in r.getMessage() for r in caplog.records)
