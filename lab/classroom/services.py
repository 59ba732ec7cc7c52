"""The classroom's rules, in the house's check_*/do_* style.

``check_*`` authorize and validate, raising ``lab.services.ServiceError``
subclasses (the API's error shape); ``do_*`` write, enqueue and publish after
commit. Labs are made, deployed, applied and destroyed through the web room's
services, so the classroom never bypasses their state rules.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import re
import secrets
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from pydantic import ValidationError

from lab import events, quotas
from lab import services as lab_services
from lab.classroom.booking import Slot, fits, next_free_slot
from lab.classroom.checks import CheckResult, ChecksError, dump_checks, load_checks
from lab.classroom.models import (
    CheckStatus,
    Course,
    Exercise,
    ExerciseAttempt,
    LoginToken,
    Reservation,
)
from lab.classroom.permissions import (
    INSTRUCTOR,
    STUDENT,
    can_access_lab,
    ensure_roles,
    has_role,
    instructs,
    is_admin,
)
from lab.classroom.template import Preconfigure, make_template
from lab.markdown import render_markdown
from lab.models import Lab, LabHost
from lab.services import Conflict, InvalidInput, NotAuthenticated, NotFound, ServiceError
from lab.topology import Issue, Topology
from lab.topology.load import issues_from_validation_error

logger = logging.getLogger(__name__)

LOGIN_TOKEN_TTL = timedelta(days=7)
WARNING_BEFORE_END = timedelta(minutes=5)
MAX_RESERVATION = timedelta(days=7)
MAX_CSV_ROWS = 2000
_USERNAME_RE = re.compile(r"^[\w.@+-]{1,150}$")
_EMAIL_RE = re.compile(r"^[^@\s,]+@[^@\s,]+\.[^@\s,]+$")


class Forbidden(ServiceError):
    """The user's role does not allow the request (403); never used for someone's lab."""

    status = 403
    code = "role.forbidden"


class SlotTaken(Conflict):
    """The host is full in the requested slot (409); ``next_free`` says when it is not."""

    code = "reservation.full"

    def __init__(self, message: str, next_free: datetime | None) -> None:
        hint = (
            f"the next free slot starts at {next_free.isoformat()}"
            if next_free
            else "the lab has more nodes than the host holds"
        )
        super().__init__(message, issues=[Issue("start", self.code, message, hint)])
        self.next_free = next_free

    def as_dict(self) -> dict[str, Any]:
        """Return the API's error body with ``next_free`` (ISO time or null)."""
        body = super().as_dict()
        body["next_free"] = self.next_free.isoformat() if self.next_free else None
        return body


def _authed(user: Any) -> Any:
    if not getattr(user, "is_authenticated", False):
        raise NotAuthenticated("sign in first")
    return user


# -- labs -------------------------------------------------------------------------------


def check_lab(user: Any, lab_id: int, action: str) -> Lab:
    """Return lab ``lab_id`` when ``user`` may do ``action`` to it (the one lab rule).

    Raises:
        NotAuthenticated: anonymous.
        NotFound: no such lab, or not the user's to act on (indistinguishable).
    """
    return lab_services.check_lab_access(user, lab_id, action=action)


# -- courses ----------------------------------------------------------------------------


def check_course(user: Any, course_id: int, *, manage: bool = False) -> Course:
    """Return course ``course_id`` if the user teaches it (or, without ``manage``, takes it).

    Raises:
        NotAuthenticated: anonymous.
        NotFound: no such course, or not the user's.
    """
    _authed(user)
    course = Course.objects.filter(pk=course_id).first()
    if course is None:
        raise NotFound(f"no course {course_id}", code="course.not_found")
    if instructs(user, course):
        return course
    if not manage and course.students.filter(pk=user.pk).exists():
        return course
    raise NotFound(f"no course {course_id}", code="course.not_found")


def visible_courses(user: Any) -> list[Course]:
    """Return the courses ``user`` teaches or takes (every course for admins)."""
    _authed(user)
    if is_admin(user):
        return list(Course.objects.all())
    return list(
        Course.objects.filter(Q(instructors=user) | Q(students=user)).distinct().order_by("name")
    )


def _text(value: str, path: str, limit: int, required: bool = False) -> str:
    value = value.strip() if isinstance(value, str) else value
    if not isinstance(value, str) or (required and not value) or len(value) > limit:
        raise InvalidInput(
            f"{path} must be text of 1 to {limit} characters",
            issues=[Issue(path, "text.invalid", f"{path} must be text of 1 to {limit} characters")],
        )
    return value


