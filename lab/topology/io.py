"""Topology documents as text: JSON and YAML in, JSON and YAML out.

``loads`` parses text and hands the result to ``load_topology``; everything
that can go wrong (bad syntax, a list where a mapping belongs, a document so
large or so deep it would tie up the server) becomes a ``TopologyError``
with issues, never a traceback. ``dumps`` leaves defaults out so files stay
short, and writes endpoints as ``"node:interface"``; ``loads(dumps(t)) == t``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
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
# Elements YAML aliases may add (each use counts its target, expanded): room for anchors
# shared by hundreds of nodes, not for a "billion laughs" document of a few lines.
MAX_ALIAS_ELEMENTS = 20_000
_MERGE_TAG = "tag:yaml.org,2002:merge"

_ENDPOINT_FIELDS = ("a", "b", "endpoint", "parent")


class DuplicateKeyError(ValueError):
    """A JSON object or YAML mapping names the same key twice."""

    def __init__(self, key: object, where: str = "") -> None:
        super().__init__(f"the key {key!r} appears twice in one object{where}")
        self.key = key


def unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``object_pairs_hook`` for ``json.loads`` that refuses a key given twice.

    Python's ``json`` keeps the last value silently; a document whose meaning
    depends on which copy wins is refused instead.

    Raises:
        DuplicateKeyError: naming the key.
    """
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise DuplicateKeyError(key)
        out[key] = value
    return out


def _syntax_issue(code: str, message: str, hint: str) -> TopologyError:
    return TopologyError([Issue("$", code, message, hint)])


class _GuardedLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that bounds a document while composing it, before expansion.

    Deep nesting is refused before construction, so a hostile document cannot
    exhaust the stack. Each node's size with aliases expanded is known once it is
    composed, so an alias use is charged its target's whole size there: a
    "billion laughs" document is refused after composing a few lines, never
    expanded. A mapping that names a key twice is refused (naming key and line).
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._sizes: dict[int, int] = {}
        self._alias_elements = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                raise _syntax_issue(
                    "syntax.too_deep",
                    f"the document is nested more than {MAX_DEPTH} levels deep "
                    f"(line {mark.line + 1})",
                    "a topology needs only a few levels; check the indentation",
                )
            alias = self.check_event(yaml.AliasEvent)  # type: ignore[no-untyped-call]
            line = self.peek_event().start_mark.line + 1  # type: ignore[no-untyped-call]
            node = super().compose_node(parent, index)
            if alias:
                size = self._sizes.get(id(node))
                if size is None:
                    raise _syntax_issue(
                        "syntax.yaml_alias",
                        f"a YAML alias at line {line} refers to a node that contains it",
                        "write the value out; a document cannot contain itself",
                    )
                self._alias_elements += size
                if self._alias_elements > MAX_ALIAS_ELEMENTS:
                    raise _syntax_issue(
                        "syntax.yaml_alias",
                        f"YAML aliases expand to more than {MAX_ALIAS_ELEMENTS} elements "
                        f"(line {line})",
                        "write repeated parts out, or use fewer aliases",
                    )
                return node
            size = 1
            if isinstance(node, yaml.SequenceNode):
                size += sum(self._sizes[id(child)] for child in node.value)
            elif isinstance(node, yaml.MappingNode):
                size += sum(self._sizes[id(k)] + self._sizes[id(v)] for k, v in node.value)
            if size > MAX_ELEMENTS:
                raise _too_big(f"more than {MAX_ELEMENTS} elements")
            self._sizes[id(node)] = size
            return node
        finally:
            self._depth -= 1

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        if isinstance(node, yaml.MappingNode):
            seen: set[Any] = set()
            for key_node, _ in node.value:
                if key_node.tag == _MERGE_TAG:
                    continue  # "<<" merges: its keys may be overridden on purpose
                key = self.construct_object(key_node, deep=True)  # type: ignore[no-untyped-call]
                try:
                    if key in seen:
                        raise DuplicateKeyError(key, f" (line {key_node.start_mark.line + 1})")
                    seen.add(key)
                except TypeError:
                    continue  # unhashable: SafeLoader refuses it with its own message
        return super().construct_mapping(node, deep)


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
            data = json.loads(text, object_pairs_hook=unique_keys)
        else:
            loader = _GuardedLoader(text)
            try:
                data = loader.get_single_data()
            finally:
                loader.dispose()
    except DuplicateKeyError as exc:
        raise TopologyError(
            [
                Issue(
                    "$",
                    "syntax.duplicate_key",
                    str(exc),
                    "keep one of them: which one was meant cannot be guessed",
                )
            ]
        ) from None
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


_CLAB_LINE = re.compile(r"(?m)^topology:[ \t]*(#.*)?$")


def _as_str(text: str | bytes) -> str:
    return text.decode("utf-8", "replace") if isinstance(text, bytes) else text


def import_text(
    text: str | bytes,
    fmt: str,
    limits: Limits | None = None,
    env: Mapping[str, str] | None = None,
    read_bind: Callable[[str], str | None] | None = None,
) -> tuple[Topology, list[Issue]]:
    """Import a document in any supported format (``json``, ``yaml``, ``clab``).

    The format is also told by content: a JSON or YAML document with a
    top-level ``topology`` mapping is a containerlab file, whatever its name
    (a Topolab document has no such field). ``env`` holds the values a
    containerlab file's ``${VAR}`` may use (none by default); ``read_bind`` reads
    its binds' files (see ``import_clab``).

    Returns the topology and the warnings about what could not be carried
    (only containerlab files produce warnings). Every format is validated; a
    containerlab file's issues name places in that file.

    Raises:
        TopologyError: when the text cannot be turned into a valid topology.
    """
    from .clab import import_clab, is_containerlab, is_go_template

    if fmt == "clab":
        return import_clab(text, env, limits, read_bind)
    try:
        data = parse_text(text, fmt)
    except TopologyError:
        # A Go template does not parse (import_clab says to render it first); a YAML
        # containerlab file read as JSON (a name without .yml) is still containerlab.
        if is_go_template(text) or (fmt == "json" and _CLAB_LINE.search(_as_str(text))):
            return import_clab(text, env, limits, read_bind)
        raise
    if is_containerlab(data):
        return import_clab(text, env, limits, read_bind)
    return load_topology(data, limits), []


def export_text(topology: Topology, fmt: str) -> str:
    """Export ``topology`` as ``json``, ``yaml`` or ``clab`` text.

    Raises:
        TopologyError: on an unknown format.
    """
    if fmt == "clab":
        from .clab_export import dumps_clab

        return dumps_clab(topology)
    return dumps(topology, fmt)
