"""Unpublish of an exercise (issue 15, feature 6) in a real browser on the real web
stack (no lab host: nothing is deployed). The instructor unpublishes from the exercise
page and sees a "draft" badge there and on the course page; the student's course page
does not list it and its page answers "no exercise"; Publish shows it again.

Screenshots go to test-artifacts/e2e/ (the ``shot`` fixture).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import Api, LiveServer
from tests.e2e.test_classroom import _sign_in_teacher
from tests.e2e.test_teacher_pages import _course_with_student

pytestmark = pytest.mark.e2e


def test_instructor_unpublishes_and_the_student_no_longer_sees_it(
    signed_in: Any, api: Api, stack: LiveServer, shot: Any
) -> None:
    page = signed_in
    course, _student, link, exercise = _course_with_student(api)
    exercise_url = f"{stack.url}/classroom/exercises/{exercise['id']}"
    course_url = f"{stack.url}/classroom/courses/{course['id']}"

    # The instructor unpublishes it from its page: the badge shows, the button flips.
    page.goto(exercise_url)
    button = page.get_by_test_id("publish-exercise")
    assert button.inner_text() == "Unpublish"
    assert page.get_by_test_id("draft-badge").count() == 0
    button.click()
    page.get_by_test_id("draft-badge").wait_for()
    page.get_by_test_id("publish-exercise").filter(has_text="Publish").wait_for()
    assert page.get_by_test_id("publish-exercise").inner_text() == "Publish"
    status, body = api.call("GET", f"/api/exercises/{exercise['id']}")
    assert status == 200 and body["published"] is False, body
    shot(page, "instructor-exercise-draft")
    page.goto(course_url)
    page.locator(".cr-exercises li", has_text="Route it").locator(".cr-draft").wait_for()
    shot(page, "instructor-course-lists-draft")

    # The student: not in the course's list, the page (and the API) say it does not exist.
    page.context.clear_cookies()
    page.goto(f"{stack.url}{link}")
    page.get_by_role("heading", name="My courses").wait_for()
    page.goto(course_url)
    page.get_by_role("heading", name=course["name"]).wait_for()
    page.get_by_text("No exercises yet.").wait_for()
    assert page.get_by_text("Route it").count() == 0
    shot(page, "student-course-without-draft")
    page.goto(exercise_url)
    page.get_by_text(f"no exercise {exercise['id']}").wait_for()
    assert page.get_by_test_id("publish-exercise").count() == 0
    me = Api(page, stack.url)
    status, body = me.call("POST", f"/api/exercises/{exercise['id']}/start")
    assert status == 404 and body["code"] == "exercise.not_found", body
    status, body = me.call("PATCH", f"/api/exercises/{exercise['id']}", {"published": True})
    assert status == 404 and body["code"] == "exercise.not_found", body
    shot(page, "student-draft-not-found")

    # The instructor publishes it again: the badge goes.
    page.context.clear_cookies()
    _sign_in_teacher(page, stack)
    page.goto(exercise_url)
    page.get_by_test_id("draft-badge").wait_for()
    page.get_by_test_id("publish-exercise").click()
    page.get_by_test_id("publish-exercise").filter(has_text="Unpublish").wait_for()
    assert page.get_by_test_id("draft-badge").count() == 0
    shot(page, "instructor-exercise-published-again")