def can_create_courses(user: Any) -> bool:
    """Return whether ``user`` may create courses (instructors and admins).

    Raises:
        NotAuthenticated: anonymous.
    """
    _authed(user)
    return has_role(user, INSTRUCTOR) or is_admin(user)


def do_create_course(user: Any, name: str, description: str = "") -> Course:
    """Create a course taught by ``user`` (an instructor or admin).

    Raises:
        NotAuthenticated: anonymous.
        Forbidden: the user is neither instructor nor admin.
        InvalidInput: a bad name or description.
    """
    if not can_create_courses(user):
        raise Forbidden("only instructors and admins create courses")
    name = _text(name, "name", 200, required=True)
    description = _text(description, "description", 10_000)
    with transaction.atomic():
        course = Course.objects.create(name=name, description=description)
        course.instructors.add(user)
    return course


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def do_issue_login_token(user: Any, ttl: timedelta = LOGIN_TOKEN_TTL) -> str:
    """Make a one-time sign-in token for ``user``; return the token (only its hash is kept).

    Only two callers: a new account made from an enrolment CSV, and an admin helping
    someone who forgot their password (``manage.py topolab_login_link``, the user admin's
    action). A token signs in as its account, so nothing else may issue one.
    """
    token = secrets.token_urlsafe(32)
    LoginToken.objects.create(
        user=user, token_hash=_hash_token(token), expires=timezone.now() + ttl
    )
    return token


def login_link(token: str) -> str:
    """Return the page path that signs in with ``token``."""
    return f"/login?token={token}"


def do_redeem_login_token(token: str) -> Any:
    """Return the user a valid, unused, unexpired token belongs to, and spend the token.

    Raises:
        InvalidInput: ``auth.token_invalid`` for an unknown, used or expired token
            (never saying which, so tokens cannot be probed).
    """
    bad = InvalidInput(
        "the sign-in link is invalid or has expired; ask your instructor for a new one",
        code="auth.token_invalid",
        issues=[Issue("token", "auth.token_invalid", "invalid or expired sign-in link")],
    )
    if not isinstance(token, str) or not 10 <= len(token) <= 200:
        raise bad
    with transaction.atomic():
        row = (
            LoginToken.objects.select_for_update()
            .select_related("user")
            .filter(token_hash=_hash_token(token))
            .first()
        )
        now = timezone.now()
        if row is None or row.used is not None or row.expires <= now or not row.user.is_active:
            raise bad
        # Conditional update: of two concurrent redemptions only one spends it.
        if LoginToken.objects.filter(pk=row.pk, used__isnull=True).update(used=now) != 1:
            raise bad
    return row.user


class CsvRow(NamedTuple):
    """One student row of an enrolment CSV; ``position`` is its place (``rows[3]``)."""

    position: int
    username: str
    email: str


def parse_students_csv(text: str) -> list[CsvRow]:
    """Parse ``username,email`` lines (a header line is allowed); report every bad row.

    Raises:
        InvalidInput: with an issue per bad row (``rows[3].email``).
    """
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput(
            "the CSV is empty", issues=[Issue("csv", "csv.empty", "no rows: username,email")]
        )
    rows = list(csv.reader(io.StringIO(text)))
    if rows and [c.strip().lower() for c in rows[0][:2]] == ["username", "email"]:
        rows = rows[1:]
    if len(rows) > MAX_CSV_ROWS:
        raise InvalidInput(
            f"at most {MAX_CSV_ROWS} rows", issues=[Issue("csv", "csv.too_long", "too many rows")]
        )
    issues: list[Issue] = []
    out: list[CsvRow] = []
    seen: set[str] = set()
    for i, row in enumerate(rows):
        if not any(c.strip() for c in row):
            continue
        if len(row) != 2:
            issues.append(Issue(f"rows[{i}]", "csv.columns", "a row is: username,email"))
            continue
        username, email = row[0].strip(), row[1].strip()
        if not _USERNAME_RE.match(username):
            issues.append(
                Issue(f"rows[{i}].username", "csv.username", f"not a valid username: {username!r}")
            )
        if not _EMAIL_RE.match(email):
            issues.append(Issue(f"rows[{i}].email", "csv.email", f"not an email: {email!r}"))
        if username in seen:
            issues.append(Issue(f"rows[{i}].username", "csv.duplicate", "listed twice"))
        seen.add(username)
        out.append(CsvRow(i, username, email))
    if issues:
        raise InvalidInput(issues[0].message, issues=issues)
    return out


