"""The classroom's records: courses, exercises, students' copies, check results,
sign-in tokens, reservations and quotas.

Registered in the ``lab`` app by one import line at the end of ``lab/models.py``;
only the classroom's service modules (``services.py``, ``bulk.py``, ``editing.py``,
``course_quota.py``) write them.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import models
from django.db.models.signals import post_migrate

__all__ = [
    "CheckStatus",
    "Course",
    "Exercise",
    "ExerciseAttempt",
    "LoginToken",
    "Quota",
    "Reservation",
]

USER = settings.AUTH_USER_MODEL


class Course(models.Model):
    """A course: its instructors manage its exercises and see its students' results."""

    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    instructors = models.ManyToManyField(USER, related_name="courses_taught", blank=True)
    students = models.ManyToManyField(USER, related_name="courses_taken", blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = "lab"
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class Exercise(models.Model):
    """A lab turned into a task: the template students get, instructions and checks."""

    course = models.ForeignKey(Course, on_delete=models.CASCADE, related_name="exercises")
    title = models.CharField(max_length=200)
    instructions = models.TextField(blank=True, default="")  # Markdown, rendered safely
    source_lab = models.ForeignKey(
        "lab.Lab", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The instructor's full topology (the solution), and the stripped copy students get.
    topology = models.JSONField()
    template = models.JSONField()
    preconfigure = models.JSONField(default=dict, blank=True)
    checks = models.JSONField(default=list, blank=True)
    # An unpublished exercise (a draft) is seen by its course's instructors only.
    published = models.BooleanField(default=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = "lab"
        ordering = ["course", "id"]

    def __str__(self) -> str:
        return f"{self.course}: {self.title}"


class ExerciseAttempt(models.Model):
    """A student's own copy of an exercise: a Lab owned by the student."""

    exercise = models.ForeignKey(Exercise, on_delete=models.CASCADE, related_name="attempts")
    student = models.ForeignKey(USER, on_delete=models.CASCADE, related_name="attempts")
    lab = models.OneToOneField("lab.Lab", on_delete=models.CASCADE, related_name="attempt")
    created = models.DateTimeField(auto_now_add=True)
    last_checked = models.DateTimeField(null=True, blank=True)

    class Meta:
        app_label = "lab"
        ordering = ["exercise", "student"]
        constraints = [
            models.UniqueConstraint(fields=["exercise", "student"], name="attempt_one_per_student")
        ]

    def __str__(self) -> str:
        return f"{self.student} on {self.exercise}"


class CheckStatus(models.Model):
    """The latest outcome of check ``index`` of an attempt, and when it last passed."""

    attempt = models.ForeignKey(ExerciseAttempt, on_delete=models.CASCADE, related_name="statuses")
    index = models.PositiveIntegerField()
    passed = models.BooleanField(default=False)
    message = models.TextField(blank=True, default="")
    hint = models.TextField(blank=True, default="")
    last_run = models.DateTimeField()
    last_pass = models.DateTimeField(null=True, blank=True)

    class Meta:
        app_label = "lab"
        ordering = ["attempt", "index"]
        constraints = [
            models.UniqueConstraint(fields=["attempt", "index"], name="check_status_unique")
        ]

    def __str__(self) -> str:
        return f"{self.attempt} check {self.index}: {'pass' if self.passed else 'fail'}"


class LoginToken(models.Model):
    """A one-time sign-in link's token; only its SHA-256 is stored."""

    user = models.ForeignKey(USER, on_delete=models.CASCADE, related_name="login_tokens")
    token_hash = models.CharField(max_length=64, unique=True)
    created = models.DateTimeField(auto_now_add=True)
    expires = models.DateTimeField()
    used = models.DateTimeField(null=True, blank=True)

    class Meta:
        app_label = "lab"
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"sign-in link for {self.user} (expires {self.expires:%Y-%m-%d %H:%M})"


class Reservation(models.Model):
    """A booked time slot for a lab on a lab host, counted in nodes against its capacity."""

    class State(models.TextChoices):
        BOOKED = "booked"
        ACTIVE = "active"
        ENDED = "ended"
        CANCELLED = "cancelled"

    HOLDING = (State.BOOKED, State.ACTIVE)

    user = models.ForeignKey(USER, on_delete=models.CASCADE, related_name="reservations")
    lab = models.ForeignKey("lab.Lab", on_delete=models.CASCADE, related_name="reservations")
    host = models.ForeignKey("lab.LabHost", on_delete=models.CASCADE, related_name="reservations")
    start = models.DateTimeField()
    end = models.DateTimeField()
    nodes = models.PositiveIntegerField()
    state = models.CharField(max_length=16, choices=State.choices, default=State.BOOKED)
    warned = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = "lab"
        ordering = ["start", "id"]
        indexes = [models.Index(fields=["host", "state", "start"])]

    def __str__(self) -> str:
        return f"{self.lab} {self.start:%Y-%m-%d %H:%M}-{self.end:%H:%M} ({self.state})"


class Quota(models.Model):
    """Limits for the members of a role (group) or the students of a course.

    A user under several quotas gets the smallest limit; a limit none of them sets is
    the site default (``TOPOLAB_QUOTA_*``). ``lab/quotas.py`` is the one rule using them.
    """

    group = models.ForeignKey(Group, null=True, blank=True, on_delete=models.CASCADE)
    course = models.ForeignKey(
        Course, null=True, blank=True, on_delete=models.CASCADE, related_name="quotas"
    )
    concurrent_labs = models.PositiveIntegerField(null=True, blank=True)
    nodes_per_lab = models.PositiveIntegerField(null=True, blank=True)
    labs_owned = models.PositiveIntegerField(null=True, blank=True)
    hours_per_week = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        app_label = "lab"
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(group__isnull=False) | models.Q(course__isnull=False),
                name="quota_has_scope",
            )
        ]

    def __str__(self) -> str:
        scope = f"role {self.group}" if self.group_id else f"course {self.course}"
        return f"quota for {scope}"


def _on_post_migrate(sender: Any, app_config: Any = None, **kwargs: Any) -> None:
    # Roles are data every installation needs; making them after migrate keeps
    # them present without a data migration (the lead writes the only migration).
    if app_config is None or app_config.label != "lab":
        return
    from lab.classroom.permissions import ensure_roles

    ensure_roles(using=kwargs.get("using", "default"))


post_migrate.connect(_on_post_migrate, dispatch_uid="topolab.classroom.ensure_roles")
