"""The REST API (django-ninja) at /api/: session auth, CSRF, one error shape.

Every operation needs a signed-in session unless it says ``auth=None``; session
auth makes ninja run Django's CSRF check on every request it authenticates, and
``/auth/login`` and ``/auth/logout`` run it themselves. A failed check is
``403 {"code": "csrf.failed"}`` (safe methods are never checked). The check comes
before authentication, as in Django, so an anonymous write without a token is 403,
with a token 401. ``GET /api/auth/csrf`` sets the ``csrftoken`` cookie; clients
send it back as ``X-CSRFToken``. Django's own CSRF failures under ``/api/`` are
JSON too (``lab.views.csrf_failure``).

A room that adds endpoints writes ``lab/api/<area>.py`` with a ``router`` and adds
it to ``ROUTERS`` below; the ownership tests in ``tests/web/test_api_security.py``
pick new routes up from the OpenAPI description by themselves.
"""

from __future__ import annotations

from ninja.openapi.docs import Swagger
from ninja.security import django_auth

from lab.api import archive, auth, conditioning, demos, labs, nodes, telemetry, topology
from lab.api.body import CheckedJSONParser
from lab.api.errors import TopolabAPI, install_handlers
from lab.classroom import api as classroom_api
from lab.classroom import templates_api

ROUTERS = [
    ("/auth", auth.router),
    ("", labs.router),
    ("", topology.router),
    ("", demos.router),
    ("", telemetry.router),
    ("", nodes.router),
    ("", archive.router),
    ("", conditioning.router),
    ("", classroom_api.router),
    ("", templates_api.router),
]

api = TopolabAPI(
    title="Topolab API",
    version="1",
    description=(
        "Labs, topologies and deployments. Errors are always "
        '`{"code", "message", "issues": [{"path", "code", "message", "hint"}]}`.'
    ),
    auth=django_auth,
    parser=CheckedJSONParser(),
    urls_namespace="api",
    # No validator badge: it would fetch from validator.swagger.io; docs work offline.
    docs=Swagger(settings={"validatorUrl": None, "persistAuthorization": False}),
)
install_handlers(api)
for prefix, router in ROUTERS:
    api.add_router(prefix, router)