def plain_student(account: Any) -> bool:
    """Return whether ``account`` is a plain student account: in the ``student`` role and
    nothing else (no other group, no permission of its own, not staff, not superuser)."""
    if account.is_staff or account.is_superuser or account.user_permissions.exists():
        return False
    return set(account.groups.values_list("name", flat=True)) == {STUDENT}


def do_add_students_csv(user: Any, course: Course, text: str) -> list[dict[str, Any]]:
    """Add the students of a CSV (``username,email``) to a course.

    Accounts that do not exist are made as students (without a usable password) and
    each gets a one-time sign-in link. An existing account is enrolled only when it is
    a plain student account (``plain_student``), and never gets a link: a link signs
    in as its account, so issuing one for an existing account would hand it over.
    Nothing is written when any row is bad.

    Raises:
        NotFound: the user does not teach the course.
        InvalidInput: bad rows, each named; ``csv.not_a_student`` at
            ``rows[N].username`` for an existing account that is not a plain student
            (an instructor, an admin, staff, a superuser, or one with no role).
    """
    if not instructs(user, course):
        raise NotFound(f"no course {course.pk}", code="course.not_found")
    rows = parse_students_csv(text)
    user_model = get_user_model()
    out: list[dict[str, Any]] = []
    with transaction.atomic():
        existing = {
            account.get_username(): account
            for account in user_model.objects.select_for_update().filter(
                username__in=[row.username for row in rows]
            )
        }
        refused = [
            Issue(
                f"rows[{row.position}].username",
                "csv.not_a_student",
                f"{row.username!r} is an existing account that is not a plain student "
                "account; it is left alone",
                "only new accounts and existing student accounts can be enrolled",
            )
            for row in rows
            if row.username in existing and not plain_student(existing[row.username])
        ]
        if refused:
            raise InvalidInput(refused[0].message, code="csv.not_a_student", issues=refused)
        student_group = ensure_roles()[STUDENT]
        for row in rows:
            student = existing.get(row.username)
            link: str | None = None
            if student is None:
                try:
                    student = user_model.objects.create(username=row.username, email=row.email)
                except IntegrityError:
                    # Made by a concurrent request after the lookup above: never taken over.
                    raise Conflict(
                        f"the account {row.username!r} was just made by another request",
                        code="csv.concurrent",
                        issues=[
                            Issue(
                                f"rows[{row.position}].username",
                                "csv.concurrent",
                                "made meanwhile by another request; send the CSV again",
                            )
                        ],
                    ) from None
                student.set_unusable_password()
                student.save()
                student.groups.add(student_group)
                link = login_link(do_issue_login_token(student))
            course.students.add(student)
            out.append(
                {
                    "username": row.username,
                    "email": student.email,
                    "created": link is not None,
                    "login_link": link,
                }
            )
    return out


# -- exercises --------------------------------------------------------------------------


def render_instructions(text: str) -> str:
    """Render an exercise's Markdown instructions to HTML safe to put in a page."""
    return render_markdown(text)


def check_exercise(
    user: Any, exercise_id: int, *, manage: bool = False, starting: bool = False
) -> Exercise:
    """Return an exercise of a course the user teaches (or, without ``manage``, takes).

    A student of the course does not see an unpublished exercise; with ``starting``
    (start, reset) one who already has a copy is told so instead, and keeps the copy.

    Raises:
        NotAuthenticated: anonymous.
        NotFound: no such exercise, not the user's course, or unpublished and the user
            does not teach the course.
        Conflict: ``exercise.unpublished``: ``starting``, unpublished, and the student
            already has a copy.
    """
    _authed(user)
    exercise = Exercise.objects.select_related("course").filter(pk=exercise_id).first()
    if exercise is None:
        raise NotFound(f"no exercise {exercise_id}", code="exercise.not_found")
    try:
        check_course(user, exercise.course_id, manage=manage)
    except NotFound:
        raise NotFound(f"no exercise {exercise_id}", code="exercise.not_found") from None
    if not exercise.published and not instructs(user, exercise.course):
        if starting and attempt_of(exercise, user) is not None:
            raise Conflict(
                "the exercise is unpublished: your copy stays yours in My labs",
                code="exercise.unpublished",
            )
        raise NotFound(f"no exercise {exercise_id}", code="exercise.not_found")
    return exercise


def visible_exercises(user: Any, course: Course) -> list[Exercise]:
    """Return the course's exercises the user may see: all for its instructors, the
    published ones for everybody else."""
    exercises = course.exercises.all()
    if not instructs(user, course):
        exercises = exercises.filter(published=True)
    return list(exercises)


