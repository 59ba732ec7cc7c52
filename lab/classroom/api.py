"""The classroom's REST endpoints: courses, students, exercises, checks, results,
reservations and quotas, and sign-in by one-time link.

Every operation parses, calls ``lab/classroom/services.py`` and renders; errors
are the API's ``{"code", "message", "issues"}`` shape.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib.auth import login
from django.http import HttpRequest, HttpResponse
from ninja import Field, Router, Schema, Status
from pydantic import ConfigDict

from lab import accounts, quotas, throttle
from lab.api.auth import require_csrf
from lab.api.errors import errors
from lab.classroom import bulk, check_forms, course_quota, editing, services
from lab.classroom.checks import CHECK_KINDS
from lab.classroom.models import Course, Exercise, ExerciseAttempt, Reservation
from lab.services import InvalidInput

router = Router(tags=["classroom"])


class _In(Schema):
    model_config = ConfigDict(extra="forbid")


class CourseIn(_In):
    name: str = Field(..., min_length=1, max_length=200)
    description: str = Field("", max_length=10_000)


class CourseOut(Schema):
    id: int
    name: str
    description: str
    role: str = Field(..., description="instructor or student: how the caller takes part")
    exercises: list[dict[str, Any]]


class CsvIn(_In):
    csv: str = Field(..., max_length=1_000_000, description="lines of username,email")


class StudentAddedOut(Schema):
    username: str
    email: str
    created: bool
    login_link: str | None = Field(
        ...,
        description="one-time sign-in link, valid 7 days; null for an existing account "
        "(it signs in as before: no link is ever issued for an account that already exists)",
    )


class TokenIn(_In):
    token: str = Field(..., min_length=1, max_length=200)


class ExerciseIn(_In):
    lab: int = Field(..., description="the instructor's lab whose latest topology is copied")
    title: str = Field(..., min_length=1, max_length=200)
    instructions: str = Field("", max_length=100_000, description="Markdown")
    preconfigure: dict[str, Any] = Field(
        default_factory=dict,
        description="{addresses, routes, forwarding: bool (true keeps them), nodes: [names]}",
    )
    checks: list[dict[str, Any]] = Field(
        default_factory=list, description="check specs; kinds: " + ", ".join(CHECK_KINDS)
    )


class ExercisePatchIn(_In):
    title: str | None = Field(None, min_length=1, max_length=200)
    instructions: str | None = Field(None, max_length=100_000, description="Markdown")
    preconfigure: dict[str, Any] | None = Field(
        None, description="as when made; a new template is made from the exercise's topology"
    )
    checks: list[dict[str, Any]] | None = Field(
        None, description="the whole new list; changed checks clear the stored results"
    )
    published: bool | None = Field(
        None, description="false: a draft, hidden from students (their copies stay theirs)"
    )


class DuplicateIn(_In):
    course: int | None = Field(None, description="target course (one the caller teaches)")


class BulkIn(_In):
    exercise: int | None = Field(None, description="only this exercise's copies (else all)")


class BulkRowOut(Schema):
    lab: int
    student: str
    exercise: int
    outcome: str = Field(
        ..., description="destroying, skipped, applying, deploying or refused (see code)"
    )
    code: str
    message: str


class CourseQuotaIn(_In):
    concurrent_labs: int | None = None
    nodes_per_lab: int | None = None
    labs_owned: int | None = None
    hours_per_week: int | None = None


class CourseQuotaOut(Schema):
    quota: dict[str, int | None] = Field(..., description="what the course sets (null: unset)")
    site: dict[str, int | None] = Field(..., description="the site's limits (null: none)")


class ClassroomMeOut(Schema):
    can_create_courses: bool


class CheckRowOut(Schema):
    index: int
    title: str
    passed: bool
    message: str
    hint: str
    last_run: datetime | None
    last_pass: datetime | None


class AttemptOut(Schema):
    exercise: int
    lab: int
    lab_state: str
    checks: list[CheckRowOut]


class ExerciseOut(Schema):
    id: int
    course: int
    title: str
    instructions: str
    instructions_html: str
    preconfigure: dict[str, Any]
    checks: list[dict[str, Any]]
    template: dict[str, Any]
    attempt: AttemptOut | None
    manage: bool = Field(..., description="whether the caller teaches the exercise's course")
    published: bool = Field(..., description="false: a draft only instructors see")
    specs: list[dict[str, Any]] | None = Field(
        ..., description="the checks as stored, for the course's instructors (null otherwise)"
    )


class ReservationIn(_In):
    lab: int
    start: datetime
    end: datetime


class ExtendIn(_In):
    end: datetime


class ReservationOut(Schema):
    id: int
    lab: int
    host: str
    start: datetime
    end: datetime
    nodes: int
    state: str
    warned: datetime | None


class QuotaOut(Schema):
    concurrent_labs: int | None
    nodes_per_lab: int | None
    labs_owned: int | None
    hours_per_week: int | None


def _course_out(course: Course, user: Any) -> dict[str, Any]:
    return {
        "id": course.pk,
        "name": course.name,
        "description": course.description,
        "role": "instructor" if services.instructs(user, course) else "student",
        "exercises": [
            {"id": e.pk, "title": e.title, "published": e.published}
            for e in services.visible_exercises(user, course)
        ],
    }


def _attempt_out(attempt: ExerciseAttempt) -> dict[str, Any]:
    return {
        "exercise": attempt.exercise_id,
        "lab": attempt.lab_id,
        "lab_state": attempt.lab.state,
        "checks": services.check_statuses(attempt),
    }


def _exercise_out(exercise: Exercise, user: Any) -> dict[str, Any]:
    attempt = services.attempt_of(exercise, user)
    manage = services.instructs(user, exercise.course)
    return {
        "manage": manage,
        "published": exercise.published,
        "specs": list(exercise.checks) if manage else None,
        "id": exercise.pk,
        "course": exercise.course_id,
        "title": exercise.title,
        "instructions": exercise.instructions,
        "instructions_html": services.render_instructions(exercise.instructions),
        "preconfigure": exercise.preconfigure,
        "checks": [
            {"index": i, "kind": s.kind, "title": s.label()}
            for i, s in enumerate(services.exercise_specs(exercise))
        ],
        "template": exercise.template,
        "attempt": _attempt_out(attempt) if attempt else None,
    }


# -- sign-in by link --------------------------------------------------------------------


@router.post("/auth/token", auth=None, response={200: dict[str, Any], **errors(400, 403, 429, 503)})
def token_login(request: HttpRequest, payload: TokenIn) -> dict[str, Any]:
    """Exchange a one-time sign-in token (from ``/login?token=...``) for a session.

    Throttled per address like a sign-in (429 with ``Retry-After``). For an hour the
    session may set a new password without the old one (``POST /api/auth/password``).
    """
    require_csrf(request)
    attempt = throttle.begin_attempt(request, None)
    try:
        user = services.do_redeem_login_token(payload.token)
    except InvalidInput:
        throttle.end_attempt(attempt, succeeded=False)
        raise
    throttle.end_attempt(attempt, succeeded=True)
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    accounts.mark_link_session(request.session)
    return {"id": user.pk, "username": user.get_username(), "is_staff": bool(user.is_staff)}


# -- courses ----------------------------------------------------------------------------


@router.get("/courses", response={200: list[CourseOut], **errors(401)})
def list_courses(request: HttpRequest) -> list[dict[str, Any]]:
    """Return the courses the caller teaches or takes."""
    return [_course_out(c, request.user) for c in services.visible_courses(request.user)]


@router.post("/courses", response={201: CourseOut, **errors(400, 401, 403)})
def create_course(request: HttpRequest, payload: CourseIn) -> Status[dict[str, Any]]:
    """Create a course the caller teaches (instructors and admins)."""
    course = services.do_create_course(request.user, payload.name, payload.description)
    return Status(201, _course_out(course, request.user))


@router.get("/classroom/me", response={200: ClassroomMeOut, **errors(401)})
def classroom_me(request: HttpRequest) -> dict[str, bool]:
    """Return what the caller may do in the classroom (the page hides what it may not)."""
    return {"can_create_courses": services.can_create_courses(request.user)}


@router.get("/classroom/check-forms", response={200: list[dict[str, Any]], **errors(401)})
def list_check_forms(request: HttpRequest) -> list[dict[str, Any]]:
    """Return the checks builder's form per check kind (made from the specs' schema)."""
    services._authed(request.user)
    return check_forms.check_forms()


@router.get("/courses/{course_id}", response={200: CourseOut, **errors(401, 404)})
def get_course(request: HttpRequest, course_id: int) -> dict[str, Any]:
    """Return a course the caller teaches or takes."""
    return _course_out(services.check_course(request.user, course_id), request.user)


@router.post(
    "/courses/{course_id}/students/csv",
    response={200: list[StudentAddedOut], **errors(400, 401, 404)},
)
def add_students_csv(request: HttpRequest, course_id: int, payload: CsvIn) -> list[dict[str, Any]]:
    """Add students from CSV lines ``username,email``; each new account gets a one-time link.

    An existing account is enrolled only when it is a plain student account, and gets no
    link; a row naming an instructor, staff, admin or superuser account is an error
    (``rows[N].username``, ``csv.not_a_student``) and nothing is written.
    """
    course = services.check_course(request.user, course_id, manage=True)
    return services.do_add_students_csv(request.user, course, payload.csv)


@router.get("/courses/{course_id}/results", response={200: dict[str, Any], **errors(401, 404)})
def course_results(request: HttpRequest, course_id: int) -> dict[str, Any]:
    """Return the table of students x checks with the time of each last pass (instructors)."""
    course = services.check_course(request.user, course_id, manage=True)
    return services.course_results(request.user, course)


@router.get("/courses/{course_id}/results.csv", response={200: None, **errors(401, 404)})
def course_results_csv(request: HttpRequest, course_id: int) -> HttpResponse:
    """Return the results table as CSV (instructors)."""
    course = services.check_course(request.user, course_id, manage=True)
    response = HttpResponse(
        services.course_results_csv(request.user, course), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="course-{course.pk}-results.csv"'
    return response


@router.post(
    "/courses/{course_id}/exercises", response={201: ExerciseOut, **errors(400, 401, 404, 409)}
)
def create_exercise(
    request: HttpRequest, course_id: int, payload: ExerciseIn
) -> Status[dict[str, Any]]:
    """Turn one of the caller's labs into an exercise of a course they teach."""
    course = services.check_course(request.user, course_id, manage=True)
    exercise = services.do_create_exercise(
        request.user,
        course,
        payload.lab,
        payload.title,
        payload.instructions,
        payload.preconfigure,
        payload.checks,
    )
    return Status(201, _exercise_out(exercise, request.user))


