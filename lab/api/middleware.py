"""Keep the error shape under /api/ even for responses ninja never saw.

A 405 from ninja's method dispatch, a 400 from Django's request checks, a 404
for an unknown path or a 500 from a crash below the API all leave the API as
``{"code", "message", "issues"}`` JSON, never an HTML page or a traceback.
A form body Django cannot parse (``multipart/form-data`` without a boundary, a
broken part) is a 400 before the CSRF check or any view reads it.
"""

from __future__ import annotations

from collections.abc import Callable

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.http.multipartparser import MultiPartParserError

from lab.api.body import FORM_CONTENT_TYPES
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


class MalformedBodyMiddleware:
    """Answer 400 ``request.bad_content_type`` to a POST whose form body cannot be parsed.

    Django parses form bodies lazily, the first time something reads ``request.POST``;
    the CSRF check does so on every POST, and ``MultiPartParserError`` escaping from
    there was a 500. Parsing here, first, turns it into a clear refusal (JSON in the
    API's shape under ``/api/``).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if request.method == "POST" and request.content_type in FORM_CONTENT_TYPES:
            try:
                # The raw bytes first: parsing the form from them keeps request.body
                # readable, so a JSON view still answers "not JSON" itself.
                request.body  # noqa: B018
            except RequestDataTooBig:
                return self.get_response(request)  # refused where the size is reported
            try:
                request.POST  # noqa: B018 - parse now, where the error can be answered
            except MultiPartParserError as exc:
                return _bad_body(request, str(exc))
        return self.get_response(request)


def _bad_body(request: HttpRequest, reason: str) -> HttpResponse:
    message = (
        f"the {request.content_type} body cannot be parsed ({reason}); "
        "the API takes application/json"
    )
    if request.path.startswith("/api/"):
        issue = {
            "path": "$",
            "code": "request.bad_content_type",
            "message": message,
            "hint": "send Content-Type: application/json with a JSON body",
        }
        return JsonResponse(error_body("request.bad_content_type", message, [issue]), status=400)
    return HttpResponse(message, status=400, content_type="text/plain; charset=utf-8")
