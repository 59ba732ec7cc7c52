"""The classroom in a real browser, on the real stack (web, Redis, Celery worker, agent).

An instructor makes a course, enrols a student by CSV and turns a lab into an exercise
with three checks. The student signs in with the one-time link, starts the exercise
(their own copy, deployed by the worker), runs the checks (sent to the worker, run in
the lab's namespaces): the two that need work fail with their hint. The student's fix
(the full document, then apply) makes all three pass, and the instructor's course page
shows the student's row passing.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

import pytest

from tests.e2e.conftest import PASSWORD, USERNAME, Api, LiveServer
from tests.e2e.test_live import lab_host  # noqa: F401 - the module's lab host fixture

pytestmark = pytest.mark.e2e

DOC: dict[str, Any] = {
    "name": "routed",
    "nodes": [
        {
            "name": "h1",
            "interfaces": [{"name": "eth0", "addresses": ["10.71.1.1/24"]}],
            "gateway": "10.71.1.254",
        },
        {
            "name": "r1",
            "kind": "router",
            "interfaces": [
                {"name": "eth0", "addresses": ["10.71.1.254/24"]},
                {"name": "eth1", "addresses": ["10.71.2.254/24"]},
            ],
        },
        {
            "name": "h2",
            "interfaces": [{"name": "eth0", "addresses": ["10.71.2.1/24"]}],
            "gateway": "10.71.2.254",
        },
    ],
    "links": [
        {"kind": "veth", "a": "h1:eth0", "b": "r1:eth0"},
        {"kind": "veth", "a": "r1:eth1", "b": "h2:eth0"},
    ],
}
CHECKS = [
    {
        "kind": "address",
        "node": "h2",
        "interface": "eth0",
        "address": "10.71.2.1/24",
        "hint": "give h2 its address",
    },
    {"kind": "reach", "src": "h1", "dst": "10.71.2.1", "count": 1, "timeout": 2},
    {"kind": "forwarding", "node": "r1"},
]
RUNNING = "document.querySelector('.cr-labhead .badge')?.innerText.trim() === 'running'"


def _passing(page: Any, n: int) -> None:
    """Press Run checks and wait until the page says ``n``/3 passing after the run."""
    before = page.locator(".cr-checks").inner_text()
    page.get_by_role("button", name="Run checks").click()
    page.wait_for_function(
        "([before, want]) => { const t = document.querySelector('.cr-checks')?.innerText ?? '';"
        " return t !== before && !t.includes('not run yet') &&"
        " document.querySelector('.cr-section-head')?.innerText.includes(want); }",
        arg=[before, f"{n}/3 passing"],
        timeout=60_000,
    )


def test_student_starts_checks_fail_then_pass_and_the_teacher_sees_it(
    signed_in: Any,
    api: Api,
    stack: LiveServer,
    lab_host: Any,  # noqa: F811 - the fixture imported above
    shot: Any,
) -> None:
    page = signed_in
    student = f"stu{secrets.token_hex(3)}"
    status, course = api.call("POST", "/api/courses", {"name": f"Networks {student}"})
    assert status == 201, course
    enrol = {"csv": f"{student},{student}@example.org"}
    status, added = api.call("POST", f"/api/courses/{course['id']}/students/csv", enrol)
    assert status == 200, added
    link = added[0]["login_link"]
    status, source = api.call("POST", "/api/labs", {"name": "routed", "topology": DOC})
    assert status == 201, source
    status, exercise = api.call(
        "POST",
        f"/api/courses/{course['id']}/exercises",
        {
            "lab": source["id"],
            "title": "Route to h2",
            "instructions": "Give **h2** its address and gateway, then run the checks.",
            "preconfigure": {"addresses": False, "routes": False, "nodes": ["h2"]},
            "checks": CHECKS,
        },
    )
    assert status == 201, exercise
    lab_id = None
    try:
        # The student: the one-time link signs in and lands on the classroom.
        page.context.clear_cookies()
        page.goto(f"{stack.url}{link}")
        page.get_by_role("heading", name="My courses").wait_for()
        page.get_by_text(course["name"]).first.wait_for()
        shot(page, "student-signed-in")
        me = Api(page, stack.url)
        assert me.call("GET", "/api/auth/me")[1]["username"] == student

        # The exercise page: instructions beside the lab; Start deploys the student's copy.
        page.goto(f"{stack.url}/classroom/exercises/{exercise['id']}")
        assert page.locator(".cr-markdown strong").inner_text() == "h2"
        page.get_by_role("button", name="Start").click()
        page.wait_for_function(RUNNING, timeout=90_000)
        status, mine = me.call("GET", f"/api/exercises/{exercise['id']}")
        assert status == 200 and mine["attempt"], mine
        lab_id = mine["attempt"]["lab"]
        shot(page, "started")

        # Checks through the worker: h2 has no address yet, so two of three fail.
        _passing(page, 1)
        rows = page.locator(".cr-checks > li")
        assert "cr-fail" in (rows.nth(0).get_attribute("class") or "")
        assert "give h2 its address" in rows.nth(0).inner_text()
        assert "cr-pass" in (rows.nth(2).get_attribute("class") or "")
        shot(page, "checks-failing")

        # The student's fix through the API (the whole document, then apply).
        status, body = me.call("PUT", f"/api/labs/{lab_id}/topology", DOC)
        assert status == 200, body
        status, body = me.call("POST", f"/api/labs/{lab_id}/apply")
        assert status == 202, body
        _wait_state(me, lab_id, "running")
        page.reload()
        page.wait_for_function(RUNNING, timeout=30_000)
        _passing(page, 3)
        shot(page, "checks-passing")

        # The instructor's course page: the student's row passes every check.
        page.context.clear_cookies()
        teacher = _sign_in_teacher(page, stack)
        page.goto(f"{stack.url}/classroom/courses/{course['id']}")
        row = page.locator(".cr-results tbody tr", has_text=student)
        row.wait_for()
        assert row.locator(".cr-pass").count() == 3, row.inner_text()
        shot(page, "teacher-table")
        status, table = teacher.call("GET", f"/api/courses/{course['id']}/results")
        assert status == 200
        cells = next(r["cells"] for r in table["rows"] if r["student"] == student)
        assert [c["passed"] for c in cells] == [True, True, True]

        # A used or made-up link is refused with a clear message, not an error page.
        page.context.clear_cookies()
        page.goto(f"{stack.url}{link}")
        assert "invalid or has expired" in page.get_by_role("alert").inner_text()
    finally:
        if lab_id is not None:
            page.context.clear_cookies()
            teacher = _sign_in_teacher(page, stack)
            status, body = teacher.call("POST", f"/api/labs/{lab_id}/destroy")
            assert status == 202, body
            _wait_state(teacher, lab_id, "stopped")


def _sign_in_teacher(page: Any, stack: LiveServer) -> Api:
    teacher = Api(page, stack.url)
    status, body = teacher.call(
        "POST", "/api/auth/login", {"username": USERNAME, "password": PASSWORD}
    )
    assert status == 200, body
    return teacher


def _wait_state(client: Api, lab_id: int, want: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    state = ""
    while time.monotonic() < deadline:
        status, lab = client.call("GET", f"/api/labs/{lab_id}")
        assert status == 200, lab
        state = lab.get("state") or (lab.get("deployment") or {}).get("state", "")
        if state == want:
            return
        if state == "failed":
            break
        time.sleep(0.3)
    raise AssertionError(f"lab {lab_id} is {state}, not {want}")
