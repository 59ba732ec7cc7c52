"""What the demo library says on a host whose kernel lacks a demo's modules ("needs
bonding"), from the link kinds the lab hosts' heartbeats report."""

from __future__ import annotations

from typing import Any

import pytest

from tests.demos.test_demos_kinds_guest import HOST_KINDS

pytestmark = pytest.mark.web


@pytest.mark.django_db
def test_the_library_api_says_needs_bonding_for_a_host_without_it(
    client: Any, django_user_model: Any
) -> None:
    from django.utils import timezone

    from lab.models import LabHost

    client.force_login(django_user_model.objects.create_user("ann"))
    unknown = {d["slug"]: d["needs"] for d in client.get("/api/demos").json()}
    assert unknown["bond-failover"] == []  # no host has reported: nothing is claimed
    LabHost.objects.create(name="here", link_kinds=list(HOST_KINDS), last_heartbeat=timezone.now())
    listed = {d["slug"]: d["needs"] for d in client.get("/api/demos").json()}
    assert listed["bond-failover"] == ["bonding"]
    assert listed["ipvlan-vs-macvlan"] == ["ipvlan"]
    assert listed["veth-pair"] == []
    # One host with bonding up besides: the library no longer says it is missing.
    LabHost.objects.create(
        name="full", link_kinds=[*HOST_KINDS, "bond"], last_heartbeat=timezone.now()
    )
    again = {d["slug"]: d["needs"] for d in client.get("/api/demos").json()}
    assert again["bond-failover"] == [] and again["macsec-wire"] == ["macsec"]