def check_exercise_spec(
    topology: Topology, preconfigure: Any, checks: Any
) -> tuple[Preconfigure, dict[str, Any], list[dict[str, Any]]]:
    """Validate preconfigure and checks against a topology; return them and the template.

    Raises:
        InvalidInput: every problem, with paths ``preconfigure.nodes[0]``, ``checks[2].src``.
    """
    issues: list[Issue] = []
    pre = Preconfigure()
    try:
        pre = Preconfigure.model_validate(preconfigure or {})
    except ValidationError as exc:
        for issue in issues_from_validation_error(exc, preconfigure):
            issues.append(
                Issue(f"preconfigure.{issue.path}", issue.code, issue.message, issue.hint)
            )
    for i, name in enumerate(pre.nodes or []):
        if topology.node(name) is None:
            issues.append(
                Issue(f"preconfigure.nodes[{i}]", "check.unknown_node", f"no node {name!r}")
            )
    specs: list[Any] = []
    try:
        specs = load_checks(checks if checks is not None else [], topology)
    except ChecksError as exc:
        issues.extend(exc.issues)
    if issues:
        raise InvalidInput(issues[0].message, issues=issues)
    template = make_template(topology, pre)
    # The stripped copy must still be a valid document a student can deploy.
    template_topology = lab_services.check_topology(template, "template")
    return pre, lab_services.canonical_document(template_topology), dump_checks(specs)


def do_create_exercise(
    user: Any,
    course: Course,
    lab_id: int,
    title: str,
    instructions: str = "",
    preconfigure: Any = None,
    checks: Any = None,
) -> Exercise:
    """Turn a lab into an exercise of ``course``: copy its latest topology, strip, add checks.

    Raises:
        NotFound: the user does not teach the course, or may not read the lab.
        Conflict: ``lab.no_topology`` when the lab has no valid revision.
        InvalidInput: bad title, preconfigure or checks, each issue naming its path.
    """
    if not instructs(user, course):
        raise NotFound(f"no course {course.pk}", code="course.not_found")
    lab = check_lab(user, lab_id, "read")
    title = _text(title, "title", 200, required=True)
    instructions = _text(instructions, "instructions", 100_000)
    revision = lab.latest_revision()
    if revision is None:
        raise Conflict("the lab has no valid topology yet", code="lab.no_topology")
    topology = lab_services.check_topology(revision.document, "topology")
    pre, template, specs = check_exercise_spec(topology, preconfigure, checks)
    return Exercise.objects.create(
        course=course,
        title=title,
        instructions=instructions,
        source_lab=lab,
        topology=revision.document,
        template=template,
        preconfigure=pre.model_dump(mode="json"),
        checks=specs,
    )


def exercise_specs(exercise: Exercise) -> list[Any]:
    """Return the exercise's checks as spec models (they were validated when stored)."""
    return load_checks(exercise.checks)


def attempt_of(exercise: Exercise, user: Any) -> ExerciseAttempt | None:
    """Return ``user``'s attempt at ``exercise``, or None."""
    return (
        ExerciseAttempt.objects.filter(exercise=exercise, student=user)
        .select_related("lab")
        .first()
    )


def do_start_exercise(user: Any, exercise: Exercise) -> ExerciseAttempt:
    """Give the user their own copy of the exercise's lab and deploy it.

    A second start returns the existing copy (deploying it again if it is stopped).
    Making the copy and deploying it is one transaction: when a quota refuses the
    deploy, no copy is left behind.

    Raises:
        NotFound: the user is not in the exercise's course.
        QuotaExceeded: ``quota.nodes_per_lab``, ``quota.labs_owned`` or
            ``quota.concurrent_labs`` (``lab.quotas``, the one rule).
        Conflict: a deployment of the copy is in progress; ``exercise.unpublished``
            when the exercise is unpublished and the user has a copy already.
    """
    check_exercise(user, exercise.pk, starting=True)
    with transaction.atomic():
        attempt = attempt_of(exercise, user)
        if attempt is None:
            lab = lab_services.do_create_lab(user, exercise.title[:100], topology=exercise.template)
            attempt = ExerciseAttempt.objects.create(exercise=exercise, student=user, lab=lab)
        lab = attempt.lab
        if lab.state in (Lab.State.STOPPED, Lab.State.FAILED, Lab.State.UNKNOWN):
            lab_services.do_request_deploy(lab, user)
    return attempt


