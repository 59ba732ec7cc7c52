"""Accounts: a user's own password, and the one-time sign-in link an admin issues.

A password change needs the current password, except in a session that a one-time
link opened less than ``LINK_GRACE`` ago (the way back for someone who forgot it) and
for an account that never had a usable password (a student made from a CSV). The
sessions of the account elsewhere end with the change (Django's session hash).
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError

from lab.services import InvalidInput, NotAuthenticated
from lab.topology import Issue

# Where a one-time link's sign-in leaves its time in the session.
LINK_SESSION_KEY = "topolab.link_signed_in_at"
LINK_GRACE = 3600.0
# A link for a forgotten password is used at once; a student's enrolment link lasts 7 days.
RECOVERY_LINK_TTL = timedelta(hours=24)


def do_issue_recovery_link(user: Any, ttl: timedelta = RECOVERY_LINK_TTL) -> str:
    """Issue a one-time sign-in link (a page path) for ``user``, who forgot their password.

    For admins only: ``manage.py topolab_login_link`` and the user admin's action call it.
    """
    from lab.classroom.services import do_issue_login_token, login_link

    return login_link(do_issue_login_token(user, ttl))


def mark_link_session(session: Any, now: float | None = None) -> None:
    """Record in ``session`` that a one-time link opened it (now)."""
    session[LINK_SESSION_KEY] = time.time() if now is None else now


def current_password_needed(user: Any, session: Any, now: float | None = None) -> bool:
    """Return whether changing ``user``'s password must prove the current one.

    Raises:
        NotAuthenticated: anonymous.
    """
    if not getattr(user, "is_authenticated", False):
        raise NotAuthenticated("sign in first")
    if not user.has_usable_password():
        return False
    opened = session.get(LINK_SESSION_KEY)
    moment = time.time() if now is None else now
    return not (isinstance(opened, int | float) and 0 <= moment - opened <= LINK_GRACE)


def check_current_password(user: Any, password: str | None) -> bool:
    """Return whether ``password`` is ``user``'s current password (never raises)."""
    return isinstance(password, str) and bool(password) and bool(user.check_password(password))


def wrong_current_password() -> InvalidInput:
    """Return the refusal of a wrong (or missing) current password."""
    return InvalidInput(
        "the current password is wrong",
        code="auth.wrong_password",
        issues=[Issue("current_password", "auth.wrong_password", "the current password is wrong")],
    )


def do_set_password(user: Any, new_password: str, session: Any) -> None:
    """Give ``user`` the password ``new_password`` after the validators accept it.

    Ends the session's link grace: the next change needs the new password.

    Raises:
        InvalidInput: ``password.invalid`` with one issue per validator that refuses it,
            each at ``new_password``.
    """
    try:
        password_validation.validate_password(new_password, user)
    except ValidationError as exc:
        messages = list(exc.messages)
        raise InvalidInput(
            messages[0],
            code="password.invalid",
            issues=[Issue("new_password", "password.invalid", m) for m in messages],
        ) from None
    user.set_password(new_password)
    user.save(update_fields=["password"])
    session.pop(LINK_SESSION_KEY, None)
