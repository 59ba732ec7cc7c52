"""Django admin for the control plane's records (read-mostly: the services own the writes)."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest

from lab.accounts import RECOVERY_LINK_TTL, do_issue_recovery_link
from lab.models import Deployment, Lab, LabHost, TopologyRevision, VniAllocation

User = get_user_model()
admin.site.unregister(User)


@admin.register(User)
class TopolabUserAdmin(UserAdmin):
    """Django's user admin, plus a one-time sign-in link for a forgotten password."""

    actions = ["issue_sign_in_link"]

    @admin.action(description="Issue a one-time sign-in link (forgotten password)")
    def issue_sign_in_link(self, request: HttpRequest, queryset: QuerySet) -> None:
        hours = int(RECOVERY_LINK_TTL.total_seconds() // 3600)
        for user in queryset:
            link = request.build_absolute_uri(do_issue_recovery_link(user))
            self.message_user(
                request, f"{user.get_username()}: {link} (one use, valid {hours} hours)"
            )


class RevisionInline(admin.TabularInline):
    model = TopologyRevision
    extra = 0
    fields = ("number", "created", "author")
    readonly_fields = ("number", "created", "author")
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Lab | None = None) -> bool:
        return False


@admin.register(Lab)
class LabAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "owner", "state", "host", "updated")
    list_filter = ("state", "host")
    search_fields = ("name", "owner__username")
    readonly_fields = ("lab_key", "created", "updated")
    raw_id_fields = ("owner",)
    inlines = [RevisionInline]

    @admin.display(description="lab key")
    def lab_key(self, obj: Lab) -> str:
        # An unsaved lab (the add form) has no primary key, hence no key yet.
        return obj.key if obj.pk else "-"


@admin.register(TopologyRevision)
class TopologyRevisionAdmin(admin.ModelAdmin):
    list_display = ("id", "lab", "number", "author", "created")
    list_filter = ("created",)
    search_fields = ("lab__name",)
    # A revision is history: never edited after the fact.
    readonly_fields = ("lab", "number", "document", "author", "created")


@admin.register(Deployment)
class DeploymentAdmin(admin.ModelAdmin):
    list_display = ("id", "lab", "action", "state", "host", "error_code", "created", "finished")
    list_filter = ("state", "action", "host")
    search_fields = ("lab__name", "error_code", "celery_task_id")
    # The worker writes the record; an admin reads it.
    readonly_fields = (
        "lab",
        "revision",
        "action",
        "state",
        "error_code",
        "error_message",
        "failed_op",
        "progress_done",
        "progress_total",
        "progress_step",
        "plan",
        "log",
        "created",
        "started",
        "finished",
        "celery_task_id",
        "host",
        "requested_by",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(LabHost)
class LabHostAdmin(admin.ModelAdmin):
    list_display = ("name", "underlay_address", "capacity_nodes", "load", "last_heartbeat", "up")
    list_filter = ("last_heartbeat",)
    search_fields = ("name",)
    readonly_fields = ("last_heartbeat", "load")

    @admin.display(boolean=True, description="up")
    def up(self, obj: LabHost) -> bool:
        return obj.is_up


@admin.register(VniAllocation)
class VniAllocationAdmin(admin.ModelAdmin):
    list_display = ("lab", "link_index", "host", "peer", "vni")
    list_filter = ("host",)
    # The orchestration allocates these; editing one by hand would break a stitch.
    readonly_fields = ("lab", "link_index", "host", "peer", "vni")


import lab.classroom.admin  # noqa: E402,F401
