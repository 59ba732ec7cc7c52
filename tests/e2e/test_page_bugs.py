"""The page bugs a teacher found walking the README's tour (issue 15, "Bugs" 1 to 11), one
browser test each, on the real stack: web, Redis, and a lab host (Celery worker and
telemetry agent, as root) that builds the labs in real namespaces.

Screenshots of the fixed pages go to test-artifacts/e2e/ (the ``shot`` fixture).
"""

from __future__ import annotations

import http.cookiejar
import json
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, netns_names
from tests.e2e.conftest import PASSWORD, USERNAME, Api, LiveServer
from tests.e2e.test_editor import drag_link, open_lab, wait_saved
from tests.e2e.test_live import lab_host  # noqa: F401 - the module's lab host fixture

pytestmark = pytest.mark.e2e

BADGE = "[data-testid=state-badge]"


class HttpApi:
    """The API for fixtures that outlive one page (a page's cookies are cleared per test)."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        self.call("GET", "/api/auth/csrf")
        status, body = self.call(
            "POST", "/api/auth/login", {"username": USERNAME, "password": PASSWORD}
        )
        assert status == 200, body

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        token = next((c.value for c in self.jar if c.name == "csrftoken"), "")
        request = urllib.request.Request(  # noqa: S310 - http to the test's server
            f"{self.base}{path}",
            method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Content-Type": "application/json", "X-CSRFToken": token},
        )
        try:
            with self.opener.open(request, timeout=30) as response:
                text = response.read().decode()
                return response.status, (json.loads(text) if text else None)
        except urllib.error.HTTPError as exc:
            text = exc.read().decode()
            return exc.code, (json.loads(text) if text else None)


def wait_state(
    client: HttpApi | Api, lab_id: int, want: str, timeout: float = 90
) -> dict[str, Any]:
    """Poll the lab until its state is ``want``; return the lab."""
    deadline = time.monotonic() + timeout
    lab: dict[str, Any] = {}
    while time.monotonic() < deadline:
        status, lab = client.call("GET", f"/api/labs/{lab_id}")
        assert status == 200, lab
        if lab["state"] == want:
            return lab
        if lab["state"] == "failed" and want != "failed":
            break
        time.sleep(0.3)
    raise AssertionError(f"lab {lab_id} is {lab.get('state')}, not {want}: {lab.get('deployment')}")


def destroy(client: HttpApi | Api, lab_id: int) -> None:
    """Destroy the lab if it may have kernel objects, and wait until it is stopped."""
    status, lab = client.call("GET", f"/api/labs/{lab_id}")
    if status != 200 or lab["state"] == "stopped":
        return
    if lab["state"] in ("deploying", "destroying"):
        deadline = time.monotonic() + 90
        while lab["state"] in ("deploying", "destroying") and time.monotonic() < deadline:
            time.sleep(0.3)
            lab = client.call("GET", f"/api/labs/{lab_id}")[1]
    if lab["state"] != "stopped":
        status, body = client.call("POST", f"/api/labs/{lab_id}/destroy")
        assert status == 202, body
        wait_state(client, lab_id, "stopped")
    assert not {n for n in netns_names() if n.startswith(f"tl-l{lab_id}-")}


def node(
    name: str, *addresses: str, gateway: str | None = None, kind: str = "host", x: int = 0
) -> dict[str, Any]:
    ifaces = [{"name": f"eth{i}", "addresses": [a]} for i, a in enumerate(addresses)]
    n: dict[str, Any] = {
        "name": name,
        "kind": kind,
        "interfaces": ifaces,
        "position": {"x": x, "y": 0},
    }
    if gateway:
        n["gateway"] = gateway
    return n


def routed_doc(name: str, net: int) -> dict[str, Any]:
    """h1 - r1 - h2 with hand-written addresses on 10.<net>.1.0/24 and 10.<net>.2.0/24."""
    return {
        "name": name,
        "nodes": [
            node("h1", f"10.{net}.1.2/24", gateway=f"10.{net}.1.1"),
            node("r1", f"10.{net}.1.1/24", f"10.{net}.2.1/24", kind="router", x=260),
            node("h2", f"10.{net}.2.2/24", gateway=f"10.{net}.2.1", x=520),
        ],
        "links": [
            {"kind": "veth", "a": "h1:eth0", "b": "r1:eth0"},
            {"kind": "veth", "a": "r1:eth1", "b": "h2:eth0"},
        ],
    }


def pair_doc(name: str, net: int) -> dict[str, Any]:
    return {
        "name": name,
        "nodes": [node("h1", f"10.{net}.0.1/24"), node("h2", f"10.{net}.0.2/24", x=300)],
        "links": [{"kind": "veth", "a": "h1:eth0", "b": "h2:eth0"}],
    }


def make_lab(client: HttpApi | Api, name: str, doc: dict[str, Any]) -> int:
    status, lab = client.call("POST", "/api/labs", {"name": name, "topology": doc})
    assert status == 201, lab
    return int(lab["id"])


@pytest.fixture(scope="module")
def http_api(stack: LiveServer) -> HttpApi:
    return HttpApi(stack.url)


@pytest.fixture(scope="module")
def routed(http_api: HttpApi, lab_host: Any) -> Iterator[int]:  # noqa: F811 - the fixture above
    """A running lab h1 - r1 - h2 (hand-written addresses), destroyed at the end."""
    lab_id = make_lab(http_api, "routed by hand", routed_doc("routed", 81))
    try:
        status, body = http_api.call("POST", f"/api/labs/{lab_id}/deploy")
        assert status == 202, body
        wait_state(http_api, lab_id, "running")
        yield lab_id
    finally:
        destroy(http_api, lab_id)


# -- 1. My labs says "not deployed" for every lab ----------------------------------------------


def test_1_my_labs_shows_each_labs_state(
    signed_in: Any, api: Api, stack: LiveServer, routed: int, shot: Any
) -> None:
    page = signed_in
    fresh = make_lab(api, "never deployed", pair_doc("fresh", 82))
    page.goto(f"{stack.url}/labs")
    running_row = page.locator(f'tr[data-lab="{routed}"]')
    running_row.wait_for()
    assert running_row.locator(".badge").inner_text().strip() == "running"
    assert page.locator(f'tr[data-lab="{fresh}"] .badge').inner_text().strip() == "not deployed"
    # No Delete that the server would refuse ("the lab is running: destroy it ...").
    delete = running_row.get_by_role("button", name="Delete")
    assert delete.is_disabled()
    assert "destroy it" in (delete.get_attribute("title") or "")
    assert page.locator(f'tr[data-lab="{fresh}"]').get_by_role("button", name="Delete").is_enabled()
    shot(page, "my-labs-states")
    assert api.call("DELETE", f"/api/labs/{fresh}")[0] == 204


# -- 2. Stuck on "deploying" -------------------------------------------------------------------


def test_2_a_late_first_load_does_not_undo_running(
    signed_in: Any,
    api: Api,
    stack: LiveServer,
    lab_host: Any,  # noqa: F811 - the fixture imported above
    shot: Any,
) -> None:
    """The page's first GET answers after the websocket said running, with the older
    reading (deploying): the page stays on running, and never sits on deploying."""
    page = signed_in
    lab_id = make_lab(api, "late load", pair_doc("late", 83))
    frames: list[dict[str, Any]] = []
    page.on(
        "websocket",
        lambda ws: (
            ws.on("framereceived", lambda f: frames.append(json.loads(f)) if f[:1] == "{" else None)
            if re.search(r"/ws/labs/\d+/$", ws.url)
            else None
        ),
    )
    try:
        status, body = api.call("POST", f"/api/labs/{lab_id}/deploy")
        assert status == 202, body
        status, stale = api.call("GET", f"/api/labs/{lab_id}")  # a real reading, while deploying
        assert status == 200 and stale["state"] == "deploying", stale["state"]
        held: list[Any] = []
        page.route(re.compile(rf"/api/labs/{lab_id}$"), lambda route: held.append(route))
        page.goto(f"{stack.url}/labs/{lab_id}")
        wait_state(api, lab_id, "running")
        deadline = time.monotonic() + 30
        while not any(
            f.get("type") in ("lab.state", "snapshot") and f.get("state") == "running"
            for f in frames
        ):
            assert time.monotonic() < deadline, [f.get("type") for f in frames]
            page.wait_for_timeout(100)
        assert held, "the page's first load was not held"
        held[0].fulfill(status=200, content_type="application/json", body=json.dumps(stale))
        page.unroute(re.compile(rf"/api/labs/{lab_id}$"))
        page.wait_for_selector(".react-flow__node-device")
        page.wait_for_timeout(1_000)  # the stale answer has been applied by now
        page.wait_for_function(
            f"document.querySelector('{BADGE}')?.innerText.trim() === 'running'", timeout=10_000
        )
        assert page.get_by_test_id("progress").count() == 0
        assert page.get_by_role("button", name="Apply changes").is_visible()
        shot(page, "running-after-late-load")
    finally:
        destroy(api, lab_id)


# -- 3. A journey out of order -----------------------------------------------------------------

REQUEST_PATH = [
    ("h1", "eth0", "out"),
    ("r1", "eth0", "in"),
    ("r1", "eth1", "out"),
    ("h2", "eth0", "in"),
]
REPLY_PATH = [
    ("h2", "eth0", "out"),
    ("r1", "eth1", "in"),
    ("r1", "eth0", "out"),
    ("h1", "eth0", "in"),
]


def test_3_every_journey_is_in_path_order(
    signed_in: Any, stack: LiveServer, routed: int, shot: Any
) -> None:
    """Six traces, each after a pause (the moment the kernel's packet timestamps are off):
    every ping's sightings follow the path, the notes say 64 -> 63, the replay walks it."""
    page = signed_in
    open_lab(page, stack, routed)
    page.get_by_role("tab", name="Packet journey").click()
    page.get_by_label("Journey source").select_option("h1")
    page.get_by_label("Journey destination").select_option("h2")
    page.get_by_label("Journey address").fill("10.81.2.2")
    for attempt in range(6):
        page.wait_for_timeout(1_500)
        with page.expect_response(lambda r: r.url.endswith("/journeys"), timeout=60_000) as got:
            page.get_by_role("button", name="Trace").click()
        assert got.value.status == 200, got.value.text()
        hops = got.value.json()["hops"]
        for kind, path in (("request", REQUEST_PATH), ("reply", REPLY_PATH)):
            for seq in (1, 2, 3):
                seen = [
                    (h["node"], h["interface"], h["direction"])
                    for h in hops
                    if h["packet"] == kind and h["seq"] == seq
                ]
                assert seen == path, f"trace {attempt + 1}: {kind} #{seq} went {seen}"
        notes = [c for h in hops for c in h["changes"] if c.startswith("ttl")]
        assert notes and set(notes) == {"ttl 64 -> 63"}, notes
        page.get_by_role("button", name="Trace").wait_for()
        listed = page.locator(".hops > li .hop-head").all_inner_texts()
        assert len(listed) == len(hops)
        assert [re.sub(r"\s+", " ", t).split(" +")[0].strip() for t in listed[:4]] == [
            "h1:eth0 out",
            "r1:eth0 in",
            "r1:eth1 out",
            "h2:eth0 in",
        ], listed[:4]
    # The canvas replays the last trace hop by hop: h1, then r1, then h2 (700 ms a hop,
    # sampled every 50 ms from the Replay click on; a capture listener runs before React's).
    page.evaluate(
        """() => [...document.querySelectorAll('.journey button')]
          .find((b) => b.innerText === 'Replay')
          .addEventListener('click', () => {
            window.__walk = [];
            setInterval(() => {
              const n = document.querySelector('.device.journey-active')?.dataset.node;
              if (n && window.__walk.at(-1) !== n) window.__walk.push(n);
            }, 50);
          }, true)"""
    )
    page.get_by_role("button", name="Replay").click()
    page.wait_for_function("window.__walk.length >= 3", timeout=15_000)
    assert page.evaluate("window.__walk.slice(0, 3)") == ["h1", "r1", "h2"]
    shot(page, "journey-in-order")


# -- 4. Automatic addresses are invisible ------------------------------------------------------


AUTO_DOC: dict[str, Any] = {
    "name": "auto",
    "addressing": {"auto": True, "pool": "10.84.0.0/16"},
    "nodes": [
        {"name": "h1", "interfaces": [{"name": "eth0"}], "position": {"x": 0, "y": 0}},
        {
            "name": "r1",
            "kind": "router",
            "interfaces": [{"name": "eth0"}, {"name": "eth1"}],
            "position": {"x": 260, "y": 0},
        },
        {"name": "h2", "interfaces": [{"name": "eth0"}], "position": {"x": 520, "y": 0}},
    ],
    "links": [
        {"kind": "veth", "a": "h1:eth0", "b": "r1:eth0"},
        {"kind": "veth", "a": "r1:eth1", "b": "h2:eth0"},
    ],
}


def test_4_automatic_addresses_are_shown_and_traced_to(
    signed_in: Any,
    api: Api,
    stack: LiveServer,
    lab_host: Any,  # noqa: F811 - the fixture imported above
    shot: Any,
) -> None:
    page = signed_in
    lab_id = make_lab(api, "auto addressed", AUTO_DOC)
    try:
        assert api.call("POST", f"/api/labs/{lab_id}/deploy")[0] == 202
        wait_state(api, lab_id, "running")
        open_lab(page, stack, lab_id)
        page.wait_for_function(f"document.querySelector('{BADGE}')?.innerText.trim() === 'running'")
        # The address the kernel has on h2:eth0 is in h2's properties, marked as automatic.
        kernel = subprocess.run(
            ["ip", "-n", f"tl-l{lab_id}-h2", "-4", "-o", "addr", "show", "dev", "eth0"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        m = re.search(r"inet (10\.84\.\d+\.\d+)/(\d+)", kernel)
        assert m, kernel
        page.locator('[data-node="h2"]').click()
        props = page.locator('[data-props-node="h2"]')
        props.wait_for()
        eth0 = props.locator('[data-iface="eth0"]').inner_text()
        assert f"{m.group(1)}/{m.group(2)}" in eth0 and "auto" in eth0, eth0
        gateway = subprocess.run(
            ["ip", "-n", f"tl-l{lab_id}-h2", "-4", "route", "show", "default"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()[2]
        assert f"Gateway {gateway}" in props.inner_text()
        shot(page, "auto-addresses")
        # The journey finds h2 by that address, with nothing typed.
        page.get_by_role("tab", name="Packet journey").click()
        page.get_by_label("Journey source").select_option("h1")
        page.get_by_label("Journey destination").select_option("h2")
        with page.expect_response(lambda r: r.url.endswith("/journeys"), timeout=60_000) as got:
            page.get_by_role("button", name="Trace").click()
        assert got.value.status == 200
        assert json.loads(got.value.request.post_data or "{}")["dst"] == m.group(1)
        page.wait_for_selector(".hops li")
        assert "no IPv4 address" not in page.locator(".journey").inner_text()
        assert any("h2" in t for t in page.locator(".hops > li").all_inner_texts())
        shot(page, "auto-journey")
    finally:
        destroy(api, lab_id)


# -- 5. Import replaces without asking ---------------------------------------------------------


OTHER = {
    "name": "other",
    "nodes": [node("x1", "10.85.0.1/24"), node("x2", "10.85.0.2/24", x=300)],
    "links": [{"kind": "veth", "a": "x1:eth0", "b": "x2:eth0"}],
}


def test_5_import_asks_first_and_closes_the_consoles_it_removes(
    signed_in: Any, api: Api, stack: LiveServer, shot: Any, tmp_path: Path
) -> None:
    page = signed_in
    lab_id = make_lab(api, "import target", pair_doc("target", 85))
    open_lab(page, stack, lab_id)
    page.get_by_label("Open a console").select_option("h2")
    page.get_by_role("tab", name=re.compile("h2")).wait_for()
    f = tmp_path / "other.json"
    f.write_text(json.dumps(OTHER))
    page.get_by_test_id("import-file").set_input_files(str(f))
    dialog = page.get_by_test_id("import-dialog")
    dialog.wait_for()
    text = dialog.inner_text()
    assert "other.json" in text and "2 nodes, 1 link" in text and "h1, h2" in text, text
    shot(page, "import-asks")
    page.get_by_role("button", name="Keep the current design").click()
    assert dialog.count() == 0
    assert page.locator('[data-node="h1"]').count() == 1
    assert page.locator('[data-node="x1"]').count() == 0
    _, lab = api.call("GET", f"/api/labs/{lab_id}")
    assert {n["name"] for n in lab["topology"]["nodes"]} == {"h1", "h2"}
    # Again, and replace: the design is the file's, h2's console is closed.
    page.get_by_test_id("import-file").set_input_files(str(f))
    page.get_by_role("button", name="Replace the design").click()
    page.locator('[data-node="x1"]').wait_for()
    assert page.locator('[data-node="h1"]').count() == 0
    assert page.get_by_role("tab", name=re.compile("h2")).count() == 0
    assert wait_saved(page) == "saved"
    _, lab = api.call("GET", f"/api/labs/{lab_id}")
    assert {n["name"] for n in lab["topology"]["nodes"]} == {"x1", "x2"}
    shot(page, "import-replaced")


# -- 6. Unapplied nodes look running -----------------------------------------------------------


def test_6_a_node_not_applied_yet_does_not_look_running(
    signed_in: Any, api: Api, stack: LiveServer, routed: int, shot: Any
) -> None:
    page = signed_in
    open_lab(page, stack, routed)
    page.wait_for_function(f"document.querySelector('{BADGE}')?.innerText.trim() === 'running'")
    page.locator('[data-palette="host"]').click()
    fresh = page.locator('[data-node="h3"]')
    fresh.wait_for()
    assert wait_saved(page) == "saved"
    page.wait_for_function("document.querySelector('[data-node=h3]')?.dataset.applied === 'no'")
    dot = "el => getComputedStyle(el.querySelector('.state-dot')).backgroundColor"
    running_dot = page.locator('[data-node="h1"]').evaluate(dot)
    assert fresh.evaluate(dot) != running_dot
    assert "not built yet" in (fresh.get_attribute("title") or "")
    assert page.locator('[data-node="h1"]').get_attribute("data-applied") is None
    shot(page, "unapplied-node")
    # Apply builds it: then it is running like the others, and its namespace exists.
    page.get_by_role("button", name="Apply changes").click()
    page.get_by_test_id("pending-apply").click()  # the pending-changes view first
    page.wait_for_function(
        "document.querySelector('[data-node=h3]')?.dataset.applied === undefined", timeout=90_000
    )
    page.wait_for_function(
        f"document.querySelector('{BADGE}')?.innerText.trim() === 'running'", timeout=90_000
    )
    assert fresh.evaluate(dot) == running_dot
    assert f"tl-l{routed}-h3" in netns_names()


# -- 7. State names disagree -------------------------------------------------------------------


def test_7_one_set_of_state_names_from_new_to_destroyed(
    signed_in: Any,
    api: Api,
    stack: LiveServer,
    lab_host: Any,  # noqa: F811 - the fixture imported above
    shot: Any,
) -> None:
    page = signed_in
    lab_id = make_lab(api, "state words", pair_doc("words", 86))
    try:
        open_lab(page, stack, lab_id)
        page.wait_for_function(
            f"document.querySelector('{BADGE}')?.innerText.trim() === 'not deployed'"
        )
        assert page.get_by_test_id("deploy-button").inner_text() == "Deploy"
        # Every (badge, button) pair the page shows from here on.
        page.evaluate(
            """() => { window.__seen = new Set();
              const note = () => window.__seen.add(
                document.querySelector('[data-testid=state-badge]').innerText.trim() + ' | ' +
                document.querySelector('[data-testid=deploy-button]').innerText.trim());
              note();
              new MutationObserver(note).observe(document.querySelector('.topbar'),
                {subtree: true, childList: true, characterData: true, attributes: true}); }"""
        )
        page.get_by_test_id("deploy-button").click()
        page.wait_for_function(
            f"document.querySelector('{BADGE}')?.innerText.trim() === 'running'", timeout=90_000
        )
        assert page.get_by_test_id("deploy-button").inner_text() == "Apply changes"
        shot(page, "running")
        page.get_by_role("button", name="Destroy").click()
        page.wait_for_function(
            f"document.querySelector('{BADGE}')?.innerText.trim() === 'not deployed'",
            timeout=90_000,
        )
        shot(page, "destroyed")
        seen = set(page.evaluate("[...window.__seen]"))
        allowed = {
            "not deployed | Deploy",
            "deploying | Deploy",
            "running | Apply changes",
            "destroying | Deploy",
        }
        assert seen <= allowed, seen - allowed
        assert {"not deployed | Deploy", "running | Apply changes"} <= seen
        # My labs uses the same words.
        page.goto(f"{stack.url}/labs")
        assert (
            page.locator(f'tr[data-lab="{lab_id}"] .badge').inner_text().strip() == "not deployed"
        )
    finally:
        destroy(api, lab_id)


# -- 8. Deleting a link deletes its interfaces -------------------------------------------------


def test_8_deleting_a_link_keeps_its_interfaces(
    signed_in: Any, api: Api, stack: LiveServer, shot: Any
) -> None:
    page = signed_in
    doc = routed_doc("cut", 88)
    lab_id = make_lab(api, "cut a link", doc)
    open_lab(page, stack, lab_id)
    page.locator('[data-node="h2"]').wait_for(state="visible")
    # Click the link r1 - h2 halfway between the two nodes.
    r1 = page.locator('[data-node="r1"]').bounding_box()
    h2 = page.locator('[data-node="h2"]').bounding_box()
    assert r1 and h2
    page.mouse.click((r1["x"] + r1["width"] + h2["x"]) / 2, r1["y"] + r1["height"] / 2)
    page.locator('[data-props-link="1"]').wait_for()
    page.keyboard.press("Delete")
    page.wait_for_function("document.querySelectorAll('.react-flow__edge').length === 1")
    assert wait_saved(page) == "saved"  # not "gateway 10.88.2.1 of node h2 is not on any subnet"
    _, lab = api.call("GET", f"/api/labs/{lab_id}")
    h2 = next(n for n in lab["topology"]["nodes"] if n["name"] == "h2")
    assert h2["interfaces"][0]["name"] == "eth0" and h2["interfaces"][0]["addresses"] == [
        "10.88.2.2/24"
    ]
    assert h2["gateway"] == "10.88.2.1"
    page.get_by_role("tab", name=re.compile("Issues")).click()
    notes = page.get_by_test_id("note-list").inner_text()
    assert "eth0 of h2 is connected to nothing" in notes, notes
    shot(page, "link-deleted")
    # Drawing it again takes the same interfaces (and addresses) back.
    drag_link(page, "h2", "r1")
    page.wait_for_function("document.querySelectorAll('.react-flow__edge').length === 2")
    assert wait_saved(page) == "saved"
    _, lab = api.call("GET", f"/api/labs/{lab_id}")
    ends = sorted(
        tuple(sorted(f"{x[e]['node']}:{x[e]['interface']}" for e in ("a", "b")))
        for x in lab["topology"]["links"]
    )
    assert ends == [("h1:eth0", "r1:eth0"), ("h2:eth0", "r1:eth1")]
    assert [len(n["interfaces"]) for n in lab["topology"]["nodes"]] == [1, 2, 1]
    assert page.get_by_test_id("note-list").count() == 0


# -- 9. Error messages -------------------------------------------------------------------------


def test_9_messages_name_places_as_people_read_them(
    signed_in: Any, api: Api, stack: LiveServer, shot: Any
) -> None:
    page = signed_in
    doc = pair_doc("bad", 89)
    doc["nodes"][1]["interfaces"][0]["addresses"].append("10.89.0.300/24")
    lab_id = make_lab(api, "messages", pair_doc("messages", 89))
    assert api.call("PUT", f"/api/labs/{lab_id}/topology", doc)[0] == 400  # kept as the draft
    open_lab(page, stack, lab_id)
    page.get_by_role("tab", name=re.compile("Issues")).click()
    listed = page.get_by_test_id("issue-list").inner_text()
    assert "h2 \u203a eth0 \u203a address 2" in listed, listed
    assert "nodes[1]" not in listed
    shot(page, "issue-places")
    # Booking: the field is not said twice.
    page.goto(f"{stack.url}/reservations")
    form = page.locator("form.cr-form")
    form.locator("select").select_option(str(lab_id))
    start = (datetime.now() + timedelta(days=1)).replace(hour=10, minute=0)
    form.locator('input[type="datetime-local"]').nth(0).fill(start.strftime("%Y-%m-%dT%H:%M"))
    form.locator('input[type="datetime-local"]').nth(1).fill(
        (start - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    )
    form.get_by_role("button", name="Book").click()
    issue = form.locator(".cr-issues li")
    issue.wait_for()
    assert issue.inner_text().strip() == "end must be after start"
    shot(page, "booking-message")


# -- 10. Stale reservation ---------------------------------------------------------------------


def _tick(stack: LiveServer) -> dict[str, list[int]]:
    """One run of the reservations tick (what Celery beat does every 30 s)."""
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django, json; django.setup();"
            "from lab.classroom.services import reservations_tick;"
            "print(json.dumps(reservations_tick()))",
        ],
        env=stack.env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def test_10_end_now_shows_the_reservation_ending_at_once(
    signed_in: Any,
    api: Api,
    stack: LiveServer,
    lab_host: Any,  # noqa: F811 - the fixture imported above
    shot: Any,
) -> None:
    page = signed_in
    lab_id = make_lab(api, "booked", pair_doc("booked", 90))
    try:
        now = datetime.now(UTC).replace(second=0, microsecond=0)
        status, booked = api.call(
            "POST",
            "/api/reservations",
            {
                "lab": lab_id,
                "start": now.isoformat(),
                "end": (now + timedelta(hours=1)).isoformat(),
            },
        )
        assert status == 201, booked
        assert booked["id"] in _tick(stack)["started"]
        wait_state(api, lab_id, "running")
        page.goto(f"{stack.url}/reservations")
        card = page.locator(f'[data-reservation="{booked["id"]}"]')
        card.wait_for()
        assert card.locator(".badge").inner_text().strip() == "active"
        page.once("dialog", lambda d: d.accept())
        card.get_by_role("button", name="End now").click()
        ending = f"[data-reservation='{booked['id']}'] .badge"
        page.wait_for_function(
            f"document.querySelector(\"{ending}\")?.innerText.trim() === 'ending'", timeout=5_000
        )
        assert card.get_by_role("button", name="End now").count() == 0
        assert card.get_by_role("button", name="+1 h").count() == 0
        shot(page, "ending")
        # The next tick ends it and destroys the lab; the page follows without a reload.
        assert booked["id"] in _tick(stack)["ended"]
        card.wait_for(state="detached", timeout=20_000)
        wait_state(api, lab_id, "stopped")
        shot(page, "ended")
    finally:
        destroy(api, lab_id)


# -- 11. Small ones ----------------------------------------------------------------------------


def test_11_export_menu_closes_after_a_download(
    signed_in: Any, api: Api, stack: LiveServer, shot: Any
) -> None:
    page = signed_in
    lab_id = make_lab(api, "export", pair_doc("export", 91))
    open_lab(page, stack, lab_id)
    menu = page.locator("details.menu").filter(has_text="Export")
    menu.locator("summary").click()
    assert menu.get_attribute("open") is not None
    with page.expect_download() as got:
        page.get_by_text("Topology JSON", exact=True).click()
    assert json.loads(Path(got.value.path()).read_text())["name"] == "export"
    page.wait_for_function("!document.querySelector('details.menu').open")
    shot(page, "export-closed")


def test_11_a_plain_lab_page_asks_for_nothing_missing(
    signed_in: Any, api: Api, stack: LiveServer, shot: Any
) -> None:
    page = signed_in
    lab_id = make_lab(api, "plain", pair_doc("plain", 92))
    missing: list[str] = []
    page.on("response", lambda r: missing.append(r.url) if r.status == 404 else None)
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url))
    open_lab(page, stack, lab_id)
    page.wait_for_timeout(1_500)
    assert not [u for u in asked if u.endswith("/demo")], asked
    icon = page.evaluate(
        "async () => { const l = document.querySelector('link[rel=icon]');"
        " if (!l) return null; const r = await fetch(l.href);"
        " return [r.status, r.headers.get('content-type')]; }"
    )
    assert icon == [200, "image/svg+xml"], icon
    assert not missing, missing
    shot(page, "plain-lab")


def test_11_opening_a_demo_twice_opens_one_lab(
    signed_in: Any, api: Api, stack: LiveServer, shot: Any
) -> None:
    page = signed_in
    ids = []
    for _ in range(2):
        page.goto(f"{stack.url}/demos")
        page.locator('[data-demo="vxlan-overlay"]').get_by_role(
            "button", name="Open", exact=True
        ).click()
        page.wait_for_url(re.compile(r"/labs/\d+$"))
        ids.append(int(page.url.rsplit("/", 1)[1]))
        page.get_by_test_id("demo-panel").wait_for()
    assert ids[0] == ids[1], ids
    page.goto(f"{stack.url}/labs")
    page.locator(f'tr[data-lab="{ids[0]}"]').wait_for()
    assert page.locator("tr", has_text="A VXLAN overlay").count() == 1
    shot(page, "one-demo-lab")