@router.post(
    "/courses/{course_id}/labs/destroy", response={200: list[BulkRowOut], **errors(400, 401, 404)}
)
def bulk_destroy(request: HttpRequest, course_id: int, payload: BulkIn) -> list[dict[str, Any]]:
    """Destroy every student copy of the course's exercises (instructors); one row per lab."""
    course = services.check_course(request.user, course_id, manage=True)
    return bulk.do_bulk_destroy(request.user, course, payload.exercise)


@router.post(
    "/courses/{course_id}/labs/reset", response={200: list[BulkRowOut], **errors(400, 401, 404)}
)
def bulk_reset(request: HttpRequest, course_id: int, payload: BulkIn) -> list[dict[str, Any]]:
    """Reset every student copy to its exercise's template and apply or deploy it
    (instructors); one row per lab."""
    course = services.check_course(request.user, course_id, manage=True)
    return bulk.do_bulk_reset(request.user, course, payload.exercise)


@router.get("/courses/{course_id}/quota", response={200: CourseQuotaOut, **errors(401, 404)})
def get_course_quota(request: HttpRequest, course_id: int) -> dict[str, Any]:
    """Return the course's quota and the site's limits (instructors)."""
    course = services.check_course(request.user, course_id, manage=True)
    return {"quota": course_quota.course_quota(course), "site": quotas.default_limits()}


