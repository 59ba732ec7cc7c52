"""Django admin for the classroom: courses, exercises, attempts, reservations, quotas."""

from __future__ import annotations

from django.contrib import admin

from lab.classroom.models import (
    CheckStatus,
    Course,
    Exercise,
    ExerciseAttempt,
    LoginToken,
    Quota,
    Reservation,
)


class ExerciseInline(admin.TabularInline):
    model = Exercise
    extra = 0
    fields = ("title", "source_lab", "created")
    readonly_fields = ("created",)
    show_change_link = True


class QuotaInline(admin.TabularInline):
    model = Quota
    extra = 0
    fields = ("concurrent_labs", "nodes_per_lab", "hours_per_week")


@admin.register(Course)
class CourseAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "created")
    search_fields = ("name",)
    filter_horizontal = ("instructors", "students")
    inlines = [ExerciseInline, QuotaInline]


@admin.register(Exercise)
class ExerciseAdmin(admin.ModelAdmin):
    list_display = ("id", "title", "course", "created")
    list_filter = ("course",)
    search_fields = ("title", "course__name")
    raw_id_fields = ("source_lab",)


class CheckStatusInline(admin.TabularInline):
    model = CheckStatus
    extra = 0
    readonly_fields = ("index", "passed", "message", "hint", "last_run", "last_pass")
    can_delete = False


@admin.register(ExerciseAttempt)
class ExerciseAttemptAdmin(admin.ModelAdmin):
    list_display = ("id", "exercise", "student", "lab", "last_checked")
    list_filter = ("exercise__course",)
    raw_id_fields = ("lab", "student")
    inlines = [CheckStatusInline]


@admin.register(Reservation)
class ReservationAdmin(admin.ModelAdmin):
    list_display = ("id", "lab", "user", "host", "start", "end", "nodes", "state")
    list_filter = ("state", "host")
    raw_id_fields = ("lab", "user")


@admin.register(Quota)
class QuotaAdmin(admin.ModelAdmin):
    list_display = ("id", "group", "course", "concurrent_labs", "nodes_per_lab", "hours_per_week")


@admin.register(LoginToken)
class LoginTokenAdmin(admin.ModelAdmin):
    # The token itself is never stored; the hash is useless to a reader.
    list_display = ("id", "user", "created", "expires", "used")
    readonly_fields = ("token_hash", "created", "used")
    raw_id_fields = ("user",)
