"""Topology documents as text: JSON and YAML in, JSON and YAML out.

``loads`` parses text and hands the result to ``load_topology``; everything
that can go wrong (bad syntax, a list where a mapping belongs, a document so
large or so deep it would tie up the server) becomes a ``TopologyError``
with issues, never a traceback. ``dumps`` leaves defaults out so files stay
short, and writes endpoints as ``"node:interface"``; ``loads(dumps(t)) == t``.
"""

from __future__ import annotations

import json
from typing import Any, Literal

import yaml

from .errors import Issue, TopologyError
from .limits import Limits
from .load import load_topology
from .schema import Topology

Format = Literal["json", "yaml"]
FORMATS: tuple[str, ...] = ("json", "yaml")

# A 500-node lab written by hand is well under 1 MiB; one with every static
# route spelled out (auto addressing expanded) can reach a few MiB. YAML gets
# less because PyYAML's guarded loader is pure Python and slow.
MAX_TEXT_BYTES = 8 * 1024 * 1024
MAX_YAML_BYTES = 2 * 1024 * 1024
MAX_DEPTH = 32  # the schema itself nests 6 deep
MAX_ELEMENTS = 1_500_000  # scalars + containers, counted with aliases expanded

_ENDPOINT_FIELDS = ("a", "b", "endpoint", "parent")


class _GuardedLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses documents nested too deeply while composing.

    Deep nesting is refused before construction, so a hostile document cannot
    exhaust the stack; alias expansion is bounded by ``_check_size`` afterwards.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                raise TopologyError(
                    [
                        Issue(
                            "$",
                            "syntax.too_deep",
                            f"the document is nested more than {MAX_DEPTH} levels deep "
                            f"(line {mark.line + 1})",
                            "a topology needs only a few levels; check the indentation",
                        )
                    ]
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


_LINE_BREAKS = frozenset("\x85\u2028\u2029")


class _Dumper(yaml.SafeDumper):
    """``yaml.SafeDumper`` that keeps odd line breaks and control characters intact.

    PyYAML may write NEL (U+0085) or U+2028 raw in a plain or block scalar,
    where a reader takes it for a line break; double quotes escape it.
    """


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    if any(ch in _LINE_BREAKS or (not ch.isprintable() and ch not in "\n") for ch in value):
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style='"')
    return dumper.represent_str(value)


_Dumper.add_representer(str, _represent_str)


def _too_big(what: str) -> TopologyError:
    return TopologyError(
        [
            Issue(
                "$",
                "syntax.too_large",
                f"the document is too large: {what}",
                "split the lab into smaller ones",
            )
        ]
    )


def _check_size(data: Any) -> None:
    """Refuse documents too deep or with too many elements (YAML aliases count each use)."""
    count = 0
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        count += 1
        if count > MAX_ELEMENTS:
            raise _too_big(f"more than {MAX_ELEMENTS} elements")
        if depth > MAX_DEPTH:
            raise TopologyError(
                [
                    Issue(
                        "$",
                        "syntax.too_deep",
                        f"the document is nested more than {MAX_DEPTH} levels deep",
                        "a topology needs only a few levels; check the structure",
                    )
                ]
            )
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values())
            stack.extend((k, depth + 1) for k in value)
        elif isinstance(value, list | tuple):
            stack.extend((v, depth + 1) for v in value)


