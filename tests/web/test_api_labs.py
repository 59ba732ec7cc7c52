"""The lab endpoints: CRUD, topology revisions and drafts, import/export, deployments."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.test import Client

from lab.models import Deployment, Lab, TopologyRevision
from lab.topology import load_topology
from tests.web.conftest import api

pytestmark = pytest.mark.django_db


def test_create_list_get_patch_delete(alice_client: Client) -> None:
    created = api(alice_client, "POST", "/api/labs", {"name": "  First  ", "description": "d"})
    assert created.status_code == 201, created.content
    lab = created.json()
    assert lab["name"] == "First"
    assert lab["key"] == f"l{lab['id']}"
    assert lab["revision"] is None and lab["topology"] is None and lab["draft"] is None
    assert lab["state"] == "stopped" and lab["deployment"] is None

    listed = api(alice_client, "GET", "/api/labs").json()
    assert [entry["id"] for entry in listed] == [lab["id"]]

    got = api(alice_client, "GET", f"/api/labs/{lab['id']}").json()
    assert got["description"] == "d"

    empty = alice_client.patch(f"/api/labs/{lab['id']}")
    assert empty.status_code == 400
    assert empty.json()["issues"][0]["code"] == "request.empty_body"
    patched = api(alice_client, "PATCH", f"/api/labs/{lab['id']}", {"name": "Renamed"})
    assert patched.status_code == 200
    assert patched.json()["name"] == "Renamed" and patched.json()["description"] == "d"

    deleted = api(alice_client, "DELETE", f"/api/labs/{lab['id']}")
    assert deleted.status_code == 204
    assert api(alice_client, "GET", f"/api/labs/{lab['id']}").status_code == 404
    assert not Lab.objects.filter(pk=lab["id"]).exists()


def test_create_with_topology_makes_revision_one(alice_lab: dict[str, Any]) -> None:
    assert alice_lab["revision"] == 1
    assert alice_lab["topology"]["nodes"][0]["name"] == "h1"
    # The stored document is the normalized one: endpoints as objects.
    assert alice_lab["topology"]["links"][0]["a"] == {"node": "h1", "interface": "eth0"}


def test_create_with_invalid_topology_creates_nothing(
    alice_client: Client, valid_doc: dict[str, Any]
) -> None:
    valid_doc["nodes"][0]["interfaces"][0]["addresses"] = ["not-an-ip"]
    response = api(alice_client, "POST", "/api/labs", {"name": "x", "topology": valid_doc})
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "topology.invalid"
    assert [i["path"] for i in body["issues"]] == ["topology.nodes[0].interfaces[0].addresses[0]"]
    assert not Lab.objects.exists()


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": "bad\x01name"}, "name"),
        ({"name": 7}, "name"),
        ({"name": "ok", "description": ["x"]}, "description"),
        ({"name": "ok", "extra": 1}, "extra"),
        ({"name": "ok", "topology": "nope"}, "topology"),
    ],
)
def test_create_refuses_bad_fields_naming_them(
    alice_client: Client, body: dict[str, Any], path: str
) -> None:
    response = api(alice_client, "POST", "/api/labs", body)
    assert response.status_code == 400, response.content
    payload = response.json()
    assert set(payload) == {"code", "message", "issues"}
    assert path in [issue["path"] for issue in payload["issues"]]
    assert not Lab.objects.exists()


def test_put_topology_valid_makes_revision_and_clears_draft(
    alice_client: Client, alice_lab: dict[str, Any], valid_doc: dict[str, Any]
) -> None:
    lab_id = alice_lab["id"]
    bad = {**valid_doc, "nodes": [*valid_doc["nodes"], {"name": "h3", "kind": "toaster"}]}
    refused = api(alice_client, "PUT", f"/api/labs/{lab_id}/topology", bad)
    assert refused.status_code == 400
    assert refused.json()["code"] == "topology.invalid"
    assert [i["path"] for i in refused.json()["issues"]] == ["nodes[2].kind"]

    # The invalid document is kept as the draft, with its issues; revision 1 stays.
    detail = api(alice_client, "GET", f"/api/labs/{lab_id}").json()
    assert detail["draft"] == bad
    assert [i["path"] for i in detail["draft_issues"]] == ["nodes[2].kind"]
    assert detail["revision"] == 1

    valid_doc["nodes"].append({"name": "h3"})
    saved = api(alice_client, "PUT", f"/api/labs/{lab_id}/topology", valid_doc)
    assert saved.status_code == 200, saved.content
    assert saved.json()["revision"] == 2
    assert [n["name"] for n in saved.json()["topology"]["nodes"]] == ["h1", "h2", "h3"]
    detail = api(alice_client, "GET", f"/api/labs/{lab_id}").json()
    assert detail["draft"] is None and detail["draft_issues"] == []
    assert detail["revision"] == 2

    # Saving the same document again does not make an empty revision.
    again = api(alice_client, "PUT", f"/api/labs/{lab_id}/topology", valid_doc)
    assert again.json()["revision"] == 2
    assert TopologyRevision.objects.filter(lab_id=lab_id).count() == 2


def test_put_topology_reports_every_issue(alice_client: Client, alice_lab: dict[str, Any]) -> None:
    doc = {
        "name": "",
        "nodes": [{"name": "h1", "kind": "router", "mtu": 5, "interfaces": "eth0"}],
        "links": [{"kind": "warp", "a": "h1:eth0"}],
    }
    response = api(alice_client, "PUT", f"/api/labs/{alice_lab['id']}/topology", doc)
    assert response.status_code == 400
    paths = {issue["path"] for issue in response.json()["issues"]}
    assert {"name", "nodes[0].mtu", "nodes[0].interfaces"} <= paths
    assert any(path.startswith("links[0]") for path in paths)
    for issue in response.json()["issues"]:
        assert issue["code"] and issue["message"]


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("{not json", "request.malformed_json"),
        ("[1, 2]", "topology.invalid"),
        ('"text"', "topology.invalid"),
        ("", "request.empty_body"),
        ('{"name": "a\\u0000b"}', "request.bad_string"),
        ('{"name": "\\ud800"}', "request.bad_string"),
        ('{"name": NaN}', "request.malformed_json"),
        ('{"name": 1e999}', "request.invalid"),
        ("[" * 5000 + "]" * 5000, "request.too_deep"),
        ('{"a":' * 60 + "1" + "}" * 60, "request.too_deep"),
    ],
)
def test_put_topology_bad_bodies_are_400_with_a_path(
    alice_client: Client, alice_lab: dict[str, Any], raw: str, code: str
) -> None:
    response = alice_client.put(
        f"/api/labs/{alice_lab['id']}/topology", raw, content_type="application/json"
    )
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == code
    assert body["issues"] and all(issue["path"] for issue in body["issues"])
    # None of these can be a draft worth keeping, and revision 1 is untouched.
    assert Lab.objects.get(pk=alice_lab["id"]).draft is None


def test_oversized_body_is_refused(
    alice_client: Client, alice_lab: dict[str, Any], settings: Any
) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = alice_client.put(
        f"/api/labs/{alice_lab['id']}/topology",
        json.dumps({"name": "x" * 5000}),
        content_type="application/json",
    )
    assert response.status_code == 413
    assert response.json()["code"] == "request.too_large"
    # The same through a ninja body schema, which reads the body before any parser.
    response = api(alice_client, "POST", "/api/labs", {"name": "n", "description": "x" * 5000})
    assert response.status_code == 413
    assert response.json()["issues"][0]["path"] == "$"


def test_duplicate_copies_latest_revision_and_draft(
    alice_client: Client, alice_lab: dict[str, Any]
) -> None:
    api(alice_client, "PUT", f"/api/labs/{alice_lab['id']}/topology", {"name": "x", "nodes": 3})
    response = api(alice_client, "POST", f"/api/labs/{alice_lab['id']}/duplicate")
    assert response.status_code == 201
    copy = response.json()
    assert copy["id"] != alice_lab["id"]
    assert copy["name"] == "Alice lab (copy)"
    assert copy["revision"] == 1 and copy["topology"] == alice_lab["topology"]
    assert copy["draft"] == {"name": "x", "nodes": 3}


def test_validate_endpoint(alice_client: Client, valid_doc: dict[str, Any]) -> None:
    ok = api(alice_client, "POST", "/api/topology/validate", valid_doc)
    assert ok.status_code == 200 and ok.json() == {"valid": True, "issues": []}
    valid_doc["links"][0]["b"] = "h2"
    bad = api(alice_client, "POST", "/api/topology/validate", valid_doc)
    assert bad.status_code == 200 and bad.json()["valid"] is False
    assert [i["path"] for i in bad.json()["issues"]] == ["links[0].b"]


def test_schema_is_served(client: Client) -> None:
    response = client.get("/api/topology/schema")
    assert response.status_code == 200
    schema = response.json()
    assert schema["type"] == "object"
    assert "nodes" in schema["properties"] and "links" in schema["properties"]
    assert "name" in schema.get("required", [])


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_export_then_import_round_trip(
    alice_client: Client, alice_lab: dict[str, Any], fmt: str
) -> None:
    exported = alice_client.get(f"/api/labs/{alice_lab['id']}/export?format={fmt}")
    assert exported.status_code == 200, exported.content
    assert "attachment" in exported["Content-Disposition"]
    assert f"Alice-lab.{fmt}" in exported["Content-Disposition"]
    text = exported.content.decode()
    parsed = json.loads(text) if fmt == "json" else yaml.safe_load(text)
    assert parsed["name"] == "pair"

    imported = api(alice_client, "POST", "/api/topology/import", {"format": fmt, "text": text})
    assert imported.status_code == 200, imported.content
    assert imported.json()["warnings"] == []
    assert load_topology(imported.json()["topology"]) == load_topology(alice_lab["topology"])


def test_export_clab_then_import(alice_client: Client, alice_lab: dict[str, Any]) -> None:
    pytest.importorskip("lab.topology.clab", reason="the topology room's clab module")
    exported = alice_client.get(f"/api/labs/{alice_lab['id']}/export?format=clab")
    assert exported.status_code == 200, exported.content
    text = exported.content.decode()
    assert "topology" in yaml.safe_load(text)
    imported = api(alice_client, "POST", "/api/topology/import", {"format": "clab", "text": text})
    assert imported.status_code == 200, imported.content
    nodes = {n["name"] for n in imported.json()["topology"]["nodes"]}
    assert nodes == {"h1", "h2"}


def test_import_reports_bad_text(alice_client: Client) -> None:
    broken = api(
        alice_client, "POST", "/api/topology/import", {"format": "yaml", "text": "a: [1, 2"}
    )
    assert broken.status_code == 400
    assert broken.json()["issues"]
    invalid = api(
        alice_client,
        "POST",
        "/api/topology/import",
        {"format": "json", "text": json.dumps({"name": "x", "nodes": [{"name": 5}]})},
    )
    assert invalid.status_code == 400
    assert "nodes[0].name" in [i["path"] for i in invalid.json()["issues"]]
    wrong_format = api(
        alice_client, "POST", "/api/topology/import", {"format": "xml", "text": "<a/>"}
    )
    assert wrong_format.status_code == 400
    assert wrong_format.json()["issues"][0]["path"] == "format"


def test_export_without_topology_is_a_conflict(alice_client: Client) -> None:
    lab = api(alice_client, "POST", "/api/labs", {"name": "empty"}).json()
    response = alice_client.get(f"/api/labs/{lab['id']}/export")
    assert response.status_code == 409
    assert response.json()["code"] == "lab.no_topology"
    bad_format = alice_client.get(f"/api/labs/{lab['id']}/export?format=pdf")
    assert bad_format.status_code == 400
    assert bad_format.json()["issues"][0]["path"] == "format"


# -- deployments ------------------------------------------------------------------------


def test_deploy_creates_pending_deployment_and_enqueues_after_commit(
    alice_client: Client,
    alice_lab: dict[str, Any],
    enqueued: list[int],
    django_capture_on_commit_callbacks: Any,
) -> None:
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = api(alice_client, "POST", f"/api/labs/{alice_lab['id']}/deploy")
    assert response.status_code == 202, response.content
    deployment = response.json()["deployment"]
    assert deployment["state"] == "pending" and deployment["action"] == "deploy"
    assert deployment["revision"] == 1 and deployment["lab"] == alice_lab["id"]
    assert deployment["progress"] == {"done": 0, "total": 0, "step": ""}
    assert enqueued == [deployment["id"]]
    assert len(callbacks) >= 1
    assert Lab.objects.get(pk=alice_lab["id"]).state == "deploying"

    detail = alice_client.get(f"/api/deployments/{deployment['id']}")
    assert detail.status_code == 200
    assert set(detail.json()) >= {
        "id", "lab", "action", "state", "progress", "error_code", "error_message",
        "plan", "log", "created", "finished",
    }  # fmt: skip
    assert (
        api(alice_client, "GET", f"/api/labs/{alice_lab['id']}").json()["deployment"]["id"]
        == deployment["id"]
    )


def test_second_request_while_busy_is_409(
    alice_client: Client, alice_lab: dict[str, Any], enqueued: list[int]
) -> None:
    first = api(alice_client, "POST", f"/api/labs/{alice_lab['id']}/deploy")
    assert first.status_code == 202
    for action in ("deploy", "apply", "destroy"):
        again = api(alice_client, "POST", f"/api/labs/{alice_lab['id']}/{action}")
        assert again.status_code == 409
        assert again.json()["code"] == "deployment.busy"
    # Deleting a lab with work in flight is refused too.
    assert api(alice_client, "DELETE", f"/api/labs/{alice_lab['id']}").status_code == 409
    assert Deployment.objects.filter(lab_id=alice_lab["id"]).count() == 1


def test_deploy_without_topology_and_apply_when_stopped_are_409(
    alice_client: Client, alice_lab: dict[str, Any], enqueued: list[int]
) -> None:
    empty = api(alice_client, "POST", "/api/labs", {"name": "empty"}).json()
    response = api(alice_client, "POST", f"/api/labs/{empty['id']}/deploy")
    assert response.status_code == 409 and response.json()["code"] == "lab.no_topology"
    response = api(alice_client, "POST", f"/api/labs/{alice_lab['id']}/apply")
    assert response.status_code == 409 and response.json()["code"] == "lab.not_running"
    assert not Deployment.objects.exists()
    assert enqueued == []


def test_full_cycle_through_services(
    alice_client: Client, alice_lab: dict[str, Any], enqueued: list[int]
) -> None:
    from lab import services

    dep_id = api(alice_client, "POST", f"/api/labs/{alice_lab['id']}/deploy").json()["deployment"][
        "id"
    ]
    services.do_transition_deployment(dep_id, "planning")
    services.do_report_progress(dep_id, 1, 3, "create namespace tl-x-h1")
    services.do_transition_deployment(dep_id, "applying", plan=["a", "b", "c"])
    services.do_transition_deployment(dep_id, "running")
    detail = alice_client.get(f"/api/deployments/{dep_id}").json()
    assert detail["state"] == "running" and detail["plan"] == ["a", "b", "c"]
    assert detail["progress"] == {"done": 1, "total": 3, "step": "create namespace tl-x-h1"}
    assert detail["finished"] is not None
    assert api(alice_client, "GET", f"/api/labs/{alice_lab['id']}").json()["state"] == "running"

    # Running: apply is allowed, delete is not.
    assert api(alice_client, "DELETE", f"/api/labs/{alice_lab['id']}").status_code == 409
    apply = api(alice_client, "POST", f"/api/labs/{alice_lab['id']}/apply")
    assert apply.status_code == 202
    services.do_transition_deployment(
        apply.json()["deployment"]["id"], "failed", error_code="kernel.EEXIST", error_message="boom"
    )
    assert api(alice_client, "GET", f"/api/labs/{alice_lab['id']}").json()["state"] == "failed"

    destroy = api(alice_client, "POST", f"/api/labs/{alice_lab['id']}/destroy")
    assert destroy.status_code == 202
    destroy_id = destroy.json()["deployment"]["id"]
    services.do_transition_deployment(destroy_id, "destroying")
    services.do_transition_deployment(destroy_id, "destroyed")
    assert api(alice_client, "GET", f"/api/labs/{alice_lab['id']}").json()["state"] == "stopped"
    assert api(alice_client, "DELETE", f"/api/labs/{alice_lab['id']}").status_code == 204


def test_enqueue_failure_marks_deployment_failed(
    alice_client: Client,
    alice_lab: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
) -> None:
    def broken(deployment_id: int) -> None:
        raise ConnectionError("broker is down")

    monkeypatch.setattr("lab.services.enqueue_deployment", broken)
    with django_capture_on_commit_callbacks(execute=True):
        response = api(alice_client, "POST", f"/api/labs/{alice_lab['id']}/deploy")
    assert response.status_code == 202
    deployment = Deployment.objects.get(pk=response.json()["deployment"]["id"])
    assert deployment.state == "failed"
    assert deployment.error_code == "enqueue.failed"
    assert "broker is down" in deployment.error_message
    assert Lab.objects.get(pk=alice_lab["id"]).state == "failed"


def test_enqueue_sends_the_task_by_name_to_the_hosts_queue(
    alice_client: Client,
    alice_lab: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
    settings: Any,
) -> None:
    """The web's half of the hand-off: name, args and queue; no worker needed."""
    import lab.celery  # the control plane's app: it sends the orders
    from lab import wire

    sent: list[tuple[str, list[Any], str]] = []

    class Result:
        id = "task-123"

    def send_task(name: str, args: list[Any], queue: str, **kwargs: Any) -> Result:
        sent.append((name, args, queue))
        return Result()

    monkeypatch.setattr(lab.celery.app, "send_task", send_task)
    settings.TOPOLAB_HOST_NAME = "box-a"
    with django_capture_on_commit_callbacks(execute=True):
        response = api(alice_client, "POST", f"/api/labs/{alice_lab['id']}/deploy")
    deployment_id = response.json()["deployment"]["id"]
    # One order, to the one host (no host is up yet: this box's own takes the lab), with
    # everything the host needs: it never reads the database.
    assert [(name, queue) for name, _, queue in sent] == [(wire.RUN_PART_TASK, "host.box-a")]
    order = wire.PartOrder.from_json(sent[0][1][0])
    assert order.deployment == deployment_id and order.action == "deploy"
    assert order.key == f"l{alice_lab['id']}" and order.host == "box-a"
    assert order.topology is not None and order.topology["nodes"]
    stored = Deployment.objects.get(pk=deployment_id)
    assert stored.host == "box-a" and stored.state == "pending"
    assert stored.parts == {"primary": "box-a", "hosts": {"box-a": {"state": "ordered", "seq": 0}}}


def test_lab_list_costs_the_same_for_many_labs(
    alice_client: Client, valid_doc: dict[str, Any], django_assert_max_num_queries: Any
) -> None:
    for index in range(6):
        body: dict[str, Any] = {"name": f"lab {index}"}
        if index % 2:
            body["topology"] = valid_doc
        assert api(alice_client, "POST", "/api/labs", body).status_code == 201
    with django_assert_max_num_queries(4):
        listed = api(alice_client, "GET", "/api/labs").json()
    assert sorted((lab["name"], lab["revision"]) for lab in listed) == [
        (f"lab {i}", 1 if i % 2 else None) for i in range(6)
    ]


def test_a_failing_clab_import_answers_with_its_warnings(alice_client: Client) -> None:
    text = (
        Path(__file__).resolve().parents[1] / "fixtures" / "clab" / "failing-with-warnings.clab.yml"
    ).read_text()
    res = api(alice_client, "POST", "/api/topology/import", {"format": "clab", "text": text})
    assert res.status_code == 400, res.content
    body = res.json()
    assert body["code"] == "topology.invalid" and body["issues"]
    assert any(w["path"].startswith("topology.nodes.h2.exec") for w in body["warnings"])
