"""What the pages read from the API (issue 15): the list's state, the revision the lab host
runs, automatic addresses, the demo a lab came from, one lab per demo, the favicon.

The lab host's part is played through the services it calls (``do_transition_deployment``),
as in ``test_api_labs.py``; the browser tests drive the real worker.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from lab import services
from tests.conftest import ROOT
from tests.web.conftest import api

pytestmark = pytest.mark.django_db


def _run(client: Client, lab_id: int, action: str, *states: str) -> int:
    """Request ``action`` and move its deployment through ``states``; return its id."""
    response = api(client, "POST", f"/api/labs/{lab_id}/{action}")
    assert response.status_code == 202, response.content
    dep_id = int(response.json()["deployment"]["id"])
    for state in states:
        services.do_transition_deployment(dep_id, state)
    return dep_id


def _state_in_list(client: Client, lab_id: int) -> str:
    rows = api(client, "GET", "/api/labs").json()
    return str(next(r["state"] for r in rows if r["id"] == lab_id))


def test_the_list_says_each_labs_own_state(
    alice_client: Client, alice_lab: dict[str, Any], enqueued: list[int]
) -> None:
    lab_id = alice_lab["id"]
    assert _state_in_list(alice_client, lab_id) == "stopped"
    dep = _run(alice_client, lab_id, "deploy", "planning", "applying")
    assert _state_in_list(alice_client, lab_id) == "deploying"
    services.do_transition_deployment(dep, "running")
    assert _state_in_list(alice_client, lab_id) == "running"
    # The row says running and the server refuses to delete it: the page disables Delete.
    assert api(alice_client, "DELETE", f"/api/labs/{lab_id}").json()["code"] == "lab.not_stopped"
    _run(alice_client, lab_id, "destroy", "destroying", "destroyed")
    assert _state_in_list(alice_client, lab_id) == "stopped"


def test_applied_revision_is_what_the_host_runs(
    alice_client: Client,
    bob_client: Client,
    alice_lab: dict[str, Any],
    valid_doc: dict[str, Any],
    enqueued: list[int],
) -> None:
    lab_id = alice_lab["id"]
    detail = lambda: api(alice_client, "GET", f"/api/labs/{lab_id}").json()  # noqa: E731
    assert detail()["applied_revision"] is None
    _run(alice_client, lab_id, "deploy", "planning", "applying", "running")
    assert detail()["applied_revision"] == 1
    # A node drawn since: revision 2 is saved, the host still runs 1.
    valid_doc["nodes"].append({"name": "h3", "kind": "host"})
    assert (
        api(alice_client, "PUT", f"/api/labs/{lab_id}/topology", valid_doc).json()["revision"] == 2
    )
    assert detail()["applied_revision"] == 1
    # A failed apply restores what ran before it; a good one runs revision 2.
    _run(alice_client, lab_id, "apply", "planning", "failed")
    assert detail()["applied_revision"] == 1
    _run(alice_client, lab_id, "deploy", "planning", "applying", "running")
    assert detail()["applied_revision"] == 2
    _run(alice_client, lab_id, "destroy", "destroying", "destroyed")
    assert detail()["applied_revision"] is None

    # The revision itself, for the page to learn its node names.
    first = api(alice_client, "GET", f"/api/labs/{lab_id}/revisions/1")
    assert first.status_code == 200
    assert [n["name"] for n in first.json()["topology"]["nodes"]] == ["h1", "h2"]
    missing = api(alice_client, "GET", f"/api/labs/{lab_id}/revisions/9")
    assert missing.status_code == 404 and missing.json()["code"] == "revision.not_found"
    # Another user's lab: 404, and no document in the answer.
    theirs = api(bob_client, "GET", f"/api/labs/{lab_id}/revisions/1")
    assert theirs.status_code == 404 and "topology" not in theirs.json()
    bad = api(alice_client, "GET", f"/api/labs/{lab_id}/revisions/one")
    assert bad.status_code in (400, 422) and "code" in bad.json()


AUTO_DOC: dict[str, Any] = {
    "name": "auto",
    "addressing": {"auto": True, "pool": "10.90.0.0/16"},
    "nodes": [
        {"name": "h1", "interfaces": [{"name": "eth0"}]},
        {"name": "r1", "kind": "router", "interfaces": [{"name": "eth0"}, {"name": "eth1"}]},
        {"name": "h2", "interfaces": [{"name": "eth0", "addresses": ["10.91.0.7/24"]}]},
    ],
    "links": [
        {"kind": "veth", "a": "h1:eth0", "b": "r1:eth0"},
        {"kind": "veth", "a": "r1:eth1", "b": "h2:eth0"},
    ],
}


def test_automatic_addresses_are_reported(alice_client: Client, valid_doc: dict[str, Any]) -> None:
    created = api(alice_client, "POST", "/api/labs", {"name": "auto", "topology": AUTO_DOC})
    assert created.status_code == 201, created.content
    auto = created.json()["auto"]["nodes"]
    h1 = auto["h1"]["interfaces"]["eth0"]
    assert len(h1) == 1 and h1[0].startswith("10.90.")
    assert auto["h1"]["gateway"] == auto["r1"]["interfaces"]["eth0"][0].split("/")[0]
    # r1's other side takes an address on h2's hand-written subnet; h2's own is not repeated.
    assert auto["r1"]["interfaces"]["eth1"][0].startswith("10.91.0.")
    assert "interfaces" not in auto.get("h2", {})
    assert auto["h2"]["gateway"] == auto["r1"]["interfaces"]["eth1"][0].split("/")[0]
    # The save answers with the same, so the page follows each edit.
    lab_id = created.json()["id"]
    put = api(alice_client, "PUT", f"/api/labs/{lab_id}/topology", AUTO_DOC)
    assert put.status_code == 200 and put.json()["auto"]["nodes"] == auto
    # Without automatic addressing there is nothing to add.
    plain = api(alice_client, "POST", "/api/labs", {"name": "p", "topology": valid_doc}).json()
    assert plain["auto"] is None and plain["demo"] is None


def test_a_demo_opens_once_per_user(alice_client: Client, bob_client: Client) -> None:
    first = api(alice_client, "POST", "/api/demos/vxlan-overlay/open")
    assert first.status_code == 201, first.content
    lab_id = first.json()["lab_id"]
    assert first.json() == {"lab_id": lab_id, "created": True, "state": "stopped"}
    again = api(alice_client, "POST", "/api/demos/vxlan-overlay/open")
    assert again.status_code == 200
    assert again.json() == {"lab_id": lab_id, "created": False, "state": "stopped"}
    names = [r["name"] for r in api(alice_client, "GET", "/api/labs").json()]
    assert names.count("A VXLAN overlay") == 1, names
    assert api(alice_client, "GET", f"/api/labs/{lab_id}").json()["demo"] == "vxlan-overlay"
    # Another user never gets alice's lab back: their own.
    bobs = api(bob_client, "POST", "/api/demos/vxlan-overlay/open")
    assert bobs.status_code == 201 and bobs.json()["lab_id"] != lab_id
    # Alice deleted hers: the next open makes a new one.
    assert api(alice_client, "DELETE", f"/api/labs/{lab_id}").status_code == 204
    fresh = api(alice_client, "POST", "/api/demos/vxlan-overlay/open")
    assert fresh.status_code == 201 and fresh.json()["lab_id"] != lab_id


def test_the_built_page_has_a_favicon(client: Client, settings: Any) -> None:
    dist = ROOT / "frontend" / "dist"
    if not (dist / "index.html").is_file():
        pytest.fail("frontend/dist is not built: run scripts/frontend-ensure.sh (make test does)")
    settings.FRONTEND_DIST = dist
    page = client.get("/labs/1").content.decode()
    icon = re.search(r'<link rel="icon"[^>]*href="(/[^"]+)"', page)
    assert icon, page[:400]
    response = client.get(icon.group(1))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/svg+xml"
    assert Path(dist, icon.group(1).lstrip("/")).read_bytes() == response.content
