"""Keep the error shape under /api/ even for responses ninja never saw.

A 405 from ninja's method dispatch, a 400 from Django's request checks, a 404
for an unknown path or a 500 from a crash below the API all leave the API as
``{"code", "message", "issues"}`` JSON, never an HTML page or a traceback.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse

from lab.api.errors import error_body

_CODES = {
    400: ("request.invalid", "the request is invalid"),
    401: ("auth.required", "sign in first"),
    403: ("forbidden", "forbidden"),
    404: ("not_found", "not found"),
    405: ("method.not_allowed", "method not allowed"),
    413: ("request.too_large", "the request is too large"),
    500: ("server.error", "an unexpected error occurred; it has been logged"),
}


class ApiErrorShapeMiddleware:
    """Rewrite non-JSON error responses of ``/api/`` into the API's error shape."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        if (
            request.path.startswith("/api/")
            and response.status_code >= 400
            and not response.get("Content-Type", "").startswith("application/json")
            and not getattr(response, "streaming", False)
        ):
            code, message = _CODES.get(
                response.status_code,
                ("server.error" if response.status_code >= 500 else "request.invalid", "error"),
            )
            if response.status_code == 405 and isinstance(response, HttpResponse):
                message = (
                    f"{request.method} is not allowed here; allowed: {response.get('Allow', '')}"
                )
            shaped = JsonResponse(error_body(code, message), status=response.status_code)
            for header in ("Allow", "Vary"):
                if response.has_header(header):
                    shaped[header] = response[header]
            shaped.cookies = response.cookies
            return shaped
        return response
