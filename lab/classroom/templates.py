"""Exercises made from the ready templates of ``lab/demos/catalog_routing.py`` (OSPF, BGP,
DHCP): the instructor picks one and gets an exercise without building its lab first.

The exercise keeps the template's full lab as its topology (the solution), the student
copy (``student_copy``: the configuration the student writes taken out) as its template,
and the template's checks, validated against the topology like any exercise's.
"""

from __future__ import annotations

from typing import Any

from lab import services as lab_services
from lab.classroom.models import Course, Exercise
from lab.classroom.permissions import instructs
from lab.classroom.services import _text, can_create_courses, check_exercise_spec
from lab.demos.catalog_routing import EXERCISES, ExerciseTemplate, get_exercise, student_copy
from lab.services import InvalidInput, NotFound
from lab.topology import Issue


def template_summary(exercise: ExerciseTemplate) -> dict[str, Any]:
    """Return what the picker shows of a template: slug, title, description, node count."""
    return {
        "slug": exercise.slug,
        "title": exercise.title,
        "description": exercise.instructions,
        "nodes": len(exercise.topology["nodes"]),
    }


def list_exercise_templates(user: Any) -> list[dict[str, Any]]:
    """Return the exercise templates, for instructors and admins.

    Raises:
        NotAuthenticated: anonymous.
        NotFound: the user is neither instructor nor admin (``templates.not_found``):
            the catalog is a teacher's tool, hidden like a course the user does not teach.
    """
    if not can_create_courses(user):
        raise NotFound("no exercise templates", code="templates.not_found")
    return [template_summary(e) for e in EXERCISES]


def do_create_exercise_from_template(
    user: Any, course: Course, slug: Any, title: Any = None
) -> Exercise:
    """Add the exercise template ``slug`` to ``course`` (titled ``title``, else the
    template's title).

    Raises:
        NotFound: the user does not teach the course (``course.not_found``).
        InvalidInput: ``template.unknown`` for an unknown slug, or a bad ``title``.
    """
    if not instructs(user, course):
        raise NotFound(f"no course {course.pk}", code="course.not_found")
    template = get_exercise(slug) if isinstance(slug, str) else None
    if template is None:
        known = ", ".join(e.slug for e in EXERCISES)
        message = f"template: no exercise template {slug!r}"
        raise InvalidInput(
            message,
            code="template.unknown",
            issues=[Issue("template", "template.unknown", message, f"one of {known}")],
        )
    title = _text(template.title if title is None else title, "title", 200, required=True)
    topology = lab_services.check_topology(template.topology, "topology")
    # The same validation as an exercise made from a lab: the checks against the solution.
    pre, _, specs = check_exercise_spec(topology, None, template.checks)
    student = lab_services.check_topology(student_copy(template), "template")
    return Exercise.objects.create(
        course=course,
        title=title,
        instructions=template.instructions,
        source_lab=None,
        topology=lab_services.canonical_document(topology),
        template=lab_services.canonical_document(student),
        preconfigure=pre.model_dump(mode="json"),
        checks=specs,
    )