def do_reset_exercise(user: Any, exercise: Exercise) -> ExerciseAttempt:
    """Put the exercise's template back into the user's copy and apply (or deploy) it.

    Raises:
        NotFound: the user is not in the course (or it is unpublished, with no copy).
        Conflict: ``exercise.not_started``, ``exercise.unpublished`` or a deployment
            in progress.
    """
    check_exercise(user, exercise.pk, starting=True)
    attempt = attempt_of(exercise, user)
    if attempt is None:
        raise Conflict("start the exercise first", code="exercise.not_started")
    lab = attempt.lab
    lab_services.check_not_busy(lab)
    lab_services.do_put_topology(lab, user, exercise.template)
    if lab.state == Lab.State.RUNNING:
        lab_services.do_request_apply(lab, user)
    else:
        lab_services.do_request_deploy(lab, user)
    return attempt


# -- checks -----------------------------------------------------------------------------


def check_order(lab_id: int) -> dict[str, Any] | None:
    """Return the order a lab host runs the checks of lab ``lab_id`` from (None: nothing).

    It carries the lab's key, its topology and the check specs: the host needs no
    database; it reports the results, which ``lab/control.py`` records.
    """
    from lab.classroom.checks import dump_checks

    inputs = check_run_inputs(lab_id)
    if inputs is None:
        return None
    key, topology, specs = inputs
    return {
        "lab": lab_id,
        "key": key,
        "topology": topology.model_dump(mode="json"),
        "checks": dump_checks(specs),
    }


def enqueue_check_run(lab: Lab) -> None:
    """Send ``worker.tasks_classroom.run_checks`` to the lab's host queue (the test seam).

    Raises:
        Exception: whatever the broker raises.
    """
    from lab import wire
    from lab.celery import app

    order = check_order(lab.pk)
    if order is None:
        return
    host = lab_services.pick_host(lab, "deploy")
    app.send_task(wire.RUN_CHECKS_TASK, args=[order], queue=wire.host_queue(host))


def do_request_checks(user: Any, lab: Lab) -> ExerciseAttempt:
    """Ask the lab's host to run the exercise's checks against ``lab`` (the caller's copy).

    Raises:
        NotFound: the user may not run checks on the lab.
        Conflict: ``lab.not_exercise`` (the lab is nobody's exercise copy) or
            ``lab.not_running``.
    """
    if not can_access_lab(user, lab, "checks"):
        raise NotFound(f"no lab {lab.pk}", code="lab.not_found")
    attempt = ExerciseAttempt.objects.filter(lab=lab).select_related("exercise").first()
    if attempt is None:
        raise Conflict("this lab is not an exercise copy", code="lab.not_exercise")
    if lab.state != Lab.State.RUNNING:
        raise Conflict(f"the lab is {lab.state}: deploy it first", code="lab.not_running")
    lab_id = lab.pk
    transaction.on_commit(lambda: enqueue_check_run(Lab.objects.get(pk=lab_id)))
    return attempt


def check_run_inputs(lab_id: int) -> tuple[str, Topology, list[Any]] | None:
    """Return what the worker needs to check lab ``lab_id``: key, topology, specs.

    None when the lab is not an exercise copy or has no revision (nothing to check).
    """
    attempt = (
        ExerciseAttempt.objects.filter(lab_id=lab_id).select_related("exercise", "lab").first()
    )
    if attempt is None:
        return None
    revision = attempt.lab.latest_revision()
    if revision is None:
        return None
    topology = lab_services.check_topology(revision.document)
    return attempt.lab.key, topology, exercise_specs(attempt.exercise)


def do_record_check_results(
    lab_id: int, results: list[CheckResult], now: datetime | None = None
) -> list[CheckStatus]:
    """Store the outcome of a check run; a passing check's ``last_pass`` becomes now.

    Raises:
        ExerciseAttempt.DoesNotExist: the lab is not an exercise copy.
    """
    now = now or timezone.now()
    attempt = ExerciseAttempt.objects.get(lab_id=lab_id)
    statuses: list[CheckStatus] = []
    with transaction.atomic():
        for index, result in enumerate(results):
            status, _ = CheckStatus.objects.get_or_create(
                attempt=attempt, index=index, defaults={"last_run": now}
            )
            status.passed = result.passed
            status.message = result.message[:2000]
            status.hint = result.hint[:2000]
            status.last_run = now
            if result.passed:
                status.last_pass = now
            status.save()
            statuses.append(status)
        CheckStatus.objects.filter(attempt=attempt, index__gte=len(results)).delete()
        ExerciseAttempt.objects.filter(pk=attempt.pk).update(last_checked=now)
    return statuses


