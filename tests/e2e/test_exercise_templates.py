"""The course page's "From a template…" picker (issue 16, item 5) in a real browser on
the real web stack (no lab host: nothing is deployed). The instructor picks the OSPF
template and lands on the new exercise; its student copy lacks r2's FRR configuration;
a student of the course is not offered the picker and the API hides the catalog.

Screenshots go to test-artifacts/e2e/ (the ``shot`` fixture).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import Api, LiveServer
from tests.e2e.test_teacher_pages import _course_with_student

pytestmark = pytest.mark.e2e


def test_instructor_adds_the_ospf_template_and_a_student_is_not_offered_it(
    signed_in: Any, api: Api, stack: LiveServer, shot: Any
) -> None:
    page = signed_in
    course, _student, link, _exercise = _course_with_student(api)
    course_url = f"{stack.url}/classroom/courses/{course['id']}"

    page.goto(course_url)
    picker = page.get_by_test_id("from-template")
    picker.locator("summary", has_text="From a template…").click()
    ospf = picker.locator('[data-template="ospf-configure-r2"]')
    ospf.wait_for()
    assert picker.locator("[data-template]").count() == 3
    create = picker.get_by_role("button", name="Create exercise")
    assert create.is_disabled()  # nothing picked yet
    ospf.locator("input").check()
    shot(page, "instructor-template-picker")
    create.click()
    page.get_by_role("heading", name="Bring r2 into OSPF area 0").wait_for()
    assert "/classroom/exercises/" in page.url
    shot(page, "instructor-exercise-from-template")

    exercise_id = int(page.url.rstrip("/").rsplit("/", 1)[1])
    status, body = api.call("GET", f"/api/exercises/{exercise_id}")
    assert status == 200, body
    r2 = next(n for n in body["template"]["nodes"] if n["name"] == "r2")
    assert r2["files"] == []
    assert [c["kind"] for c in body["checks"]].count("learned_route") == 3

    # The student: the course lists the new exercise, but offers no picker.
    page.context.clear_cookies()
    page.goto(f"{stack.url}{link}")
    page.get_by_role("heading", name="My courses").wait_for()
    page.goto(course_url)
    page.get_by_role("link", name="Bring r2 into OSPF area 0").wait_for()
    assert page.get_by_test_id("from-template").count() == 0
    status, body = Api(page, stack.url).call("GET", "/api/classroom/exercise-templates")
    assert status == 404 and body["code"] == "templates.not_found", body
    shot(page, "student-course-without-template-picker")
