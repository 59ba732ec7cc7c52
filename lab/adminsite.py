"""Topolab's Django admin site: for superusers only, with a throttled sign-in.

The admin shows every user's labs, attempts and courses with model-wide rights, so it
is not a place for instructors (who are not staff): the API's access rule is the only
way they reach anything. ``lab.apps.TopolabAdminConfig`` makes this the default site.
"""

from __future__ import annotations

from typing import Any

from django.contrib.admin import AdminSite
from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.utils.html import escape

from lab import throttle


class SuperuserAuthenticationForm(AdminAuthenticationForm):
    """The admin's sign-in form, refusing every account that is not an active superuser."""

    def confirm_login_allowed(self, user: Any) -> None:
        """Refuse accounts that are not superusers, with the form's usual message.

        Raises:
            ValidationError: inactive, or not a superuser.
        """
        super().confirm_login_allowed(user)
        if not user.is_superuser:
            raise ValidationError(
                self.error_messages["invalid_login"],
                code="invalid_login",
                params={"username": self.username_field.verbose_name},
            )


def _refusal(status: int, message: str, retry_after: int | None = None) -> HttpResponse:
    response = HttpResponse(
        f"<!doctype html><title>Topolab admin</title><p>{escape(message)}</p>",
        status=status,
        content_type="text/html; charset=utf-8",
    )
    if retry_after is not None:
        response["Retry-After"] = str(retry_after)
    return response


class TopolabAdminSite(AdminSite):
    """The admin site: superusers only; sign-in attempts count like the API's."""

    site_header = "Topolab administration"
    site_title = "Topolab admin"
    login_form = SuperuserAuthenticationForm

    def has_permission(self, request: HttpRequest) -> bool:
        """Return whether the request's user may use the admin: active superusers only."""
        user = request.user
        return bool(user.is_active and user.is_superuser)

    def login(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        """Django's admin sign-in, throttled per username and address (429 past the limit)."""
        if request.method != "POST":
            return super().login(request, extra_context)
        username = str(request.POST.get("username", ""))
        try:
            attempt = throttle.begin_attempt(request, username)
        except throttle.TooManyAttempts as exc:
            return _refusal(429, exc.message, exc.retry_after)
        except throttle.ThrottleUnavailable as exc:
            return _refusal(503, exc.message)
        response = super().login(request, extra_context)
        # Django's view redirects only after it signed the form's user in.
        signed_in = (
            response.status_code == 302
            and request.user.is_superuser
            and request.user.get_username() == username
        )
        throttle.end_attempt(attempt, succeeded=signed_in)
        return response
