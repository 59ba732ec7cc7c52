"""Fixtures of the web room: users, signed-in clients, labs, a private Redis for events."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from tests.conftest import RedisServer

VALID_DOC: dict[str, Any] = {
    "name": "pair",
    "nodes": [
        {"name": "h1", "interfaces": [{"name": "eth0", "addresses": ["10.0.0.1/24"]}]},
        {"name": "h2", "interfaces": [{"name": "eth0", "addresses": ["10.0.0.2/24"]}]},
    ],
    "links": [{"kind": "veth", "a": "h1:eth0", "b": "h2:eth0"}],
}


@pytest.fixture
def valid_doc() -> dict[str, Any]:
    """A small valid topology document (a fresh copy per test)."""
    return copy.deepcopy(VALID_DOC)


@pytest.fixture(autouse=True)
def _events_on_private_redis(redis_server: RedisServer, settings: Any) -> Iterator[None]:
    """Point events at the session's private Redis; hash test passwords fast; no throttle state."""
    # Test users sign in many times; PBKDF2's deliberate slowness is not under test.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.REDIS_URL = redis_server.url
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [redis_server.url], "capacity": 1500, "expiry": 30},
        }
    }
    # Sign-in attempt counters outlive a test in the shared Redis: each test starts clean.
    import redis

    from lab.throttle import KEY_PREFIX

    client = redis.Redis.from_url(redis_server.url)
    stale = list(client.scan_iter(f"{KEY_PREFIX}*"))
    if stale:
        client.delete(*stale)
    client.close()
    yield


@pytest.fixture
def make_user(db: None) -> Callable[[str], Any]:
    """Return a factory of users with password ``pw-<name>``."""

    def make(name: str) -> Any:
        return get_user_model().objects.create_user(name, password=f"pw-{name}")

    return make


@pytest.fixture
def alice(make_user: Callable[[str], Any]) -> Any:
    return make_user("alice")


@pytest.fixture
def bob(make_user: Callable[[str], Any]) -> Any:
    return make_user("bob")


@pytest.fixture
def alice_client(alice: Any) -> Client:
    """A session client signed in as alice (CSRF not enforced, as Django's test client)."""
    client = Client()
    client.force_login(alice)
    return client


@pytest.fixture
def bob_client(bob: Any) -> Client:
    client = Client()
    client.force_login(bob)
    return client


@pytest.fixture
def enqueued(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Replace the Celery hand-off with a recorder (API unit tests only: no worker)."""
    sent: list[int] = []
    monkeypatch.setattr("lab.services.enqueue_deployment", sent.append)
    return sent


def api(client: Client, method: str, path: str, body: Any = None, **extra: Any) -> Any:
    """Send a JSON request through the Django test client; return the response."""
    kwargs: dict[str, Any] = dict(extra)
    if body is not None:
        kwargs["data"] = body if isinstance(body, str | bytes) else json.dumps(body)
        kwargs["content_type"] = "application/json"
    return getattr(client, method.lower())(path, **kwargs)


@pytest.fixture
def alice_lab(alice_client: Client, valid_doc: dict[str, Any]) -> dict[str, Any]:
    """A lab of alice's with revision 1 (created through the API)."""
    response = api(alice_client, "POST", "/api/labs", {"name": "Alice lab", "topology": valid_doc})
    assert response.status_code == 201, response.content
    return dict(response.json())
