"""Reading JSON request bodies defensively: every refusal is a 400 naming a path.

``json.loads`` accepts things no later layer should see: nesting deep enough to
exhaust the stack, NUL characters (PostgreSQL refuses them in text and jsonb),
lone surrogates (not encodable as UTF-8, so no database stores them),
non-finite numbers (not JSON at all), and a key given twice in one object (it
keeps the last silently). They are refused here, at the edge.
"""

from __future__ import annotations

import json
import math
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest
from ninja.parser import Parser

from lab.services import InvalidInput, ServiceError
from lab.topology import Issue
from lab.topology.io import DuplicateKeyError, unique_keys

MAX_DEPTH = 48
# The bodies Django parses into request.POST; the API takes JSON only.
FORM_CONTENT_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")
# Where the parser leaves the precise reason for ninja's generic "cannot parse" error.
REQUEST_ERROR_ATTR = "_topolab_body_error"


def _path(parent: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{parent}[{key}]" if parent != "$" else f"[{key}]"
    return key if parent == "$" else f"{parent}.{key}"


def _bad_string(text: str) -> str | None:
    if "\x00" in text:
        return "holds a NUL character"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "holds a lone surrogate (not valid Unicode)"
    return None


def check_json_value(value: Any) -> None:
    """Refuse a parsed JSON value nobody downstream can store or validate safely.

    Walks iteratively, so depth is checked without recursion.

    Raises:
        InvalidInput: too deep, a NUL or lone surrogate in a string or key, or a
            non-finite number; the issue names the path (``nodes[0].name``).
    """
    stack: list[tuple[Any, str, int]] = [(value, "$", 0)]
    while stack:
        item, path, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise InvalidInput(
                f"the JSON is nested more than {MAX_DEPTH} levels deep",
                code="request.too_deep",
                issues=[
                    Issue(
                        path,
                        "request.too_deep",
                        f"nested more than {MAX_DEPTH} levels deep",
                        "a topology is a few levels deep; this looks like a mistake",
                    )
                ],
            )
        if isinstance(item, dict):
            for key, child in item.items():
                child_path = _path(path, key)
                why = _bad_string(key)
                if why:
                    raise _string_error(child_path, f"a key {why}")
                stack.append((child, child_path, depth + 1))
        elif isinstance(item, list):
            for index, child in enumerate(item):
                stack.append((child, _path(path, index), depth + 1))
        elif isinstance(item, str):
            why = _bad_string(item)
            if why:
                raise _string_error(path, f"the text {why}")
        elif isinstance(item, float) and not math.isfinite(item):
            raise InvalidInput(
                "a number is not finite",
                issues=[Issue(path, "request.bad_number", "NaN and Infinity are not JSON")],
            )


def _string_error(path: str, message: str) -> InvalidInput:
    return InvalidInput(
        message, code="request.bad_string", issues=[Issue(path, "request.bad_string", message)]
    )


def parse_json(raw: bytes) -> Any:
    """Parse a request body as JSON and check it with ``check_json_value``.

    Raises:
        InvalidInput: malformed JSON (the message names line and column), wrong
            encoding, too deep, or a bad string or number (naming the path).
    """
    if not raw.strip():
        raise InvalidInput(
            "the request body is empty; send a JSON document",
            code="request.empty_body",
            issues=[Issue("$", "request.empty_body", "the body is empty")],
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            "the body is not UTF-8",
            code="request.malformed_json",
            issues=[Issue("$", "request.not_utf8", f"byte {exc.start} is not UTF-8")],
        ) from None
    try:
        value = json.loads(text, parse_constant=_refuse_constant, object_pairs_hook=unique_keys)
    except DuplicateKeyError as exc:
        raise InvalidInput(
            str(exc),
            code="request.duplicate_key",
            issues=[
                Issue(
                    "$",
                    "request.duplicate_key",
                    str(exc),
                    "keep one of them: which one was meant cannot be guessed",
                )
            ],
        ) from None
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            f"the body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
            code="request.malformed_json",
            issues=[
                Issue(
                    "$",
                    "request.malformed_json",
                    f"{exc.msg} at line {exc.lineno} column {exc.colno}",
                )
            ],
        ) from None
    except ValueError as exc:  # NaN / Infinity
        raise InvalidInput(
            str(exc),
            code="request.malformed_json",
            issues=[Issue("$", "request.bad_number", str(exc))],
        ) from None
    except RecursionError:
        raise InvalidInput(
            "the JSON is nested too deeply",
            code="request.too_deep",
            issues=[Issue("$", "request.too_deep", f"nested more than {MAX_DEPTH} levels deep")],
        ) from None
    check_json_value(value)
    return value


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def read_json_body(request: HttpRequest) -> Any:
    """Read and parse the request's JSON body.

    Raises:
        ServiceError: 413 ``request.too_large`` when the body is over Django's limit.
        InvalidInput: ``request.bad_content_type`` for a form body (the API takes
            JSON only); otherwise see ``parse_json``.
    """
    if request.content_type in FORM_CONTENT_TYPES:
        raise InvalidInput(
            f"the body is {request.content_type}, not JSON",
            code="request.bad_content_type",
            issues=[
                Issue(
                    "$",
                    "request.bad_content_type",
                    f"a {request.content_type} body where JSON is expected",
                    "send Content-Type: application/json with a JSON body",
                )
            ],
        )
    try:
        raw = request.body
    except RequestDataTooBig:
        raise ServiceError(
            "the request body is too large",
            code="request.too_large",
            status=413,
            issues=[Issue("$", "request.too_large", "the body is larger than the server accepts")],
        ) from None
    return parse_json(raw)


def read_json_object(request: HttpRequest) -> dict[str, Any]:
    """Read the request's JSON body and insist it is an object.

    Raises:
        ServiceError: see ``read_json_body``.
        InvalidInput: the body is JSON but not an object (``$``).
    """
    value = read_json_body(request)
    if not isinstance(value, dict):
        raise InvalidInput(
            f"the body must be a JSON object, not {type(value).__name__}",
            code="request.not_an_object",
            issues=[Issue("$", "request.not_an_object", "expected a JSON object")],
        )
    return value


class CheckedJSONParser(Parser):
    """django-ninja's body parser with Topolab's checks.

    ninja wraps any parse failure as a bare ``HttpError(400)``; the precise error is
    left on the request for the API's error handler to report instead.
    """

    def parse_body(self, request: HttpRequest) -> dict[str, Any]:
        try:
            return read_json_object(request)
        except ServiceError as exc:
            setattr(request, REQUEST_ERROR_ATTR, exc)
            raise