def check_statuses(attempt: ExerciseAttempt) -> list[dict[str, Any]]:
    """Return one row per check of the attempt's exercise: title, passed, message, hint."""
    specs = exercise_specs(attempt.exercise)
    stored = {s.index: s for s in attempt.statuses.all()}
    rows: list[dict[str, Any]] = []
    for index, spec in enumerate(specs):
        status = stored.get(index)
        rows.append(
            {
                "index": index,
                "title": spec.label(),
                "passed": bool(status and status.passed),
                "message": status.message if status else "not run yet",
                "hint": status.hint if status else "",
                "last_run": status.last_run if status else None,
                "last_pass": status.last_pass if status else None,
            }
        )
    return rows


def course_results(user: Any, course: Course) -> dict[str, Any]:
    """Return the instructor's table: a column per (exercise, check), a row per student.

    Raises:
        NotFound: the user does not teach the course.
    """
    if not instructs(user, course):
        raise NotFound(f"no course {course.pk}", code="course.not_found")
    exercises = list(course.exercises.all())
    columns: list[dict[str, Any]] = []
    for exercise in exercises:
        for index, spec in enumerate(exercise_specs(exercise)):
            columns.append(
                {
                    "exercise": exercise.pk,
                    "check": index,
                    "title": f"{exercise.title}: {spec.label()}",
                }
            )
    attempts = {
        (a.student_id, a.exercise_id): a
        for a in ExerciseAttempt.objects.filter(exercise__course=course)
        .select_related("lab")
        .prefetch_related("statuses")
    }
    rows: list[dict[str, Any]] = []
    for student in course.students.order_by("username"):
        cells: list[dict[str, Any]] = []
        for column in columns:
            attempt = attempts.get((student.pk, column["exercise"]))
            status = None
            if attempt is not None:
                status = next(
                    (s for s in attempt.statuses.all() if s.index == column["check"]), None
                )
            cells.append(
                {
                    "started": attempt is not None,
                    "lab": attempt.lab_id if attempt else None,
                    "passed": bool(status and status.passed),
                    "last_pass": status.last_pass if status else None,
                }
            )
        # Each exercise copy of the student, with its live state, for the table's links.
        labs = [
            {"exercise": e.pk, "lab": a.lab_id, "state": a.lab.state}
            for e in exercises
            if (a := attempts.get((student.pk, e.pk))) is not None
        ]
        rows.append({"student": student.get_username(), "cells": cells, "labs": labs})
    return {"columns": columns, "rows": rows}


def course_results_csv(user: Any, course: Course) -> str:
    """Return the results table as CSV: student, then per check the time of its last pass.

    Raises:
        NotFound: the user does not teach the course.
    """
    table = course_results(user, course)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["student", *[c["title"] for c in table["columns"]]])
    for row in table["rows"]:
        cells = [
            ("PASS " if c["passed"] else "")
            + (c["last_pass"].isoformat() if c["last_pass"] else "")
            for c in row["cells"]
        ]
        writer.writerow([_csv_safe(row["student"]), *[_csv_safe(c) for c in cells]])
    return out.getvalue()


def _csv_safe(value: str) -> str:
    # A cell starting with = + - @ is a formula to a spreadsheet; quote it out.
    return "'" + value if value[:1] in ("=", "+", "-", "@") else value


# -- reservations -----------------------------------------------------------------------


def _minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def _lab_nodes(lab: Lab) -> int:
    revision = lab.latest_revision()
    if revision is None:
        raise Conflict("the lab has no valid topology yet", code="lab.no_topology")
    return quotas.node_count(revision.document)


def _host_for(lab: Lab) -> LabHost:
    if lab.host_id is not None and lab.host is not None:
        return lab.host
    host, _ = LabHost.objects.get_or_create(name=settings.TOPOLAB_HOST_NAME)
    return host


def _slots(host_id: int, exclude: int | None = None) -> list[Slot]:
    rows = Reservation.objects.filter(host_id=host_id, state__in=Reservation.HOLDING).exclude(
        pk=exclude
    )
    return [Slot(r.start, r.end, r.nodes) for r in rows]


