"""Teacher-ready pages (issue 15, features 2, 4 and 6) in a real browser on the real
stack: web, Redis and a lab host (Celery worker and telemetry agent, as root) that
builds the labs in real namespaces.

- Feature 2: My labs shows a student's copy running; the instructor's results table
  links each student's copy with its live state; the copy opens read-only with a
  working console; Destroy all and Reset all act on every copy of the course.
- Feature 4: Apply first shows what it will create, remove and change.
- Feature 6: the course quota is set in the page; an exercise is made with the checks
  builder, edited and duplicated; a student is not offered "New course".

Screenshots go to test-artifacts/e2e/ (the ``shot`` fixture).
"""

from __future__ import annotations

import secrets
import time
from typing import Any

import pytest

from tests.conftest import netns_names
from tests.e2e.conftest import Api, LiveServer
from tests.e2e.test_classroom import DOC, _sign_in_teacher
from tests.e2e.test_editor import open_lab
from tests.e2e.test_live import lab_host  # noqa: F401 - the module's lab host fixture
from tests.e2e.test_page_bugs import wait_state

pytestmark = pytest.mark.e2e


def _teacher(page: Any, stack: LiveServer) -> Api:
    page.context.clear_cookies()
    return _sign_in_teacher(page, stack)


def _course_with_student(api: Api) -> tuple[dict[str, Any], str, str, dict[str, Any]]:
    """A course with one new student (name, sign-in link) and an exercise on DOC."""
    student = f"stu{secrets.token_hex(3)}"
    status, course = api.call("POST", "/api/courses", {"name": f"Course {student}"})
    assert status == 201, course
    status, added = api.call(
        "POST", f"/api/courses/{course['id']}/students/csv", {"csv": f"{student},{student}@ex.org"}
    )
    assert status == 200, added
    status, source = api.call("POST", "/api/labs", {"name": "routed", "topology": DOC})
    assert status == 201, source
    status, exercise = api.call(
        "POST",
        f"/api/courses/{course['id']}/exercises",
        {
            "lab": source["id"],
            "title": "Route it",
            "checks": [{"kind": "forwarding", "node": "r1"}],
        },
    )
    assert status == 201, exercise
    return course, student, added[0]["login_link"], exercise


def test_teacher_watches_sets_quota_and_acts_on_every_copy(
    signed_in: Any,
    api: Api,
    stack: LiveServer,
    lab_host: Any,  # noqa: F811 - the fixture imported above
    shot: Any,
) -> None:
    page = signed_in
    page.on("dialog", lambda d: d.accept())  # the bulk actions' confirmations
    course, student, link, exercise = _course_with_student(api)
    lab_id = None
    try:
        # The student: signed in by the link, no "New course"; the copy runs, My labs says so.
        page.context.clear_cookies()
        page.goto(f"{stack.url}{link}")
        page.get_by_role("heading", name="My courses").wait_for()
        page.get_by_text(course["name"]).first.wait_for()
        assert page.get_by_text("New course").count() == 0
        shot(page, "student-courses-without-new-course")
        me = Api(page, stack.url)
        status, attempt = me.call("POST", f"/api/exercises/{exercise['id']}/start")
        assert status == 202, attempt
        lab_id = attempt["lab"]
        wait_state(me, lab_id, "running")
        # The student cannot act in bulk on the course: it is not theirs to manage.
        status, body = me.call("POST", f"/api/courses/{course['id']}/labs/destroy", {})
        assert status == 404 and body["code"] == "course.not_found", body
        page.goto(f"{stack.url}/labs")
        badge = page.locator(f"tr:has-text('{exercise['title']}') .badge")
        page.wait_for_function(
            "() => document.querySelector('table .badge[data-state]')?.dataset.state === 'running'",
            timeout=15_000,
        )
        assert badge.first.get_attribute("data-state") == "running"
        shot(page, "student-my-labs-running")

        # The instructor: "New course" is offered; the results row links the copy, running.
        teacher = _teacher(page, stack)
        page.goto(f"{stack.url}/classroom")
        page.get_by_text("New course").wait_for()
        page.goto(f"{stack.url}/classroom/courses/{course['id']}")
        row = page.locator(".cr-results tbody tr", has_text=student)
        row.wait_for()
        row.locator(f"[data-lab='{lab_id}']", has_text="running").wait_for()
        shot(page, "results-row-links-the-lab")

        # Read-only view of the copy, with a console that works.
        row.locator(f"a[href='/classroom/labs/{lab_id}']").click()
        page.get_by_test_id("read-only").wait_for()
        assert page.locator(".react-flow__renderer").count() == 0  # no editor, no palette
        page.locator("[data-open-console=r1]").click()
        page.wait_for_selector("text=r1 · connected", timeout=20_000)
        page.locator("[data-console=r1]").click()
        time.sleep(1.0)
        page.keyboard.type("cat /proc/sys/net/ipv4/ip_forward; echo marker-$((40+2))\n")
        page.wait_for_function(
            "document.querySelector('[data-console=r1] .xterm-rows')"
            "?.innerText.includes('marker-42')",
            timeout=30_000,
        )
        shot(page, "student-lab-read-only-console")
        # Read-only for real: the API refuses the instructor's edit of the copy.
        status, body = teacher.call("PUT", f"/api/labs/{lab_id}/topology", DOC)
        assert status == 404 and body["code"] == "lab.not_found", body
        status, body = teacher.call("DELETE", f"/api/labs/{lab_id}")
        assert status == 404, body

        # Course quota from the page: a value above the site's limit is refused by name.
        page.goto(f"{stack.url}/classroom/courses/{course['id']}")
        form = page.get_by_test_id("quota-form")
        form.locator("[data-quota=nodes_per_lab]").fill("100000")
        form.get_by_test_id("quota-save").click()
        form.locator(".cr-issues", has_text="nodes_per_lab can be at most").wait_for()
        shot(page, "quota-above-site-refused")
        form.locator("[data-quota=nodes_per_lab]").fill("5")
        form.locator("[data-quota=hours_per_week]").fill("4")
        form.get_by_test_id("quota-save").click()
        form.get_by_text("saved").wait_for()
        status, quota = teacher.call("GET", f"/api/courses/{course['id']}/quota")
        assert quota["quota"]["nodes_per_lab"] == 5 and quota["quota"]["hours_per_week"] == 4
        page.goto(f"{stack.url}/classroom/courses/{course['id']}")
        assert page.locator("[data-quota=nodes_per_lab]").input_value() == "5"
        shot(page, "quota-saved")

        # Destroy all: the copy goes from the kernel; the table follows.
        page.get_by_test_id("bulk-destroy").click()
        page.get_by_test_id("bulk-result").get_by_text(f"{student}: destroying").wait_for()
        wait_state(teacher, lab_id, "stopped")
        assert not any(ns.startswith(f"tl-l{lab_id}-") for ns in netns_names())
        page.locator(f".cr-results [data-lab='{lab_id}']", has_text="stopped").wait_for(
            timeout=15_000
        )
        shot(page, "destroyed-all")

        # Reset all: the copy gets its template back and is deployed again.
        page.get_by_test_id("bulk-reset").click()
        page.get_by_test_id("bulk-result").get_by_text(f"{student}: reset, deploying").wait_for()
        wait_state(teacher, lab_id, "running")
        assert f"tl-l{lab_id}-r1" in netns_names()
        shot(page, "reset-all")

    finally:
        if lab_id is not None:
            teacher = _teacher(page, stack)
            status, body = teacher.call("POST", f"/api/labs/{lab_id}/destroy")
            if status == 202:
                wait_state(teacher, lab_id, "stopped")


