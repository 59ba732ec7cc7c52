"""ASGI entry point: HTTP through Django, websockets through Channels.

A websocket carries the session cookie, so its Origin check is its CSRF guard: the
Origin must be exactly (scheme, host and port) one of ``TOPOLAB_WS_ORIGINS`` or the
server's own origin, the Host the request names (when ``ALLOWED_HOSTS`` accepts it).
Channels' ``AllowedHostsOriginValidator`` compares host names only, so any page
served on another port of 127.0.0.1 could open a socket with the visitor's session.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlsplit

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lab.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import WebsocketDenier  # noqa: E402
from django.conf import settings  # noqa: E402
from django.http.request import split_domain_port, validate_host  # noqa: E402

from lab.consumers import websocket_urlpatterns  # noqa: E402

_DEFAULT_PORTS = {"http": 80, "https": 443}
# A websocket's scheme names the page scheme it pairs with.
_PAGE_SCHEME = {"ws": "http", "wss": "https", "http": "http", "https": "https"}

Origin = tuple[str, str, int]


def parse_origin(text: str) -> Origin | None:
    """Return ``(scheme, host, port)`` of an origin (``http://h:8000``), or None if it is not one.

    The scheme and host are lowercased; a missing port is the scheme's default. An
    origin has no user, path, query or fragment.
    """
    try:
        parts = urlsplit(text.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    if parts.username is not None or parts.path not in ("", "/") or parts.query or parts.fragment:
        return None
    return scheme, parts.hostname.lower(), port if port is not None else _DEFAULT_PORTS[scheme]


def own_origin(scope: dict[str, Any]) -> Origin | None:
    """Return the origin the request itself names (scheme and Host), if ALLOWED_HOSTS allows it."""
    host = ""
    for name, value in scope.get("headers", []):
        if name == b"host":
            host = value.decode("latin1")
    domain, _ = split_domain_port(host)
    if not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
        return None
    scheme = _PAGE_SCHEME.get(str(scope.get("scheme") or "ws"), "http")
    return parse_origin(f"{scheme}://{host}")


def origin_allowed(scope: dict[str, Any]) -> bool:
    """Return whether the websocket's Origin header equals an allowed origin exactly."""
    origins = [value for name, value in scope.get("headers", []) if name == b"origin"]
    if len(origins) != 1:
        return False
    origin = parse_origin(origins[0].decode("latin1"))
    if origin is None:
        return False
    allowed = {parse_origin(o) for o in settings.TOPOLAB_WS_ORIGINS}
    allowed.add(own_origin(scope))
    allowed.discard(None)
    return origin in allowed


class StrictOriginValidator:
    """Let a websocket through only when ``origin_allowed``; deny it otherwise."""

    def __init__(self, application: Any) -> None:
        self.application = application

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if scope["type"] == "websocket" and origin_allowed(scope):
            return await self.application(scope, receive, send)
        return await WebsocketDenier()(scope, receive, send)


application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": StrictOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
