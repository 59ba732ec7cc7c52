"""Sign in, sign out, who am I, and the CSRF cookie (session auth, as Django does it)."""

from __future__ import annotations

from django.contrib.auth import authenticate, login, logout
from django.http import HttpRequest
from django.middleware.csrf import get_token
from ninja import Router, Status
from ninja.errors import HttpError
from ninja.utils import check_csrf

from lab.api.errors import errors
from lab.api.schemas import CsrfOut, LoginIn, UserOut
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


@router.post("/login", auth=None, response={200: UserOut, **errors(400, 403)})
def sign_in(request: HttpRequest, payload: LoginIn) -> UserOut:
    """Sign in with a username and password; starts a session (and rotates the CSRF token)."""
    require_csrf(request)
    user = authenticate(request, username=payload.username, password=payload.password)
    if user is None or not user.is_active:
        raise InvalidInput(
            "wrong username or password",
            code="auth.invalid_credentials",
            issues=[Issue("password", "auth.invalid_credentials", "wrong username or password")],
        )
    login(request, user)
    return _user_out(request)


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
