"""One quota rule on every path (issue 12, finding 3): create, duplicate, import, save,
deploy, apply, demo open and the CLI acting for a user; refusals name the limit and the
usage; concurrent requests at the last unit: exactly one wins."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.test import Client

from lab import quotas, services
from lab.classroom.models import Course, Quota
from lab.demos.models import DemoLab
from lab.models import Deployment, Lab
from tests.race import race
from tests.web.conftest import api

pytestmark = pytest.mark.django_db


def doc(nodes: int, name: str = "lab") -> dict[str, Any]:
    """A valid document of ``nodes`` hosts in a chain (h0 - h1 - ...)."""
    return {
        "name": name,
        "nodes": [
            {"name": f"h{i}", "interfaces": [{"name": "eth0"}, {"name": "eth1"}]}
            for i in range(nodes)
        ],
        "links": [
            {"kind": "veth", "a": f"h{i}:eth1", "b": f"h{i + 1}:eth0"} for i in range(nodes - 1)
        ],
    }


def course_quota(user: Any, **limits: int) -> Quota:
    """Put ``user`` in a course of their own with these limits."""
    course = Course.objects.create(name=f"course of {user.username}")
    course.students.add(user)
    return Quota.objects.create(course=course, **limits)


def signed_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def make_lab(client: Client, nodes: int = 2, name: str = "lab") -> dict[str, Any]:
    response = api(client, "POST", "/api/labs", {"name": name, "topology": doc(nodes, name)})
    assert response.status_code == 201, response.content
    return dict(response.json())


def run(lab_id: int, client: Client) -> None:
    """Deploy the lab and report it running, as the lab host would."""
    response = api(client, "POST", f"/api/labs/{lab_id}/deploy")
    assert response.status_code == 202, response.content
    deployment = response.json()["deployment"]["id"]
    for state in ("planning", "applying", "running"):
        services.do_transition_deployment(deployment, state)


def refused(response: Any, name: str, usage: int, limit: int) -> dict[str, Any]:
    """Assert a 409 quota refusal naming ``name``, the usage and the limit; return the body."""
    assert response.status_code == 409, response.content
    body = dict(response.json())
    assert body["code"] == f"quota.{name}", body
    assert body["quota"] == {"name": name, "usage": usage, "limit": limit}, body
    assert name in body["message"], body
    assert f"{usage} " in body["message"] and f"quota is {limit} " in body["message"], body
    assert body["issues"][0]["code"] == f"quota.{name}" and body["issues"][0]["hint"], body
    return body


# -- the paths --------------------------------------------------------------------------


def test_within_quota_every_path_still_works(
    alice: Any, alice_client: Client, enqueued: list[int]
) -> None:
    course_quota(alice, nodes_per_lab=3, concurrent_labs=1, labs_owned=3)
    lab = make_lab(alice_client, nodes=3)
    copy = api(alice_client, "POST", f"/api/labs/{lab['id']}/duplicate")
    assert copy.status_code == 201, copy.content
    put = api(alice_client, "PUT", f"/api/labs/{lab['id']}/topology", doc(3, "changed"))
    assert put.status_code == 200 and put.json()["revision"] == 2, put.content
    text = json.dumps(doc(3))
    imported = api(alice_client, "POST", "/api/topology/import", {"format": "json", "text": text})
    assert imported.status_code == 200, imported.content
    run(lab["id"], alice_client)
    # A running lab is counted already: applying it is no second lab.
    assert api(alice_client, "POST", f"/api/labs/{lab['id']}/apply").status_code == 202
    assert api(alice_client, "GET", "/api/quota").json() == {
        "nodes_per_lab": 3,
        "concurrent_labs": 1,
        "labs_owned": 3,
        "hours_per_week": None,
    }


def test_create_beyond_nodes_per_lab_is_refused_and_makes_nothing(
    alice: Any, alice_client: Client
) -> None:
    course_quota(alice, nodes_per_lab=3)
    response = api(alice_client, "POST", "/api/labs", {"name": "big", "topology": doc(40)})
    body = refused(response, "nodes_per_lab", 40, 3)
    assert body["issues"][0]["path"] == "topology.nodes"
    assert not Lab.objects.filter(owner=alice).exists()


def test_create_beyond_labs_owned_is_refused(alice: Any, alice_client: Client) -> None:
    course_quota(alice, labs_owned=3)
    for i in range(3):
        assert api(alice_client, "POST", "/api/labs", {"name": f"l{i}"}).status_code == 201
    refused(api(alice_client, "POST", "/api/labs", {"name": "one more"}), "labs_owned", 3, 3)
    assert Lab.objects.filter(owner=alice).count() == 3


def test_duplicate_beyond_labs_owned_or_nodes_is_refused(alice: Any, alice_client: Client) -> None:
    lab = make_lab(alice_client, nodes=5)
    quota = course_quota(alice, labs_owned=1)
    refused(api(alice_client, "POST", f"/api/labs/{lab['id']}/duplicate"), "labs_owned", 1, 1)
    # A lab made before the quota shrank cannot be copied past it either.
    quota.labs_owned, quota.nodes_per_lab = 5, 4
    quota.save()
    refused(api(alice_client, "POST", f"/api/labs/{lab['id']}/duplicate"), "nodes_per_lab", 5, 4)
    assert Lab.objects.filter(owner=alice).count() == 1


def test_import_beyond_nodes_per_lab_is_refused(alice: Any, alice_client: Client) -> None:
    course_quota(alice, nodes_per_lab=3)
    text = json.dumps(doc(40))
    response = api(alice_client, "POST", "/api/topology/import", {"format": "json", "text": text})
    refused(response, "nodes_per_lab", 40, 3)


def test_put_topology_growing_beyond_nodes_is_refused_and_kept_as_draft(
    alice: Any, alice_client: Client
) -> None:
    lab = make_lab(alice_client, nodes=3)
    course_quota(alice, nodes_per_lab=3)
    grown = doc(4, "grown")
    response = api(alice_client, "PUT", f"/api/labs/{lab['id']}/topology", grown)
    assert refused(response, "nodes_per_lab", 4, 3)["issues"][0]["path"] == "nodes"
    detail = api(alice_client, "GET", f"/api/labs/{lab['id']}").json()
    assert detail["revision"] == 1 and len(detail["topology"]["nodes"]) == 3
    # What the user drew is kept, and the editor is told why it is not saved.
    assert detail["draft"]["name"] == "grown"
    assert [i["code"] for i in detail["draft_issues"]] == ["quota.nodes_per_lab"]


def test_deploy_beyond_concurrent_labs_is_refused_until_one_is_destroyed(
    alice: Any, alice_client: Client, enqueued: list[int]
) -> None:
    course_quota(alice, concurrent_labs=1)
    first, second = make_lab(alice_client, name="one"), make_lab(alice_client, name="two")
    run(first["id"], alice_client)
    response = api(alice_client, "POST", f"/api/labs/{second['id']}/deploy")
    refused(response, "concurrent_labs", 1, 1)
    assert not Deployment.objects.filter(lab_id=second["id"]).exists()
    assert Lab.objects.get(pk=second["id"]).state == Lab.State.STOPPED
    # Redeploying the lab that runs is not a second lab.
    again = api(alice_client, "POST", f"/api/labs/{first['id']}/deploy")
    assert again.status_code == 202, again.content
    services.do_transition_deployment(again.json()["deployment"]["id"], "failed")
    destroy = api(alice_client, "POST", f"/api/labs/{first['id']}/destroy")
    assert destroy.status_code == 202, destroy.content
    for state in ("destroying", "destroyed"):
        services.do_transition_deployment(destroy.json()["deployment"]["id"], state)
    assert api(alice_client, "POST", f"/api/labs/{second['id']}/deploy").status_code == 202


def test_deploy_and_apply_of_a_lab_larger_than_the_quota_are_refused(
    alice: Any, alice_client: Client, enqueued: list[int]
) -> None:
    running, stopped = make_lab(alice_client, 5, "running"), make_lab(alice_client, 5, "stopped")
    run(running["id"], alice_client)
    course_quota(alice, nodes_per_lab=4)  # shrank after the labs were saved
    refused(api(alice_client, "POST", f"/api/labs/{stopped['id']}/deploy"), "nodes_per_lab", 5, 4)
    refused(api(alice_client, "POST", f"/api/labs/{running['id']}/apply"), "nodes_per_lab", 5, 4)
    assert Deployment.objects.filter(lab_id__in=[running["id"], stopped["id"]]).count() == 1


def test_demo_open_beyond_labs_owned_is_refused(alice: Any, alice_client: Client) -> None:
    course_quota(alice, labs_owned=1)
    assert api(alice_client, "POST", "/api/demos/veth-pair/open").status_code == 201
    refused(api(alice_client, "POST", "/api/demos/routing/open"), "labs_owned", 1, 1)
    assert list(DemoLab.objects.values_list("slug", flat=True)) == ["veth-pair"]


def _deploy_as(path: Path, username: str) -> str:
    out = io.StringIO()
    call_command("topolab", "deploy", str(path), "--user", username, stdout=out)
    return out.getvalue()


def test_cli_acting_for_a_user_goes_through_the_quota(
    alice: Any, tmp_path: Path, enqueued: list[int]
) -> None:
    course_quota(alice, nodes_per_lab=3, concurrent_labs=1)
    small, big, other = tmp_path / "small.json", tmp_path / "big.json", tmp_path / "other.json"
    small.write_text(json.dumps(doc(3, "small")))
    big.write_text(json.dumps(doc(40, "big")))
    other.write_text(json.dumps(doc(2, "other")))

    printed = _deploy_as(small, "alice")
    lab = Lab.objects.get(owner=alice, name="small")
    assert f"lab {lab.pk}" in printed and "deploy" in printed
    assert lab.state == Lab.State.DEPLOYING
    assert Deployment.objects.filter(lab=lab, action="deploy").count() == 1

    with pytest.raises(CommandError, match=r"^quota\.nodes_per_lab: .*40 nodes.*quota is 3 "):
        _deploy_as(big, "alice")
    with pytest.raises(CommandError, match=r"^quota\.concurrent_labs: 1 other .*quota is 1 "):
        _deploy_as(other, "alice")
    # Refused means nothing made: not the big lab, not the other one.
    assert list(Lab.objects.filter(owner=alice).values_list("name", flat=True)) == ["small"]
    with pytest.raises(CommandError, match="no user 'nobody'"):
        _deploy_as(small, "nobody")
    with pytest.raises(CommandError, match="no --dry-run"):
        call_command("topolab", "deploy", str(small), "--user", "alice", "--dry-run")


# -- whose limits -----------------------------------------------------------------------


def test_defaults_bind_a_user_in_no_course_and_a_quota_replaces_them(
    alice: Any, alice_client: Client, settings: Any
) -> None:
    settings.TOPOLAB_QUOTA_LABS_OWNED = 1
    settings.TOPOLAB_QUOTA_NODES_PER_LAB = 2
    make_lab(alice_client, nodes=2)
    refused(api(alice_client, "POST", "/api/labs", {"name": "second"}), "labs_owned", 1, 1)
    # A course quota sets its own limit (larger here); what it leaves empty stays the default.
    course_quota(alice, labs_owned=2)
    assert api(alice_client, "POST", "/api/labs", {"name": "second"}).status_code == 201
    response = api(alice_client, "POST", "/api/labs", {"name": "third", "topology": doc(3)})
    body = refused(response, "nodes_per_lab", 3, 2)
    # Every limit it goes past is an issue; the code names the first.
    assert [i["code"] for i in body["issues"]] == ["quota.nodes_per_lab", "quota.labs_owned"]


def test_admins_and_superusers_are_exempt(
    make_user: Callable[[str], Any], settings: Any, enqueued: list[int]
) -> None:
    from lab.classroom.permissions import ensure_roles

    settings.TOPOLAB_QUOTA_LABS_OWNED = 0
    settings.TOPOLAB_QUOTA_NODES_PER_LAB = 1
    settings.TOPOLAB_QUOTA_CONCURRENT_LABS = 0
    root = get_user_model().objects.create_superuser("root", password="pw-root")
    admin = make_user("admin1")
    admin.groups.add(ensure_roles()["admin"])
    plain = make_user("plain")
    for user in (root, admin):
        client = signed_in(user)
        run(make_lab(client, nodes=3)["id"], client)
        assert quotas.effective_limits(user) == dict.fromkeys(quotas.QUOTA_NAMES)
    # The attack: the same requests by a plain user are refused.
    refused(api(signed_in(plain), "POST", "/api/labs", {"name": "x"}), "labs_owned", 0, 0)


@pytest.mark.django_db(transaction=True)  # autocommit: no test transaction around the call
def test_a_counting_check_outside_a_transaction_is_a_programming_error(alice: Any) -> None:
    with pytest.raises(RuntimeError, match=r"inside transaction\.atomic"):
        quotas.check_quota(alice.pk, quotas.Want(new_lab=True))
    with transaction.atomic():
        quotas.check_quota(alice.pk, quotas.Want(new_lab=True))  # inside: counted, passes


# -- races ------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_concurrent_deploys_at_a_quota_of_one_exactly_one_wins(
    alice: Any, enqueued: list[int]
) -> None:
    assert "memory" not in str(connection.settings_dict["NAME"]), "needs a file database"
    course_quota(alice, concurrent_labs=1)
    labs = [services.do_create_lab(alice, f"lab{i}", topology=doc(2)) for i in range(8)]
    responses = race(
        [partial(api, signed_in(alice), "POST", f"/api/labs/{lab.pk}/deploy") for lab in labs]
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [202] + [409] * 7, [r.content for r in responses]
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {
        "quota.concurrent_labs"
    }
    assert Deployment.objects.filter(lab__owner=alice).count() == 1
    assert Lab.objects.filter(owner=alice, state__in=quotas.RUNNING_STATES).count() == 1
    assert len(enqueued) == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_creates_at_the_last_lab_owned_exactly_one_wins(alice: Any) -> None:
    course_quota(alice, labs_owned=1)
    create = partial(api, method="POST", path="/api/labs", body={"name": "mine"})
    responses = race([partial(create, signed_in(alice)) for _ in range(8)])
    assert sorted(r.status_code for r in responses) == [201] + [409] * 7
    assert Lab.objects.filter(owner=alice).count() == 1
