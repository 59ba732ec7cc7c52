"""A course's quota as its instructors set it from the course page.

The quota binds the course's students (``lab/quotas.py`` takes the smallest limit of
a user's courses and roles). An instructor may only tighten the site's limits: a
course value above the site default (``TOPOLAB_QUOTA_*``) would lift the students
above what the site allows, so it is refused; admins set any value in the admin.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from lab import quotas
from lab.classroom.models import Course, Quota
from lab.classroom.permissions import instructs, is_admin
from lab.services import InvalidInput, NotFound
from lab.topology import Issue

Limits = dict[str, int | None]


def course_quota(course: Course) -> Limits:
    """Return the limits the course's own quota sets (None: not set by the course)."""
    row = Quota.objects.filter(course=course).order_by("id").first()
    return {name: getattr(row, name) if row else None for name in quotas.QUOTA_NAMES}


def check_course_limits(values: dict[str, Any], ceilings: Limits) -> Limits:
    """Return the limits of ``values`` (every quota name, None: unset) when each is a
    whole number from 1 to its ceiling (None: no ceiling).

    Raises:
        InvalidInput: ``quota.invalid`` / ``quota.above_site`` per field, all at once.
    """
    issues: list[Issue] = []
    out: Limits = {}
    for name in quotas.QUOTA_NAMES:
        value = values.get(name)
        out[name] = None
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            issues.append(Issue(name, "quota.invalid", f"{name} must be a whole number ≥ 1"))
            continue
        ceiling = ceilings.get(name)
        if ceiling is not None and value > ceiling:
            issues.append(
                Issue(
                    name,
                    "quota.above_site",
                    f"{name} can be at most {ceiling}, the site's limit",
                    "a course quota can only tighten the site's limits",
                )
            )
            continue
        out[name] = value
    if issues:
        raise InvalidInput(issues[0].message, code=issues[0].code, issues=issues)
    return out


def do_set_course_quota(user: Any, course: Course, values: dict[str, Any]) -> Limits:
    """Set the course's quota (every name; None clears it) and return it.

    Raises:
        NotFound: the user does not teach the course (students included).
        InvalidInput: a value that is not a whole number ≥ 1, or above the site's
            limit for an instructor who is not an admin.
    """
    if not instructs(user, course):
        raise NotFound(f"no course {course.pk}", code="course.not_found")
    ceilings: Limits = (
        dict.fromkeys(quotas.QUOTA_NAMES) if is_admin(user) else quotas.default_limits()
    )
    limits = check_course_limits(values, ceilings)
    with transaction.atomic():
        rows = Quota.objects.select_for_update().filter(course=course).order_by("id")
        row = rows.first()
        if row is None:
            row = Quota(course=course)
        for name, value in limits.items():
            setattr(row, name, value)
        row.save()
        # One quota per course from the page; extra rows made in the admin would
        # still bind (the smallest wins), so the page's values must be the only ones.
        rows.exclude(pk=row.pk).delete()
    return course_quota(course)