@router.put("/courses/{course_id}/quota", response={200: CourseQuotaOut, **errors(400, 401, 404)})
def put_course_quota(
    request: HttpRequest, course_id: int, payload: CourseQuotaIn
) -> dict[str, Any]:
    """Set the course's quota for its students (null clears a limit); an instructor may
    only tighten the site's limits (``quota.above_site``)."""
    course = services.check_course(request.user, course_id, manage=True)
    quota = course_quota.do_set_course_quota(request.user, course, payload.model_dump())
    return {"quota": quota, "site": quotas.default_limits()}


# -- exercises --------------------------------------------------------------------------


@router.get("/exercises/{exercise_id}", response={200: ExerciseOut, **errors(401, 404)})
def get_exercise(request: HttpRequest, exercise_id: int) -> dict[str, Any]:
    """Return an exercise with its rendered instructions and the caller's copy, if any."""
    return _exercise_out(services.check_exercise(request.user, exercise_id), request.user)


@router.patch("/exercises/{exercise_id}", response={200: ExerciseOut, **errors(400, 401, 404)})
def update_exercise(
    request: HttpRequest, exercise_id: int, payload: ExercisePatchIn
) -> dict[str, Any]:
    """Change an exercise's title, instructions, preconfigure, checks or publication
    (instructors)."""
    exercise = services.check_exercise(request.user, exercise_id, manage=True)
    editing.do_update_exercise(
        request.user,
        exercise,
        title=payload.title,
        instructions=payload.instructions,
        preconfigure=payload.preconfigure,
        checks=payload.checks,
        published=payload.published,
    )
    return _exercise_out(exercise, request.user)


