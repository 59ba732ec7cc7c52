"""Pages outside the API: the built single-page app, its assets, static files, JSON errors.

The frontend is built by Vite into ``settings.FRONTEND_DIST``: ``index.html`` is
the page of every client-side route, hashed files under ``assets/`` are cached
forever. Until the frontend is built a small placeholder page says how to build it.
"""

from __future__ import annotations

import mimetypes
import posixpath
from pathlib import Path

from django.conf import settings
from django.contrib.staticfiles import finders
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    JsonResponse,
)
from django.views.csrf import csrf_failure as django_csrf_failure
from django.views.decorators.http import require_safe

from lab.api.errors import error_body

# Hashed file names change with their content: a year and immutable is safe.
ASSET_CACHE = "public, max-age=31536000, immutable"
# index.html names the current hashes: always revalidate.
INDEX_CACHE = "no-cache"
STATIC_CACHE = "public, max-age=3600"

CONTENT_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".json": "application/json",
    ".map": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".ico": "image/x-icon",
    ".wasm": "application/wasm",
    ".woff2": "font/woff2",
    ".woff": "font/woff",
    ".ttf": "font/ttf",
    ".txt": "text/plain; charset=utf-8",
    ".webmanifest": "application/manifest+json",
}

PLACEHOLDER = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Topolab</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family: sans-serif; max-width: 40em; margin: 3em auto">
<h1>Topolab</h1>
<p>The web interface is not built yet. Run <code>make frontend</code> (or <code>make run</code>),
then reload this page.</p>
<p>Meanwhile: the <a href="/api/docs">API documentation</a> and the
<a href="/admin/">admin</a> work.</p>
</body></html>
"""


def content_type_of(path: Path) -> str:
    """Return the Content-Type a file is served with."""
    known = CONTENT_TYPES.get(path.suffix.lower())
    if known:
        return known
    guessed, _ = mimetypes.guess_type(path.name)
    return guessed or "application/octet-stream"


def _inside(base: Path, relative: str) -> Path:
    """Return ``base / relative`` if it is a file inside ``base``.

    Raises:
        Http404: outside ``base`` (``..``, absolute paths) or not a file.
    """
    root = base.resolve()
    target = (root / relative).resolve()
    if root not in target.parents or not target.is_file():
        raise Http404("no such file")
    return target


def _file_response(path: Path, cache: str) -> HttpResponse:
    # Read whole: the build's files are small, and a sync file iterator under ASGI
    # is consumed chunk by chunk through a thread (Django warns about it).
    response = HttpResponse(path.read_bytes(), content_type=content_type_of(path))
    response["Cache-Control"] = cache
    return response


@require_safe
def spa(request: HttpRequest, route: str = "") -> HttpResponse:
    """Serve the single-page app's ``index.html`` for a client-side route."""
    index = Path(settings.FRONTEND_DIST) / "index.html"
    if index.is_file():
        response = HttpResponse(index.read_bytes(), content_type="text/html; charset=utf-8")
    else:
        response = HttpResponse(PLACEHOLDER, content_type="text/html; charset=utf-8")
    response["Cache-Control"] = INDEX_CACHE
    return response


@require_safe
def asset(request: HttpRequest, path: str) -> HttpResponse:
    """Serve a built file from ``FRONTEND_DIST/assets``.

    Raises:
        Http404: no such file.
    """
    return _file_response(_inside(Path(settings.FRONTEND_DIST) / "assets", path), ASSET_CACHE)


@require_safe
def dist_file(request: HttpRequest, name: str) -> HttpResponse:
    """Serve a top-level file of the build (``favicon.svg``, ``robots.txt``).

    Raises:
        Http404: no such file.
    """
    return _file_response(_inside(Path(settings.FRONTEND_DIST), name), STATIC_CACHE)


@require_safe
def static(request: HttpRequest, path: str) -> HttpResponseBase:
    """Serve ``/static/`` from the apps' static directories (admin, API docs).

    The ASGI server serves no files itself; these are few and small, so the
    staticfiles finders are enough (no collectstatic step, works offline).

    Raises:
        Http404: no such file.
    """
    # Found through the staticfiles finders and read whole (they are few and small). Not
    # through staticfiles' serve(): closing its FileResponse here would send
    # request_finished in the middle of this request, which closes the database.
    normalized = posixpath.normpath(path).lstrip("/")
    found = finders.find(normalized) if not normalized.startswith("..") else None
    if not found:
        raise Http404("no such file")
    return _file_response(Path(str(found)), STATIC_CACHE)


def api_not_found(request: HttpRequest, path: str = "") -> JsonResponse:
    """Answer an unknown ``/api/`` path in the API's error shape."""
    return JsonResponse(error_body("not_found", f"no API endpoint at {request.path}"), status=404)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """Django's CSRF failure view; JSON in the API's shape under ``/api/``."""
    if request.path.startswith("/api/"):
        return JsonResponse(
            error_body(
                "csrf.failed",
                "CSRF check failed: send the X-CSRFToken header "
                f"(GET /api/auth/csrf sets the csrftoken cookie): {reason}",
            ),
            status=403,
        )
    return django_csrf_failure(request, reason=reason)
