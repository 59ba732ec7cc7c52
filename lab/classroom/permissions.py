"""Roles and the one question every lab endpoint asks: may this user do this to that lab?

Roles are Django groups (``admin``, ``instructor``, ``student``) made by
``ensure_roles()``; only ``admin`` holds model permissions. Lab access is decided only by
``can_access_lab(user, lab, action)``: the owner may do everything; an admin
may too; an instructor may act on the exercises' source labs of their own courses,
and watch their students' exercise copies (read, console, capture, checks, journey,
deploy and destroy) without changing or deleting them; nobody else may, and callers
answer 404 so that a lab's existence never leaks.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Group, Permission

ADMIN, INSTRUCTOR, STUDENT = "admin", "instructor", "student"
ROLES = (ADMIN, INSTRUCTOR, STUDENT)

# What a lab endpoint does; consoles, captures and checks are separate because a
# course may one day allow instructors to watch but not to type.
ACTIONS = frozenset(
    {"read", "write", "delete", "deploy", "capture", "console", "checks", "journey"}
)

# Roles carry no model permissions: the Django admin is for superusers only, and the
# API decides everything through ``instructs`` and ``can_access_lab``. A model-wide
# "view_lab" would let its holder read every user's labs wherever Django checks it.
_ROLE_PERMS: dict[str, list[str]] = {INSTRUCTOR: [], STUDENT: []}

# What an instructor may do to a student's copy: look, type in its consoles, capture,
# check, run and stop it; never edit its design or delete it (the student's work).
# A reset to the template is the instructor's explicit bulk action (``bulk.py``).
INSTRUCTOR_ON_COPY = ACTIONS - {"write", "delete"}


def ensure_roles(using: str = "default") -> dict[str, Group]:
    """Create the three role groups with exactly their permissions (idempotent); return them.

    ``admin`` gets every permission of the ``lab`` app; the other roles get those in
    ``_ROLE_PERMS`` and lose any others (an older install gave instructors model-wide
    ones). Safe to call from a post_migrate handler and from tests.
    """
    groups: dict[str, Group] = {}
    lab_perms = Permission.objects.using(using).filter(content_type__app_label="lab")
    for role in ROLES:
        group, _ = Group.objects.using(using).get_or_create(name=role)
        if role == ADMIN:
            group.permissions.add(*lab_perms)
        else:
            group.permissions.set(lab_perms.filter(codename__in=_ROLE_PERMS[role]))
        groups[role] = group
    return groups


def has_role(user: Any, role: str) -> bool:
    """Return whether ``user`` is in role group ``role`` (superusers hold every role)."""
    if not getattr(user, "is_authenticated", False):
        return False
    if user.is_superuser:
        return True
    return bool(user.groups.filter(name=role).exists())


def is_admin(user: Any) -> bool:
    """Return whether ``user`` is an admin (superuser or in the ``admin`` group)."""
    return has_role(user, ADMIN)


def instructs(user: Any, course: Any) -> bool:
    """Return whether ``user`` may manage ``course`` (an instructor of it, or an admin)."""
    if not getattr(user, "is_authenticated", False):
        return False
    return is_admin(user) or course.instructors.filter(pk=user.pk).exists()


def can_access_lab(user: Any, lab: Any, action: str) -> bool:
    """Return whether ``user`` may do ``action`` to ``lab``.

    The owner and admins may do anything. An instructor may do anything to the source
    lab of an exercise of a course they teach, and ``INSTRUCTOR_ON_COPY`` to a
    student's copy of such an exercise. Everybody else may not, whatever the action.

    Raises:
        ValueError: ``action`` is not one of ``ACTIONS`` (a programming error).
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown lab action {action!r}; known: {sorted(ACTIONS)}")
    if not getattr(user, "is_authenticated", False) or not getattr(user, "is_active", False):
        return False
    if lab.owner_id == user.pk or is_admin(user):
        return True
    from lab.classroom.models import Exercise, ExerciseAttempt

    if ExerciseAttempt.objects.filter(lab_id=lab.pk, exercise__course__instructors=user).exists():
        return action in INSTRUCTOR_ON_COPY
    return bool(Exercise.objects.filter(source_lab_id=lab.pk, course__instructors=user).exists())
