"""The per-lab-part Redis lock: one order of a lab's part works at a time on its host.

The control plane admits one deployment per lab at a time; this lock keeps a
redelivered order, or a rollback, from running beside the order still at work
on the same part (its name is ``<lab key>@<host>``).

A plain ``SET NX PX`` lock with a token, refreshed by a thread while the holder
works. The refresh also takes the key back when Redis lost it (a Redis restart
drops every key), so a lab does not become free in the middle of a deploy.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from types import TracebackType

import redis

from lab.wire import TopolabError

logger = logging.getLogger(__name__)

LOCK_TTL_MS = 15_000
REFRESH_EVERY = 3.0
KEY_PREFIX = "topolab:lock:lab:"

# Keep the key when it is ours or when it vanished (Redis restarted); else report 0.
_REFRESH = """
local v = redis.call('get', KEYS[1])
if v == false or v == ARGV[1] then
  redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""

_client: redis.Redis[bytes] | None = None


def redis_url() -> str:
    """Return the Redis a lab host speaks to (``TOPOLAB_REDIS_URL``)."""
    return os.environ.get("TOPOLAB_REDIS_URL", "redis://127.0.0.1:6379/0")


def client() -> redis.Redis[bytes]:
    """Return the process's Redis client (``TOPOLAB_REDIS_URL``)."""
    global _client
    if _client is None:
        _client = redis.Redis.from_url(redis_url(), socket_timeout=5, socket_connect_timeout=5)
    return _client


class LockBusy(TopolabError):
    """The lab's lock is held by someone else; ``holder`` says who."""

    code = "lab.locked"

    def __init__(self, lab_id: int | str, holder: str) -> None:
        super().__init__(f"lab {lab_id} is locked by {holder}")
        self.lab_id = lab_id
        self.holder = holder


def lock_key(lab_id: int | str) -> str:
    """Return the Redis key of lab ``lab_id``'s lock."""
    return f"{KEY_PREFIX}{lab_id}"


def holder(lab_id: int | str) -> str | None:
    """Return who holds the lab's lock (``<owner>/<uuid>``), or None.

    Raises:
        redis.RedisError: Redis is unreachable.
    """
    value = client().get(lock_key(lab_id))
    return value.decode() if isinstance(value, bytes) else None


def release_stale(lab_id: int | str, prefix: str) -> bool:
    """Drop the lab's lock if its holder starts with ``prefix`` (a dead holder's).

    Raises:
        redis.RedisError: Redis is unreachable.
    """
    current = holder(lab_id)
    if current is None or not current.startswith(prefix):
        return False
    return bool(
        client().eval(_RELEASE, 1, lock_key(lab_id), current)  # type: ignore[no-untyped-call]
    )


class LabLock:
    """Hold lab ``lab_id``'s lock as ``owner`` (e.g. ``deployment:42``) while in the block."""

    def __init__(self, lab_id: int | str, owner: str) -> None:
        self.lab_id = lab_id
        self.owner = owner
        self.token = f"{owner}/{uuid.uuid4().hex}"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def acquire(self) -> None:
        """Take the lock.

        Raises:
            LockBusy: someone else holds it.
            redis.RedisError: Redis is unreachable.
        """
        ok = client().set(lock_key(self.lab_id), self.token, nx=True, px=LOCK_TTL_MS)
        if not ok:
            raise LockBusy(self.lab_id, holder(self.lab_id) or "someone (just released)")
        self._thread = threading.Thread(target=self._refresh_loop, daemon=True)
        self._thread.start()

    def _refresh_loop(self) -> None:
        while not self._stop.wait(REFRESH_EVERY):
            try:
                refreshed = client().eval(  # type: ignore[no-untyped-call]
                    _REFRESH, 1, lock_key(self.lab_id), self.token, LOCK_TTL_MS
                )
                if not refreshed:
                    logger.error("lost the lock of lab %s to %s", self.lab_id, holder(self.lab_id))
            except redis.RedisError:
                # Redis is away (restarting): try again next round.
                logger.warning("could not refresh the lock of lab %s", self.lab_id)

    def release(self) -> None:
        """Give the lock back (a lock Redis already lost is fine)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=REFRESH_EVERY + 1)
        try:
            client().eval(  # type: ignore[no-untyped-call]
                _RELEASE, 1, lock_key(self.lab_id), self.token
            )
        except redis.RedisError:
            logger.warning("could not release the lock of lab %s (expires by itself)", self.lab_id)

    def __enter__(self) -> LabLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