def check_slot(start: Any, end: Any, now: datetime) -> tuple[datetime, datetime]:
    """Return the slot cut to whole minutes; refuse one that is empty, past or too long.

    Raises:
        InvalidInput: naming ``start`` or ``end``.
    """
    issues: list[Issue] = []
    if not isinstance(start, datetime) or timezone.is_naive(start):
        issues.append(Issue("start", "time.invalid", "start must be a time with a time zone"))
    if not isinstance(end, datetime) or timezone.is_naive(end):
        issues.append(Issue("end", "time.invalid", "end must be a time with a time zone"))
    if issues:
        raise InvalidInput(issues[0].message, issues=issues)
    start, end = _minute(start), _minute(end)
    if end <= start:
        issues.append(Issue("end", "reservation.empty", "end must be after start"))
    elif end - start > MAX_RESERVATION:
        issues.append(Issue("end", "reservation.too_long", "a reservation lasts at most 7 days"))
    if end <= now:
        issues.append(Issue("end", "reservation.past", "the slot is already over"))
    if issues:
        raise InvalidInput(issues[0].message, issues=issues)
    return start, end


def do_book(user: Any, lab: Lab, start: Any, end: Any, now: datetime | None = None) -> Reservation:
    """Book ``[start, end)`` for ``lab`` on its host, if the host has room every minute.

    The host row is locked (``SELECT ... FOR UPDATE``; on SQLite the transaction
    begins IMMEDIATE, so writers queue) before the load is read, so of two
    requests for the last room exactly one is granted.

    Raises:
        NotFound: the user may not deploy the lab.
        InvalidInput: a bad slot.
        QuotaExceeded: a quota refuses it (``lab.quotas``; the code names the quota).
        SlotTaken: the host would overfill; ``next_free`` suggests a start.
    """
    _authed(user)
    if not can_access_lab(user, lab, "deploy"):
        raise NotFound(f"no lab {lab.pk}", code="lab.not_found")
    now = now or timezone.now()
    start, end = check_slot(start, end, now)
    nodes = _lab_nodes(lab)
    host = _host_for(lab)
    with transaction.atomic():
        locked = LabHost.objects.select_for_update().get(pk=host.pk)
        booking = quotas.Booking(start=start, end=end)
        quotas.check_quota(user.pk, quotas.Want(nodes=nodes, nodes_path="lab", booking=booking))
        slots = _slots(locked.pk)
        if not fits(slots, locked.capacity_nodes, nodes, start, end):
            free = next_free_slot(slots, locked.capacity_nodes, nodes, start, end - start)
            raise SlotTaken(
                f"host {locked.name} has no room for {nodes} nodes from {start:%Y-%m-%d %H:%M} "
                f"to {end:%H:%M}",
                free,
            )
        return Reservation.objects.create(
            user=user, lab=lab, host=locked, start=start, end=end, nodes=nodes
        )


def check_reservation(user: Any, reservation_id: int) -> Reservation:
    """Return a reservation of the user's (admins: anyone's).

    Raises:
        NotFound: no such reservation, or somebody else's.
    """
    _authed(user)
    query = Reservation.objects.select_related("lab", "host").filter(pk=reservation_id)
    if not is_admin(user):
        query = query.filter(user=user)
    reservation = query.first()
    if reservation is None:
        raise NotFound(f"no reservation {reservation_id}", code="reservation.not_found")
    return reservation


def do_extend(
    user: Any, reservation: Reservation, end: Any, now: datetime | None = None
) -> Reservation:
    """Move a booked or active reservation's end later, if the host has room until then.

    Raises:
        Conflict: ``reservation.over`` (ended or cancelled); ``SlotTaken`` when full.
        InvalidInput: the new end is not after the current one.
        QuotaExceeded: ``quota.hours_per_week`` or ``quota.concurrent_labs`` (``lab.quotas``).
    """
    now = now or timezone.now()
    if reservation.state not in Reservation.HOLDING:
        raise Conflict(f"the reservation is {reservation.state}", code="reservation.over")
    start, new_end = check_slot(reservation.start, end, now)
    if new_end <= reservation.end:
        raise InvalidInput(
            "the new end must be after the current end",
            issues=[Issue("end", "reservation.not_later", "the new end must be later")],
        )
    with transaction.atomic():
        locked = LabHost.objects.select_for_update().get(pk=reservation.host_id)
        booking = quotas.Booking(start=start, end=new_end, exclude=reservation.pk)
        want = quotas.Want(nodes=reservation.nodes, nodes_path="lab", booking=booking)
        quotas.check_quota(user.pk, want)
        slots = _slots(locked.pk, exclude=reservation.pk)
        if not fits(slots, locked.capacity_nodes, reservation.nodes, reservation.end, new_end):
            raise SlotTaken(
                f"host {locked.name} has no room to extend until {new_end:%Y-%m-%d %H:%M}", None
            )
        reservation.end = new_end
        fields = ["end"]
        if new_end - now > WARNING_BEFORE_END:
            reservation.warned = None  # a fresh warning before the new end
            fields.append("warned")
        reservation.save(update_fields=fields)
    return reservation


