"""An instructor editing a published exercise: its title, instructions, what the
students' copies start without, and its checks; and duplicating it into a course.

The exercise keeps the topology it was made from (the solution): a new
``preconfigure`` makes a new template from it, and new checks are validated against
it, as when the exercise was made. Copies students already have keep their topology
until they (or the instructor, in bulk) reset them.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from lab import services as lab_services
from lab.classroom.models import CheckStatus, Course, Exercise
from lab.classroom.permissions import instructs
from lab.classroom.services import _text, check_exercise_spec
from lab.services import NotFound


def check_exercise_managed(user: Any, exercise: Exercise) -> None:
    """Refuse a user who does not teach the exercise's course.

    Raises:
        NotFound: ``exercise.not_found`` (a student of the course gets the same answer
            as for an exercise that does not exist).
    """
    if not instructs(user, exercise.course):
        raise NotFound(f"no exercise {exercise.pk}", code="exercise.not_found")


def do_update_exercise(
    user: Any,
    exercise: Exercise,
    *,
    title: str | None = None,
    instructions: str | None = None,
    preconfigure: Any = None,
    checks: Any = None,
    published: bool | None = None,
) -> Exercise:
    """Change the given parts of an exercise (None: keep); every problem is reported.

    Unpublishing hides the exercise from its students; copies they have stay theirs.

    Changed checks clear the students' stored results of the exercise (their indices
    would name other checks); they run again from the exercise page.

    Raises:
        NotFound: the user does not teach the exercise's course.
        InvalidInput: a bad title, instructions, preconfigure or checks, each by path.
    """
    check_exercise_managed(user, exercise)
    fields: list[str] = []
    if title is not None:
        exercise.title = _text(title, "title", 200, required=True)
        fields.append("title")
    if instructions is not None:
        exercise.instructions = _text(instructions, "instructions", 100_000)
        fields.append("instructions")
    if published is not None:
        exercise.published = published
        fields.append("published")
    if preconfigure is not None or checks is not None:
        topology = lab_services.check_topology(exercise.topology, "topology")
        pre, template, specs = check_exercise_spec(
            topology,
            preconfigure if preconfigure is not None else exercise.preconfigure,
            checks if checks is not None else exercise.checks,
        )
        exercise.preconfigure = pre.model_dump(mode="json")
        exercise.template = template
        fields += ["preconfigure", "template"]
        checks_changed = specs != exercise.checks
        exercise.checks = specs
        fields.append("checks")
    else:
        checks_changed = False
    with transaction.atomic():
        if fields:
            exercise.save(update_fields=fields)
        if checks_changed:
            CheckStatus.objects.filter(attempt__exercise=exercise).delete()
    return exercise


def do_duplicate_exercise(user: Any, exercise: Exercise, course_id: int | None = None) -> Exercise:
    """Copy an exercise (title "… (copy)", same topology, template and checks) into its
    own course or into ``course_id``, which the user must teach too; no student copies.

    Raises:
        NotFound: the user does not teach the exercise's course (``exercise.not_found``)
            or the target course (``course.not_found``).
    """
    check_exercise_managed(user, exercise)
    target = exercise.course
    if course_id is not None:
        found = Course.objects.filter(pk=course_id).first()
        if found is None or not instructs(user, found):
            raise NotFound(f"no course {course_id}", code="course.not_found")
        target = found
    suffix = " (copy)"
    return Exercise.objects.create(
        course=target,
        title=exercise.title[: 200 - len(suffix)] + suffix,
        instructions=exercise.instructions,
        source_lab=exercise.source_lab,
        topology=exercise.topology,
        template=exercise.template,
        preconfigure=exercise.preconfigure,
        checks=exercise.checks,
    )