def test_exercise_made_with_the_checks_builder_edited_and_duplicated(
    signed_in: Any, api: Api, stack: LiveServer, shot: Any
) -> None:
    page = signed_in
    status, course = api.call("POST", "/api/courses", {"name": f"Builder {secrets.token_hex(3)}"})
    assert status == 201, course
    status, source = api.call("POST", "/api/labs", {"name": "builder-src", "topology": DOC})
    assert status == 201, source
    page.goto(f"{stack.url}/classroom/courses/{course['id']}")
    form = page.locator("section", has_text="Make an exercise from a lab")
    form.locator("select").first.select_option(str(source["id"]))
    form.get_by_label("Title").fill("Reach h2")
    builder = form.get_by_test_id("checks-builder")

    # A reach check: pick the kind, the node from the lab's nodes, type the target.
    builder.get_by_test_id("check-kind").select_option("reach")
    builder.locator("select[data-field=src]").wait_for()
    builder.locator("select[data-field=src]").select_option("h1")
    builder.locator("input[data-field=dst]").fill("10.71.2.1")
    builder.get_by_test_id("check-save").click()
    # An MTU check with a bad value is named before anything is sent.
    builder.get_by_test_id("check-kind").select_option("mtu")
    builder.locator("select[data-field=node]").select_option("h1")
    builder.locator("select[data-field=interface]").select_option("eth0")
    builder.locator("input[data-field=mtu]").fill("9")
    builder.get_by_test_id("check-save").click()
    builder.get_by_text("MTU must be from 68 to 65535").wait_for()
    builder.locator("input[data-field=mtu]").fill("1500")
    builder.get_by_test_id("check-save").click()
    assert builder.locator(".cr-builder-list li").count() == 2
    shot(page, "checks-builder")
    form.get_by_role("button", name="Create exercise").click()

    page.get_by_test_id("exercise-editor").wait_for()
    goals = page.locator(".cr-goals li")
    assert goals.all_inner_texts() == ["h1 reaches 10.71.2.1", "h1:eth0 has MTU 1500"]
    exercise_id = int(page.url.rstrip("/").rsplit("/", 1)[-1])

    # Edit: a new title, the MTU check removed, a forwarding check added.
    page.get_by_test_id("edit-exercise").click()
    page.get_by_test_id("edit-title").fill("Reach h2 through r1")
    editor = page.get_by_test_id("exercise-editor")
    editor.get_by_role("button", name="remove check 2").click()
    editor.get_by_test_id("check-kind").select_option("forwarding")
    editor.locator("select[data-field=node]").select_option("r1")
    editor.get_by_test_id("check-save").click()
    shot(page, "editing")
    editor.get_by_test_id("save-exercise").click()
    page.get_by_role("heading", name="Reach h2 through r1").wait_for()
    assert goals.all_inner_texts() == ["h1 reaches 10.71.2.1", "r1 forwards IPv4"]
    status, stored = api.call("GET", f"/api/exercises/{exercise_id}")
    assert [c["kind"] for c in stored["specs"]] == ["reach", "forwarding"]
    shot(page, "edited")

    # Duplicate: a copy in the same course, opened at once.
    page.get_by_test_id("duplicate-exercise").click()
    page.get_by_role("heading", name="Reach h2 through r1 (copy)").wait_for()
    assert int(page.url.rstrip("/").rsplit("/", 1)[-1]) != exercise_id
    status, course_now = api.call("GET", f"/api/courses/{course['id']}")
    assert [e["title"] for e in course_now["exercises"]] == [
        "Reach h2 through r1",
        "Reach h2 through r1 (copy)",
    ]
    shot(page, "duplicated")