def parse_text(text: str | bytes, fmt: str) -> dict[str, Any]:
    """Parse JSON or YAML text into a mapping, without interpreting it as a topology.

    Raises:
        TopologyError: on an unknown format, bad syntax, a document that is not a
            mapping, or one too large or too deep (issue codes ``syntax.*``).
    """
    fmt = {"yml": "yaml"}.get(fmt, fmt)
    if fmt not in FORMATS:
        raise TopologyError(
            [
                Issue(
                    "$",
                    "syntax.unknown_format",
                    f"unknown format {fmt!r}",
                    "use one of: " + ", ".join(FORMATS),
                )
            ]
        )
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise TopologyError(
                [
                    Issue(
                        "$",
                        "syntax.encoding",
                        f"the document is not UTF-8 text (byte {exc.start})",
                        "save the file as UTF-8",
                    )
                ]
            ) from None
    limit = MAX_TEXT_BYTES if fmt == "json" else MAX_YAML_BYTES
    if len(text.encode("utf-8", "surrogatepass")) > limit:
        raise _too_big(f"more than {limit // (1024 * 1024)} MiB of {fmt.upper()}")
    data: Any
    try:
        if fmt == "json":
            data = json.loads(text)
        else:
            loader = _GuardedLoader(text)
            try:
                data = loader.get_single_data()
            finally:
                loader.dispose()
    except json.JSONDecodeError as exc:
        raise TopologyError(
            [
                Issue(
                    "$",
                    "syntax.json",
                    f"not valid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}",
                    "check for a missing comma, quote or bracket there",
                )
            ]
        ) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark else ""
        raise TopologyError(
            [
                Issue(
                    "$",
                    "syntax.yaml",
                    f"not valid YAML{where}: {exc.problem or exc}",
                    "check the indentation and quoting there",
                )
            ]
        ) from None
    except yaml.YAMLError as exc:
        raise TopologyError(
            [Issue("$", "syntax.yaml", f"not valid YAML: {exc}", "check the file")]
        ) from None
    except RecursionError:
        raise TopologyError(
            [Issue("$", "syntax.too_deep", "the document is nested too deeply", "")]
        ) from None
    _check_size(data)
    if not isinstance(data, dict):
        kind = "empty" if data is None else type(data).__name__
        raise TopologyError(
            [
                Issue(
                    "$",
                    "schema.not_an_object",
                    f"a topology is a mapping (an object with name, nodes, links); "
                    f"this document is {kind}",
                    'start with {"name": "my-lab", "nodes": [], "links": []}',
                )
            ]
        )
    return data


def loads(text: str | bytes, fmt: str = "json", limits: Limits | None = None) -> Topology:
    """Parse a JSON or YAML topology document and validate it.

    Raises:
        TopologyError: listing every problem, from syntax to semantics.
    """
    return load_topology(parse_text(text, fmt), limits)


def to_data(topology: Topology) -> dict[str, Any]:
    """Return the document as plain JSON data, defaults left out, endpoints as strings."""
    data: dict[str, Any] = topology.model_dump(mode="json", exclude_defaults=True)
    for node in data.get("nodes", []):
        for bridge in node.get("bridges", []):
            bridge.setdefault("name", "br0")  # "- {}" reads badly; name the default
    for link in data.get("links", []):
        for fld in _ENDPOINT_FIELDS:
            ep = link.get(fld)
            if isinstance(ep, dict) and ":" not in ep.get("node", ":"):
                link[fld] = f"{ep['node']}:{ep['interface']}"
    return data


def dumps(topology: Topology, fmt: str = "json") -> str:
    """Write ``topology`` as JSON (indented) or YAML; ``loads`` reads it back equal.

    Raises:
        TopologyError: on an unknown format.
    """
    data = to_data(topology)
    fmt = {"yml": "yaml"}.get(fmt, fmt)
    if fmt == "json":
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    if fmt == "yaml":
        text: str = yaml.dump(
            data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, default_flow_style=False
        )
        return text
    raise TopologyError(
        [
            Issue(
                "$",
                "syntax.unknown_format",
                f"unknown format {fmt!r}",
                "use one of: " + ", ".join(FORMATS),
            )
        ]
    )


def import_text(
    text: str | bytes, fmt: str, limits: Limits | None = None
) -> tuple[Topology, list[Issue]]:
    """Import a document in any supported format (``json``, ``yaml``, ``clab``).

    Returns the topology and the warnings about what could not be carried
    (only containerlab files produce warnings). Every format is validated:
    a containerlab file whose converted lab has problems raises like JSON does
    (the issue paths then name the converted document).

    Raises:
        TopologyError: when the text cannot be turned into a valid topology.
    """
    if fmt == "clab":
        from .clab import import_clab

        topology, warnings = import_clab(text)
        # Same bar as JSON and YAML: what comes in is a valid topology.
        return load_topology(topology.model_dump(mode="json"), limits), warnings
    return loads(text, fmt, limits), []


def export_text(topology: Topology, fmt: str) -> str:
    """Export ``topology`` as ``json``, ``yaml`` or ``clab`` text.

    Raises:
        TopologyError: on an unknown format.
    """
    if fmt == "clab":
        from .clab import dumps_clab

        return dumps_clab(topology)
    return dumps(topology, fmt)