@router.post(
    "/exercises/{exercise_id}/duplicate", response={201: ExerciseOut, **errors(400, 401, 404)}
)
def duplicate_exercise(
    request: HttpRequest, exercise_id: int, payload: DuplicateIn
) -> Status[dict[str, Any]]:
    """Copy an exercise into its course or another course the caller teaches."""
    exercise = services.check_exercise(request.user, exercise_id, manage=True)
    copy = editing.do_duplicate_exercise(request.user, exercise, payload.course)
    return Status(201, _exercise_out(copy, request.user))


@router.post("/exercises/{exercise_id}/start", response={202: AttemptOut, **errors(401, 404, 409)})
def start_exercise(request: HttpRequest, exercise_id: int) -> Status[dict[str, Any]]:
    """Make (once) the caller's own copy of the exercise's lab and deploy it."""
    exercise = services.check_exercise(request.user, exercise_id, starting=True)
    attempt = services.do_start_exercise(request.user, exercise)
    attempt.lab.refresh_from_db()
    return Status(202, _attempt_out(attempt))


@router.post("/exercises/{exercise_id}/reset", response={202: AttemptOut, **errors(401, 404, 409)})
def reset_exercise(request: HttpRequest, exercise_id: int) -> Status[dict[str, Any]]:
    """Restore the exercise's template in the caller's copy and apply it."""
    exercise = services.check_exercise(request.user, exercise_id, starting=True)
    attempt = services.do_reset_exercise(request.user, exercise)
    attempt.lab.refresh_from_db()
    return Status(202, _attempt_out(attempt))


@router.post("/labs/{lab_id}/checks", response={202: AttemptOut, **errors(401, 404, 409)})
def run_checks(request: HttpRequest, lab_id: int) -> Status[dict[str, Any]]:
    """Run the exercise's checks against the lab (on its host); poll GET for the results."""
    lab = services.check_lab(request.user, lab_id, "checks")
    attempt = services.do_request_checks(request.user, lab)
    return Status(202, _attempt_out(attempt))


@router.get("/labs/{lab_id}/checks", response={200: AttemptOut, **errors(401, 404, 409)})
def get_checks(request: HttpRequest, lab_id: int) -> dict[str, Any]:
    """Return the latest pass/fail, message and hint of each check of the lab's exercise."""
    lab = services.check_lab(request.user, lab_id, "read")
    attempt = ExerciseAttempt.objects.filter(lab=lab).select_related("exercise", "lab").first()
    if attempt is None:
        raise services.Conflict("this lab is not an exercise copy", code="lab.not_exercise")
    return _attempt_out(attempt)


# -- reservations and quotas ------------------------------------------------------------


@router.get("/reservations", response={200: list[ReservationOut], **errors(401)})
def list_reservations(request: HttpRequest) -> list[dict[str, Any]]:
    """Return the caller's reservations, soonest first."""
    services._authed(request.user)
    rows = Reservation.objects.filter(user=request.user).select_related("host")
    return [services.reservation_summary(r) for r in rows]


@router.post("/reservations", response={201: ReservationOut, **errors(400, 401, 404, 409)})
def book(request: HttpRequest, payload: ReservationIn) -> Status[dict[str, Any]]:
    """Book a time slot for a lab; refused (409 ``reservation.full``, with ``next_free``)
    when its host would overfill in any minute, or (``quota.*``) beyond a quota."""
    lab = services.check_lab(request.user, payload.lab, "deploy")
    reservation = services.do_book(request.user, lab, payload.start, payload.end)
    return Status(201, services.reservation_summary(reservation))


@router.post(
    "/reservations/{reservation_id}/extend",
    response={200: ReservationOut, **errors(400, 401, 404, 409)},
)
def extend(request: HttpRequest, reservation_id: int, payload: ExtendIn) -> dict[str, Any]:
    """Move the end of a reservation later, if the host has room."""
    reservation = services.check_reservation(request.user, reservation_id)
    return services.reservation_summary(services.do_extend(request.user, reservation, payload.end))


@router.delete(
    "/reservations/{reservation_id}", response={200: ReservationOut, **errors(401, 404, 409)}
)
def cancel(request: HttpRequest, reservation_id: int) -> dict[str, Any]:
    """Cancel a booked reservation; an active one ends now (its lab is destroyed)."""
    reservation = services.check_reservation(request.user, reservation_id)
    return services.reservation_summary(services.do_cancel(request.user, reservation))


@router.get("/quota", response={200: QuotaOut, **errors(401)})
def my_quota(request: HttpRequest) -> dict[str, int | None]:
    """Return the caller's limits (null: none); ``lab.quotas`` enforces them on every path."""
    services._authed(request.user)
    return quotas.effective_limits(request.user)
