"""The endpoints of exercise templates: the catalog for instructors, and an exercise of a
course made from one (``lab/classroom/templates.py``)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Field, Router, Schema, Status

from lab.api.errors import errors
from lab.classroom import services, templates
from lab.classroom.api import ExerciseOut, _exercise_out, _In

router = Router(tags=["classroom"])


class ExerciseTemplateOut(Schema):
    slug: str
    title: str
    description: str = Field(..., description="the instructions students get (Markdown)")
    nodes: int


class FromTemplateIn(_In):
    # Any string: an unknown slug is the service's 400 naming ``template``.
    template: str = Field(..., max_length=100, description="a slug from exercise-templates")
    title: str | None = Field(None, description="the exercise's title (else the template's)")


@router.get(
    "/classroom/exercise-templates",
    response={200: list[ExerciseTemplateOut], **errors(401, 404)},
)
def list_exercise_templates(request: HttpRequest) -> list[dict[str, Any]]:
    """Return the ready exercise templates (OSPF, BGP, DHCP) to instructors and admins."""
    return templates.list_exercise_templates(request.user)


@router.post(
    "/courses/{course_id}/exercises/from-template",
    response={201: ExerciseOut, **errors(400, 401, 404)},
)
def create_exercise_from_template(
    request: HttpRequest, course_id: int, payload: FromTemplateIn
) -> Status[dict[str, Any]]:
    """Add an exercise made from a template to a course the caller teaches."""
    course = services.check_course(request.user, course_id, manage=True)
    exercise = templates.do_create_exercise_from_template(
        request.user, course, payload.template, payload.title
    )
    return Status(201, _exercise_out(exercise, request.user))
