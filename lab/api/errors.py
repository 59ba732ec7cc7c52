"""Every API error as ``{"code", "message", "issues"}``; never a traceback.

The handlers are registered on the NinjaAPI in ``lab/api/__init__.py``. The
``ErrorOut`` schema documents the shape in the OpenAPI description.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI, Schema
from ninja.errors import AuthenticationError, HttpError, ValidationError

from lab.api.body import REQUEST_ERROR_ATTR
from lab.services import ServiceError
from lab.throttle import TooManyAttempts
from lab.topology.load import format_path

logger = logging.getLogger(__name__)


class IssueOut(Schema):
    """One problem, naming the field it is about."""

    path: str
    code: str
    message: str
    hint: str = ""


class ErrorOut(Schema):
    """The body of every error response."""

    code: str
    message: str
    issues: list[IssueOut] = []
    # A failing import's warnings: what it found it could not carry, besides the errors.
    warnings: list[IssueOut] = []


def error_body(
    code: str, message: str, issues: list[dict[str, str]] | None = None
) -> dict[str, Any]:
    """Return the error shape as a dict."""
    return {"code": code, "message": message, "issues": issues or []}


def errors(*statuses: int) -> dict[int, type[ErrorOut]]:
    """Return the ``response=`` entries documenting error statuses of an operation."""
    return {status: ErrorOut for status in statuses}


# Where the request data came from, as ninja names it; dropped from paths.
_SOURCES = {"body", "query", "path", "header", "cookie", "form", "file"}


def validation_issue(error: dict[str, Any]) -> dict[str, str]:
    """Turn one of ninja's validation errors into an issue with a field path.

    ninja's ``loc`` is ``("body", "payload", "name")``; users know the field as ``name``.
    ``error["path_loc"]``, when present, is the location already stripped of the
    source and of the body parameter's own name (see ``TopolabAPI``).
    """
    loc = tuple(error.get("path_loc", error.get("loc", ())))
    if loc and loc[0] in _SOURCES:
        loc = loc[1:]
    path = format_path(tuple(p for p in loc if isinstance(p, int | str))) or "$"
    etype = str(error.get("type", "invalid"))
    hint = ""
    if etype == "missing" and path == "$":
        # ninja's way of saying the whole body is absent.
        return {
            "path": "$",
            "code": "request.empty_body",
            "message": "the request body is empty; send a JSON object",
            "hint": "",
        }
    if etype == "missing":
        hint = "this field is required"
    elif etype == "extra_forbidden":
        hint = "remove this field; the API does not know it"
    return {
        "path": path,
        "code": f"schema.{etype}",
        "message": str(error.get("msg", "")),
        "hint": hint,
    }


_WRITES = ("post", "put", "patch", "delete")
_COMMON_ERRORS = {
    "400": "the request is invalid: a parameter, the body or its content type",
    "401": "not signed in",
    "403": "the CSRF check failed",
    "413": "the request body is too large",
}


def document_common_errors(schema: dict[str, Any]) -> dict[str, Any]:
    """Add to every operation the error statuses the framework answers for it.

    Whatever an operation lists itself, ninja answers 400 for a path, query or body it
    cannot validate; session auth answers 401 and, on writes, 403 for a failed CSRF
    check; a POST whose form body cannot be parsed is 400 (``MalformedBodyMiddleware``);
    a body over the limit is 413. A 429 carries ``Retry-After``.
    """
    ref = {"$ref": "#/components/schemas/ErrorOut"}
    for operations in schema.get("paths", {}).values():
        for method, operation in operations.items():
            # Routers key their own statuses by int or by str; JSON makes both the same
            # key, and a duplicated key breaks Swagger UI ("duplicated mapping key").
            responses = {str(k): v for k, v in operation.get("responses", {}).items()}
            operation["responses"] = responses
            wanted: list[str] = []
            if operation.get("parameters") or operation.get("requestBody") or method == "post":
                wanted.append("400")
            if operation.get("security"):
                wanted.append("401")
                if method in _WRITES:
                    wanted.append("403")
            if operation.get("requestBody"):
                wanted.append("413")
            for status in wanted:
                responses.setdefault(
                    status,
                    {
                        "description": _COMMON_ERRORS[status],
                        "content": {"application/json": {"schema": ref}},
                    },
                )
            if "429" in responses:
                responses["429"].setdefault("headers", {})["Retry-After"] = {
                    "description": "seconds until the sign-in window ends",
                    "schema": {"type": "integer", "minimum": 1},
                }
    return schema


class TopolabAPI(NinjaAPI):
    """NinjaAPI whose validation errors carry field paths without ninja's wrapping, and
    whose OpenAPI description lists the error statuses every operation can answer."""

    def get_openapi_schema(
        self, *, path_prefix: str | None = None, path_params: dict[str, Any] | None = None
    ) -> Any:
        schema = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
        document_common_errors(schema)
        return schema

    def validation_error_from_error_contexts(self, error_contexts: list[Any]) -> ValidationError:
        exc = super().validation_error_from_error_contexts(error_contexts)
        # A single body schema parameter is nested under its own name ("payload"):
        # strip it so the path is the field the client sent.
        body_params: set[str] = set()
        for context in error_contexts:
            model = context.model
            if getattr(model, "__ninja_param_source__", None) == "body":
                flatten = getattr(model, "__ninja_flatten_map__", None)
                if not flatten:
                    body_params.update(model.model_fields.keys())
        for err in exc.errors:
            loc = tuple(err.get("loc", ()))
            if len(loc) >= 2 and loc[0] == "body" and loc[1] in body_params:
                err["path_loc"] = loc[2:]
        return exc


def _json(api: NinjaAPI, request: HttpRequest, body: dict[str, Any], status: int) -> HttpResponse:
    return api.create_response(request, body, status=status)


def install_handlers(api: NinjaAPI) -> None:
    """Register Topolab's exception handlers on ``api``."""

    def on_service_error(request: HttpRequest, exc: ServiceError) -> HttpResponse:
        response = _json(api, request, exc.as_dict(), exc.status)
        if isinstance(exc, TooManyAttempts):
            response["Retry-After"] = str(exc.retry_after)
        return response

    def on_validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
        issues = [validation_issue(err) for err in exc.errors]
        first = issues[0] if issues else None
        message = f"{first['path']}: {first['message']}" if first else "the request is invalid"
        return _json(api, request, error_body("request.invalid", message, issues), 400)

    def on_not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
        return _json(api, request, error_body("not_found", "not found"), 404)

    def on_authentication_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
        return _json(api, request, error_body("auth.required", "sign in first"), 401)

    def on_http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
        detail = getattr(request, REQUEST_ERROR_ATTR, None)
        if isinstance(detail, ServiceError):
            return on_service_error(request, detail)
        if exc.status_code == 403 and "csrf" in str(exc).lower():
            return _json(
                api,
                request,
                error_body(
                    "csrf.failed",
                    "CSRF check failed: send the X-CSRFToken header "
                    "(GET /api/auth/csrf sets the csrftoken cookie)",
                ),
                403,
            )
        code = {400: "request.invalid", 401: "auth.required", 403: "forbidden"}.get(
            exc.status_code, "http.error"
        )
        return _json(api, request, error_body(code, str(exc)), exc.status_code)

    def on_too_big(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
        # ninja reads request.body before its parser runs; Django refuses it here.
        return _json(
            api,
            request,
            error_body(
                "request.too_large",
                "the request body is too large",
                [
                    {
                        "path": "$",
                        "code": "request.too_large",
                        "message": "the body is larger than the server accepts",
                        "hint": "",
                    }
                ],
            ),
            413,
        )

    def on_unexpected(request: HttpRequest, exc: Exception) -> HttpResponse:
        if isinstance(exc, RecursionError):
            return _json(
                api,
                request,
                error_body(
                    "request.too_deep",
                    "the request is nested too deeply",
                    [{"path": "$", "code": "request.too_deep", "message": "too deep", "hint": ""}],
                ),
                400,
            )
        logger.exception("unexpected error in %s %s", request.method, request.path)
        return _json(
            api,
            request,
            error_body("server.error", "an unexpected error occurred; it has been logged"),
            500,
        )

    handlers: list[tuple[type[Exception], Callable[..., HttpResponse]]] = [
        (ServiceError, on_service_error),
        (ValidationError, on_validation_error),
        (Http404, on_not_found),
        (AuthenticationError, on_authentication_error),
        (HttpError, on_http_error),
        (RequestDataTooBig, on_too_big),
        (Exception, on_unexpected),
    ]
    for exc_class, handler in handlers:
        api.add_exception_handler(exc_class, handler)