def test_apply_shows_the_pending_changes_first(
    signed_in: Any,
    api: Api,
    stack: LiveServer,
    lab_host: Any,  # noqa: F811 - the fixture imported above
    shot: Any,
) -> None:
    page = signed_in
    status, lab = api.call("POST", "/api/labs", {"name": "pending", "topology": DOC})
    assert status == 201, lab
    lab_id = lab["id"]
    try:
        assert api.call("POST", f"/api/labs/{lab_id}/deploy")[0] == 202
        wait_state(api, lab_id, "running")
        # The design moves on: h3 is added on r1, h2's gateway changes, h1 goes.
        draft = {
            **DOC,
            "nodes": [
                *DOC["nodes"][1:2],
                {**DOC["nodes"][2], "gateway": None},
                {"name": "h3", "interfaces": [{"name": "eth0", "addresses": ["10.71.3.1/24"]}]},
            ],
            "links": [DOC["links"][1], {"kind": "veth", "a": "r1:eth2", "b": "h3:eth0"}],
        }
        draft["nodes"][0] = {
            **draft["nodes"][0],
            "interfaces": [
                *DOC["nodes"][1]["interfaces"],
                {"name": "eth2", "addresses": ["10.71.3.254/24"]},
            ],
        }
        status, body = api.call("PUT", f"/api/labs/{lab_id}/topology", draft)
        assert status == 200, body
        open_lab(page, stack, lab_id)
        button = page.get_by_test_id("deploy-button")
        page.wait_for_function(
            "document.querySelector('[data-testid=deploy-button]')?.innerText.includes('Apply')"
        )
        button.click()
        dialog = page.get_by_test_id("pending-changes")
        dialog.wait_for()
        items = {
            (
                li.get_attribute("data-op"),
                li.get_attribute("data-subject"),
                li.locator("b").inner_text(),
            )
            for li in dialog.locator(".pending-list > li").all()
        }
        assert ("create", "node", "h3") in items
        assert ("remove", "node", "h1") in items
        assert ("change", "node", "h2") in items
        assert ("create", "interface", "r1 \u203a eth2") in items
        assert ("create", "link", "veth h3:eth0 \u2013 r1:eth2") in items
        assert ("remove", "link", "veth h1:eth0 \u2013 r1:eth0") in items
        assert "gateway: 10.71.2.254 → none" in dialog.inner_text()
        assert dialog.get_by_test_id("pending-summary").inner_text() == (
            "3 to create, 2 to remove, 1 to change"
        )
        shot(page, "pending-changes")

        # Cancel changes nothing on the lab host.
        dialog.get_by_role("button", name="Cancel").click()
        assert dialog.count() == 0
        status, detail = api.call("GET", f"/api/labs/{lab_id}")
        assert detail["deployment"]["action"] == "deploy", detail["deployment"]

        # Apply from the dialog: the lab host builds h3 and removes h1.
        button.click()
        page.get_by_test_id("pending-apply").click()
        page.wait_for_function(
            "document.querySelector('[data-testid=state-badge]')?.dataset.state === 'running'"
            " && document.querySelector('[data-testid=deploy-button]')"
            "?.innerText.includes('Apply')",
            timeout=60_000,
        )
        wait_state(api, lab_id, "running")
        status, detail = api.call("GET", f"/api/labs/{lab_id}")
        assert detail["deployment"]["action"] == "apply", detail["deployment"]
        names = netns_names()
        assert f"tl-l{lab_id}-h3" in names and f"tl-l{lab_id}-h1" not in names
        shot(page, "applied")
    finally:
        status, body = api.call("POST", f"/api/labs/{lab_id}/destroy")
        if status == 202:
            wait_state(api, lab_id, "stopped")
