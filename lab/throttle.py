"""Sign-in throttling: attempts counted in Redis per username and per address.

Every place that checks a secret a person types or holds (the API login, one-time link
redemption, the password change, ``/admin/login/``) brackets the check with
``begin_attempt`` and ``end_attempt``. An attempt is counted *before* the secret is
checked (``INCR``, atomic), so concurrent guesses cannot slip past the limit together;
a success takes its own count back. A counter's window starts with its first attempt
(``EXPIRE ... NX``) and is not moved by later ones: once a username or an address has
``N`` failures, every attempt, with the right password too, is refused with
``429 auth.throttled`` and ``Retry-After`` until that window ends.

Redis being unreachable refuses the sign-in (503): a limiter that cannot count does
not let guesses through uncounted.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import redis
from django.conf import settings
from django.http import HttpRequest

from lab.services import ServiceError
from lab.topology import Issue

KEY_PREFIX = "topolab:throttle:"

# DECR that never makes a key: a counter whose window ended between the attempt and its
# success must not come back as -1 without an expiry.
_TAKE_BACK = """
if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('DECR', KEYS[1]) end
return 0
"""


class TooManyAttempts(ServiceError):
    """Too many failed sign-ins for this username or address (429, ``Retry-After``)."""

    status = 429
    code = "auth.throttled"

    def __init__(self, retry_after: int) -> None:
        message = f"too many failed sign-in attempts; try again in {retry_after} seconds"
        super().__init__(message, issues=[Issue("$", self.code, message)])
        self.retry_after = retry_after


class ThrottleUnavailable(ServiceError):
    """The attempt counters cannot be reached, so no secret is checked (503)."""

    status = 503
    code = "auth.throttle_unavailable"


@dataclass(frozen=True)
class Attempt:
    """The counters one sign-in attempt was counted in (``end_attempt`` settles them)."""

    address_key: str
    user_key: str | None


def _redis() -> redis.Redis:
    # A client per attempt, closed after it: sign-ins are rare, and no pool outlives a
    # test that points REDIS_URL elsewhere.
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5, socket_connect_timeout=5)


def address_of(request: HttpRequest) -> str:
    """Return the client address the limiter counts (the socket's peer, never a header)."""
    return str(request.META.get("REMOTE_ADDR") or "unknown")


def user_key(username: str) -> str:
    """Return the Redis key counting attempts for ``username`` (case-folded, hashed)."""
    digest = hashlib.sha256(username.strip().casefold().encode("utf-8", "replace")).hexdigest()
    return f"{KEY_PREFIX}user:{digest[:32]}"


def address_key(address: str) -> str:
    """Return the Redis key counting attempts from ``address``."""
    return f"{KEY_PREFIX}addr:{address}"


def begin_attempt(request: HttpRequest, username: str | None) -> Attempt:
    """Count one sign-in attempt for the request's address and ``username``.

    Call before checking the secret; then call ``end_attempt`` with the outcome.

    Raises:
        TooManyAttempts: the address or the username is past its limit in this window.
        ThrottleUnavailable: Redis cannot be reached.
    """
    attempt = Attempt(address_key(address_of(request)), user_key(username) if username else None)
    limits = [(attempt.address_key, settings.TOPOLAB_LOGIN_MAX_FAILURES_PER_ADDRESS)]
    if attempt.user_key is not None:
        limits.append((attempt.user_key, settings.TOPOLAB_LOGIN_MAX_FAILURES_PER_USER))
    window = settings.TOPOLAB_LOGIN_WINDOW_SECONDS
    try:
        with _redis() as client:
            pipe = client.pipeline()
            for key, _ in limits:
                pipe.incr(key)
                pipe.expire(key, window, nx=True)
                pipe.ttl(key)
            replies = pipe.execute()
    except redis.RedisError as exc:
        raise ThrottleUnavailable(
            f"sign-in is unavailable: the attempt counter cannot be reached ({exc})"
        ) from exc
    waits = [
        max(int(replies[3 * i + 2]), 1)
        for i, (_, limit) in enumerate(limits)
        # The count includes this attempt: limit failures before it are the most allowed.
        if int(replies[3 * i]) > limit
    ]
    if waits:
        raise TooManyAttempts(max(waits))
    return attempt


def end_attempt(attempt: Attempt, *, succeeded: bool) -> None:
    """Settle an attempt: a failure stays counted; a success is taken back.

    A success clears the username's counter and removes its own count from the
    address's (other people behind the same address keep their failures counted).
    Redis errors here are ignored: the attempt was already counted.
    """
    if not succeeded:
        return
    try:
        with _redis() as client:
            client.eval(_TAKE_BACK, 1, attempt.address_key)
            if attempt.user_key is not None:
                client.delete(attempt.user_key)
    except redis.RedisError:
        return
