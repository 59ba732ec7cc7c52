"""The one door into a topology: parse, check shape, check meaning, report everything."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from .errors import Issue, TopologyError
from .limits import Limits
from .schema import LINK_KINDS as _LINK_KINDS
from .schema import Topology
from .validate import validate


def format_path(loc: tuple[int | str, ...]) -> str:
    """Turn a pydantic location into the document path users read (``links[3].b``)."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path


def _strip_union_tags(loc: tuple[int | str, ...], data: Any) -> tuple[int | str, ...]:
    """Drop the discriminator tags pydantic puts in union locations (``links.0.veth.a``)."""
    out: list[int | str] = []
    node = data
    for part in loc:
        if isinstance(node, dict):
            if isinstance(part, str) and part in node:
                out.append(part)
                node = node[part]
                continue
            if isinstance(part, str) and (
                node.get("kind") == part or ("kind" not in node and part in _LINK_KINDS)
            ):
                continue  # the union tag, not a field
            out.append(part)
            node = None
        elif isinstance(node, list | tuple) and isinstance(part, int) and part < len(node):
            out.append(part)
            node = node[part]
        else:
            if isinstance(part, str) and (
                part.endswith("]") or part.startswith(("function-", "tagged-union"))
            ):
                continue
            out.append(part)
            node = None
    return tuple(out)


def _schema_sentence(path: str, etype: str, msg: str, ctx: Any) -> tuple[str, str]:
    """Return a sentence naming the field, and a hint, for one pydantic error."""
    ctx = ctx if isinstance(ctx, dict) else {}
    if etype == "missing":
        return f"{path} is required but missing", ""
    if etype == "extra_forbidden":
        return f"{path} is not a field Topolab knows", ""
    if etype == "union_tag_invalid":
        return f"{path} has kind {ctx.get('tag')!r}, which is not a link kind Topolab knows", ""
    if etype == "union_tag_not_found":
        return f"{path} has no kind", 'add kind, e.g. "veth"'
    if etype == "literal_error":
        return (
            f"{path} is not allowed here",
            f"use {ctx.get('expected', 'one of the listed values')}",
        )
    if etype in ("int_parsing", "int_type", "int_from_float"):
        return f"{path} must be a whole number", ""
    if etype in ("tuple_type", "list_type"):
        return f"{path} must be a list", "write [...] here"
    if etype in ("model_type", "dict_type", "model_attributes_type"):
        return f"{path} must be an object", "write {...} here"
    if etype == "string_type":
        return f"{path} must be text", ""
    if etype in ("too_long", "too_short", "string_too_long", "string_too_short"):
        return f"{path}: {msg[:1].lower()}{msg[1:]}", ""
    if etype.startswith(("greater_than", "less_than")):
        return f"{path}: {msg[:1].lower()}{msg[1:]}", "pick a value in the allowed range"
    if etype == "value_error":
        return f"{path}: {msg.removeprefix('Value error, ')}", ""
    return f"{path}: {msg[:1].lower()}{msg[1:]}", ""


def issues_from_validation_error(exc: ValidationError, data: Any) -> list[Issue]:
    """Translate pydantic's errors into ``Issue`` values with document paths."""
    issues: list[Issue] = []
    seen_ip_paths: set[str] = set()
    for err in exc.errors(include_url=False):
        loc = _strip_union_tags(tuple(err["loc"]), data)
        etype = err["type"]
        hint = ""
        if etype == "extra_forbidden":
            hint = "remove this field; the schema does not know it"
        elif etype == "missing":
            hint = "this field is required"
        elif etype == "union_tag_invalid":
            hint = "kind is one of: " + ", ".join(sorted(_LINK_KINDS))
        path = format_path(loc) or "$"
        if etype.startswith(("ip_v4_", "ip_v6_")):
            # A union of IPv4 and IPv6 reports twice; say it once.
            if path in seen_ip_paths:
                continue
            seen_ip_paths.add(path)
            what = etype.split("_", 3)[-1]
            issues.append(
                Issue(
                    path,
                    f"schema.ip_{what}",
                    f"{path}: {str(err.get('input'))[:64]!r} is not "
                    + (
                        "an IPv4 or IPv6 address with a prefix length"
                        if what == "interface"
                        else f"a valid IPv4 or IPv6 {what}"
                    ),
                    "for example 10.0.0.1/24 or 2001:db8::1/64"
                    if what == "interface"
                    else "for example 10.0.0.1 or 2001:db8::1",
                )
            )
            continue
        message, better_hint = _schema_sentence(path, etype, str(err["msg"]), err.get("ctx"))
        issues.append(Issue(path, f"schema.{etype}", message, hint or better_hint))
    return issues


def load_topology(data: Any, limits: Limits | None = None) -> Topology:
    """Parse and validate a topology document (a dict from JSON or YAML).

    Raises:
        TopologyError: carrying every problem found, each with its path and code.
    """
    if not isinstance(data, dict):
        raise TopologyError(
            [Issue("$", "schema.not_an_object", "a topology is a JSON/YAML object")]
        )
    try:
        topology = Topology.model_validate(data)
    except ValidationError as exc:
        raise TopologyError(issues_from_validation_error(exc, data)) from None
    except RecursionError:
        raise TopologyError(
            [Issue("$", "schema.too_deep", "the document is nested too deeply")]
        ) from None
    problems = validate(topology, limits or Limits())
    if problems:
        raise TopologyError(problems)
    return topology
