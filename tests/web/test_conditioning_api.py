"""The conditioning API: one interface's impairments, rate, up/down and MTU.

A lab host's kernel facts are what its heartbeat wrote in ``LabHost.link_kinds``; this
machine's kernel lacks sch_netem, so a host row without ``netem`` is the real case here.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from lab.models import Deployment, Lab, LabHost, TopologyRevision
from tests.web.conftest import api

pytestmark = pytest.mark.django_db

KINDS_WITHOUT_NETEM = ["veth", "bridge", "vxlan", "macvlan", "macvtap", "tap", "tun"]


def url(lab_id: int, node: str = "h1", interface: str = "eth0") -> str:
    return f"/api/labs/{lab_id}/nodes/{node}/interfaces/{interface}/conditioning"


def host(kinds: list[str], name: str | None = None) -> LabHost:
    return LabHost.objects.create(name=name or settings.TOPOLAB_HOST_NAME, link_kinds=kinds)


def latest_document(lab_id: int) -> dict[str, Any]:
    revision = TopologyRevision.objects.filter(lab_id=lab_id).order_by("-number").first()
    assert revision is not None
    return dict(revision.document)


def iface_of(document: dict[str, Any], node: str = "h1", name: str = "eth0") -> dict[str, Any]:
    entry = next(n for n in document["nodes"] if n["name"] == node)
    return dict(next(i for i in entry["interfaces"] if i["name"] == name))


def make_running(lab_id: int) -> Deployment:
    """The lab as a lab host leaves it after a deploy of its latest revision."""
    lab = Lab.objects.get(pk=lab_id)
    lab.state = Lab.State.RUNNING
    lab.save(update_fields=["state"])
    return Deployment.objects.create(
        lab=lab,
        revision=lab.latest_revision(),
        action=Deployment.Action.DEPLOY,
        state=Deployment.State.RUNNING,
        host=str(settings.TOPOLAB_HOST_NAME),
    )


def test_get_shows_the_latest_values_and_nothing_running(
    alice_client: Client, alice_lab: dict[str, Any]
) -> None:
    response = api(alice_client, "GET", url(alice_lab["id"]))
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["latest"] == {
        "revision": 1,
        "netem": None,
        "rate_mbit": None,
        "up": True,
        "mtu": None,
    }
    assert body["running"] is None and body["lab_state"] == "stopped"
    # No heartbeat yet: nothing is known of the host's kernel.
    assert body["netem_available"] is None


def test_rate_is_accepted_on_a_host_without_sch_netem(
    alice_client: Client, alice_lab: dict[str, Any], enqueued: list[int]
) -> None:
    host(KINDS_WITHOUT_NETEM)
    response = api(alice_client, "PUT", url(alice_lab["id"]), {"rate_mbit": 10})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["latest"]["revision"] == 2 and body["latest"]["rate_mbit"] == 10
    assert body["netem_available"] is False
    # A stopped lab is not applied: the next deploy builds it so.
    assert body["deployment"] is None and enqueued == []
    assert iface_of(latest_document(alice_lab["id"]))["rate_mbit"] == 10


def test_netem_on_a_host_without_sch_netem_is_400_naming_it(
    alice_client: Client, alice_lab: dict[str, Any]
) -> None:
    host(KINDS_WITHOUT_NETEM)
    response = api(alice_client, "PUT", url(alice_lab["id"]), {"netem": {"delay_ms": 10}})
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "host.module_missing"
    assert "sch_netem" in body["message"]
    assert [(i["path"], i["code"]) for i in body["issues"]] == [("netem", "host.module_missing")]
    assert "sch_netem" in body["issues"][0]["message"]
    # Refused means nothing saved.
    assert TopologyRevision.objects.filter(lab_id=alice_lab["id"]).count() == 1


def test_netem_on_a_host_with_sch_netem_is_saved_and_applied(
    alice_client: Client,
    alice_lab: dict[str, Any],
    enqueued: list[int],
    django_capture_on_commit_callbacks: Any,
) -> None:
    host([*KINDS_WITHOUT_NETEM, "netem"])
    make_running(alice_lab["id"])
    wanted = {"delay_ms": 10, "jitter_ms": 2, "loss_pct": 1.5}
    with django_capture_on_commit_callbacks(execute=True):
        response = api(alice_client, "PUT", url(alice_lab["id"]), {"netem": wanted, "up": False})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["netem_available"] is True
    assert body["latest"]["netem"]["delay_ms"] == 10 and body["latest"]["up"] is False
    # The host still runs revision 1 until the apply is done: both are shown.
    assert body["running"]["revision"] == 1 and body["running"]["netem"] is None
    assert body["deployment"]["action"] == "apply" and body["deployment"]["revision"] == 2
    assert enqueued == [body["deployment"]["id"]]


def test_all_zero_netem_needs_no_sch_netem_and_clears(
    alice_client: Client, alice_lab: dict[str, Any]
) -> None:
    host(KINDS_WITHOUT_NETEM)
    response = api(alice_client, "PUT", url(alice_lab["id"]), {"netem": {"delay_ms": 0}})
    assert response.status_code == 200, response.content
    assert response.json()["latest"]["netem"] is None
    assert iface_of(latest_document(alice_lab["id"]))["netem"] is None


@pytest.mark.parametrize(
    ("body", "path", "code"),
    [
        ({"netem": {"loss_pct": 150}}, "netem.loss_pct", "schema.less_than_equal"),
        ({"netem": {"delay_ms": -1}}, "netem.delay_ms", "schema.greater_than_equal"),
        ({"netem": {"delay_ms": "fast"}}, "netem.delay_ms", "schema.float_parsing"),
        ({"netem": {"latency": 5}}, "netem.latency", "schema.extra_forbidden"),
        ({"rate_mbit": 0}, "rate_mbit", "schema.greater_than_equal"),
        ({"rate_mbit": 1.5}, "rate_mbit", "schema.int_from_float"),
        ({"mtu": 20}, "mtu", "schema.greater_than_equal"),
        ({"up": "maybe"}, "up", "schema.bool_parsing"),
        ({"speed": 3}, "speed", "schema.extra_forbidden"),
    ],
)
def test_bad_values_are_400_naming_the_field(
    alice_client: Client, alice_lab: dict[str, Any], body: dict[str, Any], path: str, code: str
) -> None:
    response = api(alice_client, "PUT", url(alice_lab["id"]), body)
    assert response.status_code == 400, response.content
    error = response.json()
    assert error["code"] == "request.invalid"
    assert [(i["path"], i["code"]) for i in error["issues"]] == [(path, code)]
    assert error["message"].startswith(f"{path}:")
    assert TopologyRevision.objects.filter(lab_id=alice_lab["id"]).count() == 1


def test_jitter_without_delay_is_400_naming_the_delay(
    alice_client: Client, alice_lab: dict[str, Any]
) -> None:
    host([*KINDS_WITHOUT_NETEM, "netem"])
    response = api(alice_client, "PUT", url(alice_lab["id"]), {"netem": {"jitter_ms": 3}})
    assert response.status_code == 400, response.content
    error = response.json()
    assert error["code"] == "conditioning.invalid"
    assert [(i["path"], i["code"]) for i in error["issues"]] == [
        ("netem.delay_ms", "netem.needs_delay")
    ]
    assert error["message"].startswith("netem.delay_ms:")
    # The user's lab has no draft afterwards: the refused document was not kept as one.
    assert Lab.objects.get(pk=alice_lab["id"]).draft is None


def test_a_node_placed_on_another_host_is_checked_against_that_host(
    alice_client: Client, alice_lab: dict[str, Any]
) -> None:
    host([*KINDS_WITHOUT_NETEM, "netem"])
    host(KINDS_WITHOUT_NETEM, name="small")
    Lab.objects.filter(pk=alice_lab["id"]).update(
        placement={"nodes": {"h1": "small", "h2": settings.TOPOLAB_HOST_NAME}}
    )
    refused = api(alice_client, "PUT", url(alice_lab["id"]), {"netem": {"delay_ms": 5}})
    assert refused.status_code == 400 and "small lacks sch_netem" in refused.json()["message"]
    accepted = api(alice_client, "PUT", url(alice_lab["id"], "h2"), {"netem": {"delay_ms": 5}})
    assert accepted.status_code == 200, accepted.content


def test_the_draft_is_kept_with_the_change(
    alice_client: Client, alice_lab: dict[str, Any], valid_doc: dict[str, Any]
) -> None:
    draft = {**valid_doc, "nodes": [*valid_doc["nodes"], {"name": "bad name!"}]}
    saved = api(alice_client, "PUT", f"/api/labs/{alice_lab['id']}/topology", draft)
    assert saved.status_code == 400
    response = api(alice_client, "PUT", url(alice_lab["id"]), {"rate_mbit": 5})
    assert response.status_code == 200, response.content
    kept = Lab.objects.get(pk=alice_lab["id"]).draft
    assert kept is not None and [n["name"] for n in kept["nodes"]][-1] == "bad name!"
    assert iface_of(kept)["rate_mbit"] == 5


def test_busy_lab_is_409_and_unknown_interface_404(
    alice_client: Client, alice_lab: dict[str, Any]
) -> None:
    Deployment.objects.create(lab_id=alice_lab["id"], action="deploy")
    busy = api(alice_client, "PUT", url(alice_lab["id"]), {"rate_mbit": 5})
    assert busy.status_code == 409 and busy.json()["code"] == "deployment.busy"
    missing = api(alice_client, "GET", url(alice_lab["id"], "h1", "eth9"))
    assert missing.status_code == 404 and missing.json()["code"] == "interface.not_found"
    nonode = api(alice_client, "PUT", url(alice_lab["id"], "h7"), {"rate_mbit": 5})
    assert nonode.status_code == 404


def test_another_users_lab_is_404_and_unchanged(
    alice_client: Client, bob_client: Client, alice_lab: dict[str, Any]
) -> None:
    read = api(bob_client, "GET", url(alice_lab["id"]))
    assert read.status_code == 404
    write = api(bob_client, "PUT", url(alice_lab["id"]), {"rate_mbit": 1})
    assert write.status_code == 404
    assert TopologyRevision.objects.filter(lab_id=alice_lab["id"]).count() == 1
    # The owner's own request beside it works.
    assert api(alice_client, "PUT", url(alice_lab["id"]), {"rate_mbit": 1}).status_code == 200


def test_anonymous_is_401(client: Client, alice_lab: dict[str, Any]) -> None:
    assert api(client, "GET", url(alice_lab["id"])).status_code == 401


def test_the_openapi_description_lists_both_operations(alice_client: Client) -> None:
    schema = api(alice_client, "GET", "/api/openapi.json").json()
    path = "/api/labs/{lab_id}/nodes/{node}/interfaces/{interface}/conditioning"
    operations = schema["paths"][path]
    assert set(operations) == {"get", "put"}
    assert "400" in operations["put"]["responses"]