def do_cancel(user: Any, reservation: Reservation) -> Reservation:
    """Cancel a booked reservation (an active one ends at the next tick instead).

    Raises:
        Conflict: ``reservation.over`` when it is not booked.
    """
    if reservation.state == Reservation.State.ACTIVE:
        Reservation.objects.filter(pk=reservation.pk).update(end=_minute(timezone.now()))
        reservation.refresh_from_db()
        return reservation
    if reservation.state != Reservation.State.BOOKED:
        raise Conflict(f"the reservation is {reservation.state}", code="reservation.over")
    reservation.state = Reservation.State.CANCELLED
    reservation.save(update_fields=["state"])
    return reservation


def reservation_summary(r: Reservation) -> dict[str, Any]:
    """Return the JSON shape of a reservation."""
    return {
        "id": r.pk,
        "lab": r.lab_id,
        "host": r.host.name,
        "start": r.start,
        "end": r.end,
        "nodes": r.nodes,
        "state": r.state,
        "warned": r.warned,
    }


def _publish_warning(r: Reservation, now: datetime) -> None:
    minutes = max(0, int((r.end - now).total_seconds() // 60))
    events.publish(
        r.lab_id,
        events.RESERVATION_WARNING,
        {
            "reservation": r.pk,
            "end": r.end.isoformat(),
            "minutes_left": minutes,
            "message": f"this lab is destroyed at {r.end:%H:%M} UTC ({minutes} min): "
            "extend the reservation if the host has room",
        },
    )


def reservations_tick(now: datetime | None = None) -> dict[str, list[int]]:
    """Drive reservations at time ``now``: deploy at the start, warn 5 minutes before
    the end, destroy at the end (the topology stays). Idempotent; the beat calls it.

    Returns the reservation ids started, warned and ended.
    """
    now = now or timezone.now()
    done: dict[str, list[int]] = {"started": [], "warned": [], "ended": []}
    due = Reservation.objects.select_related("lab", "user")
    for r in due.filter(state=Reservation.State.BOOKED, start__lte=now, end__gt=now):
        with transaction.atomic():
            if (
                Reservation.objects.filter(pk=r.pk, state=Reservation.State.BOOKED).update(
                    state=Reservation.State.ACTIVE
                )
                != 1
            ):
                continue
            if r.lab.state in (Lab.State.STOPPED, Lab.State.FAILED, Lab.State.UNKNOWN):
                try:
                    lab_services.do_request_deploy(r.lab, r.user)
                except ServiceError as exc:
                    logger.warning(
                        "reservation %s: could not deploy lab %s: %s", r.pk, r.lab_id, exc
                    )
        done["started"].append(r.pk)
    for r in due.filter(
        state=Reservation.State.ACTIVE, warned__isnull=True, end__lte=now + WARNING_BEFORE_END
    ):
        with transaction.atomic():
            if Reservation.objects.filter(pk=r.pk, warned__isnull=True).update(warned=now) == 1:
                _publish_warning(r, now)
                done["warned"].append(r.pk)
    for r in due.filter(state__in=Reservation.HOLDING, end__lte=now):
        with transaction.atomic():
            was_active = r.state == Reservation.State.ACTIVE
            if was_active and Reservation.objects.filter(pk=r.pk, warned__isnull=True).update(
                warned=now
            ):
                _publish_warning(r, now)  # never destroy without a warning first
            if was_active and r.lab.state != Lab.State.STOPPED:
                # The lab goes; its topology revisions stay.
                try:
                    lab_services.do_request_destroy(r.lab, r.user)
                except Conflict as exc:
                    if exc.code == "deployment.busy":
                        # A deploy or apply is still running: end it at the next tick.
                        logger.info("reservation %s: lab %s busy, retrying", r.pk, r.lab_id)
                        continue
                    logger.warning(
                        "reservation %s: could not destroy lab %s: %s", r.pk, r.lab_id, exc
                    )
                except ServiceError as exc:
                    logger.warning(
                        "reservation %s: could not destroy lab %s: %s", r.pk, r.lab_id, exc
                    )
            if (
                Reservation.objects.filter(pk=r.pk, state=r.state).update(
                    state=Reservation.State.ENDED
                )
                != 1
            ):
                continue
        done["ended"].append(r.pk)
    return done
