"""Sign in, sign out, who am I, the CSRF cookie and the password (session auth, as Django does it).

Signing in and changing the password are throttled (``lab/throttle.py``): past the
limit they answer 429 with ``Retry-After``.
"""

from __future__ import annotations

from django.contrib.auth import authenticate, login, logout, update_session_auth_hash
from django.http import HttpRequest
from django.middleware.csrf import get_token
from ninja import Field, Router, Status
from ninja.errors import HttpError
from ninja.utils import check_csrf

from lab import accounts, throttle
from lab.api.errors import errors
from lab.api.schemas import CsrfOut, LoginIn, StrictIn, UserOut
from lab.services import InvalidInput, NotAuthenticated
from lab.topology import Issue

router = Router(tags=["auth"])


def require_csrf(request: HttpRequest) -> None:
    """Apply Django's CSRF check to an operation without session auth.

    Raises:
        HttpError: 403 when the token is missing or wrong.
    """
    if check_csrf(request) is not None:
        raise HttpError(403, "CSRF check Failed")


def _user_out(request: HttpRequest) -> UserOut:
    user = request.user
    return UserOut(id=user.pk, username=user.get_username(), is_staff=bool(user.is_staff))


@router.get("/csrf", auth=None, response=CsrfOut)
def csrf(request: HttpRequest) -> CsrfOut:
    """Set the ``csrftoken`` cookie; send its value as ``X-CSRFToken`` on every write."""
    return CsrfOut(csrf_token=get_token(request))


class PasswordIn(StrictIn):
    current_password: str | None = Field(
        None,
        max_length=1024,
        description="required unless the session was opened by a one-time link within the "
        "hour, or the account has no password yet",
    )
    new_password: str = Field(..., min_length=1, max_length=1024)


@router.post("/login", auth=None, response={200: UserOut, **errors(400, 403, 429, 503)})
def sign_in(request: HttpRequest, payload: LoginIn) -> UserOut:
    """Sign in with a username and password; starts a session (and rotates the CSRF token).

    Throttled per username and per address: 429 with ``Retry-After`` past the limit.
    """
    require_csrf(request)
    attempt = throttle.begin_attempt(request, payload.username)
    user = authenticate(request, username=payload.username, password=payload.password)
    ok = user is not None and user.is_active
    throttle.end_attempt(attempt, succeeded=ok)
    if user is None or not ok:
        raise InvalidInput(
            "wrong username or password",
            code="auth.invalid_credentials",
            issues=[Issue("password", "auth.invalid_credentials", "wrong username or password")],
        )
    login(request, user)
    return _user_out(request)


@router.post("/password", response={204: None, **errors(400, 401, 403, 429, 503)})
def change_password(request: HttpRequest, payload: PasswordIn) -> Status[None]:
    """Change the signed-in user's password; their other sessions end, this one stays.

    The current password is checked (and throttled like a sign-in) unless the session
    was opened by a one-time link within the hour or the account has no password yet.
    """
    user = request.user
    if accounts.current_password_needed(user, request.session):
        attempt = throttle.begin_attempt(request, user.get_username())
        ok = accounts.check_current_password(user, payload.current_password)
        throttle.end_attempt(attempt, succeeded=ok)
        if not ok:
            raise accounts.wrong_current_password()
    accounts.do_set_password(user, payload.new_password, request.session)
    update_session_auth_hash(request, user)
    return Status(204, None)


@router.post("/logout", auth=None, response={204: None, **errors(403)})
def sign_out(request: HttpRequest) -> Status[None]:
    """End the session (a no-op when not signed in)."""
    require_csrf(request)
    logout(request)
    return Status(204, None)


@router.get("/me", auth=None, response={200: UserOut, **errors(401)})
def me(request: HttpRequest) -> UserOut:
    """Return the signed-in user, or 401."""
    if not request.user.is_authenticated:
        raise NotAuthenticated("sign in first")
    return _user_out(request)
