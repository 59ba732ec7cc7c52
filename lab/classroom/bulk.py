"""Bulk actions of a course's instructor on the students' lab copies: destroy every
copy, or reset every copy to its exercise's template (then apply or deploy it).

Each lab goes through the web room's services (``do_request_destroy``, ``do_put_topology``,
``do_request_apply`` / ``do_request_deploy``), so state rules and quotas hold as for a
single lab; one lab refused (busy, over quota) does not stop the others, and each
outcome is reported per lab.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import transaction

from lab import services as lab_services
from lab.classroom.models import Course, ExerciseAttempt
from lab.classroom.permissions import instructs
from lab.models import Lab
from lab.services import InvalidInput, NotFound, ServiceError
from lab.topology import Issue

BULK_ACTIONS = ("destroy", "reset")


def check_bulk(user: Any, course: Course, exercise_id: int | None) -> list[ExerciseAttempt]:
    """Return the attempts a bulk action of ``user`` on ``course`` covers (one exercise's
    when ``exercise_id`` is given), students in name order.

    Raises:
        NotFound: ``course.not_found`` when the user does not teach the course (a
            student, another instructor: indistinguishable from no course).
        InvalidInput: ``exercise`` names no exercise of the course.
    """
    if not instructs(user, course):
        raise NotFound(f"no course {course.pk}", code="course.not_found")
    attempts = ExerciseAttempt.objects.filter(exercise__course=course).select_related(
        "lab", "student", "exercise"
    )
    if exercise_id is not None:
        if not course.exercises.filter(pk=exercise_id).exists():
            message = f"exercise: the course has no exercise {exercise_id}"
            raise InvalidInput(
                message,
                code="exercise.not_in_course",
                issues=[Issue("exercise", "exercise.not_in_course", message)],
            )
        attempts = attempts.filter(exercise_id=exercise_id)
    return list(attempts.order_by("student__username", "exercise_id"))


def _row(
    attempt: ExerciseAttempt, outcome: str, code: str = "", message: str = ""
) -> dict[str, Any]:
    return {
        "lab": attempt.lab_id,
        "student": attempt.student.get_username(),
        "exercise": attempt.exercise_id,
        "outcome": outcome,
        "code": code,
        "message": message,
    }


def _each(
    user: Any,
    course: Course,
    exercise_id: int | None,
    act: Callable[[ExerciseAttempt], tuple[str, str]],
) -> list[dict[str, Any]]:
    # ``act`` returns (outcome, message) for one copy or raises the service's refusal,
    # which is that copy's row: the other copies go on.
    out: list[dict[str, Any]] = []
    for attempt in check_bulk(user, course, exercise_id):
        try:
            outcome, message = act(attempt)
        except ServiceError as exc:
            out.append(_row(attempt, "refused", exc.code, exc.message))
            continue
        out.append(_row(attempt, outcome, message=message))
    return out


def do_bulk_destroy(
    user: Any, course: Course, exercise_id: int | None = None
) -> list[dict[str, Any]]:
    """Destroy every student copy of the course's exercises that is not stopped.

    Returns one row per copy: ``destroying``, ``skipped`` (already stopped) or
    ``refused`` with the service's code (``deployment.busy`` ...). The topologies stay.

    Raises:
        NotFound: the user does not teach the course.
        InvalidInput: ``exercise`` is not the course's.
    """

    def destroy(attempt: ExerciseAttempt) -> tuple[str, str]:
        if attempt.lab.state == Lab.State.STOPPED:
            return "skipped", "already stopped"
        lab_services.do_request_destroy(attempt.lab, user)
        return "destroying", ""

    return _each(user, course, exercise_id, destroy)


def do_bulk_reset(
    user: Any, course: Course, exercise_id: int | None = None
) -> list[dict[str, Any]]:
    """Put each student copy back to its exercise's template; apply it when the copy is
    running, deploy it otherwise (a student's design is replaced: the instructor asked).

    Returns one row per copy: ``applying``, ``deploying`` or ``refused`` with the code
    (``deployment.busy``, ``quota.*``); a refused copy keeps its topology.

    Raises:
        NotFound: the user does not teach the course.
        InvalidInput: ``exercise`` is not the course's.
    """

    def reset(attempt: ExerciseAttempt) -> tuple[str, str]:
        lab = attempt.lab
        # One lab at a time: a refused deploy takes its topology change back with it.
        with transaction.atomic():
            lab_services.check_not_busy(lab)
            lab_services.do_put_topology(lab, user, attempt.exercise.template)
            if lab.state == Lab.State.RUNNING:
                lab_services.do_request_apply(lab, user)
                return "applying", ""
            lab_services.do_request_deploy(lab, user)
            return "deploying", ""

    return _each(user, course, exercise_id, reset)
