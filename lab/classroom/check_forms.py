"""The checks builder's form description, made from the check specs' own JSON Schema.

Pure. The page builds one form per check kind from this (pick a kind, a node, a
target) instead of asking for raw JSON; because it is derived from the pydantic
models in ``checks.py``, a kind or field added there shows in the builder as it is.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from pydantic import TypeAdapter

from lab.classroom.checks import CheckSpec

# Fields naming a node of the topology, and the one naming an interface of ``node``.
NODE_FIELDS = frozenset({"src", "node", "probe_src"})
INTERFACE_FIELD = "interface"
# Shown after the kind's own fields: they only word what students read.
LAST_FIELDS = ("title", "hint")
# Labels as an instructor reads them; a field not named here shows its schema title.
LABELS = {
    "src": "From node",
    "dst": "Target",
    "via": "Via gateway",
    "probe_src": "Probe from node",
    "probe_dst": "Probe target",
    "mtu": "MTU",
    "vni": "VNI",
    "expect": "Expect",
    "enabled": "Forwarding on",
    "title": "Title students see (optional)",
    "hint": "Hint shown when it fails",
}


def _field(name: str, prop: dict[str, Any], required: bool) -> dict[str, Any]:
    options = prop.get("anyOf", [prop])
    types = {o.get("type") for o in options}
    nullable = "null" in types
    out: dict[str, Any] = {
        "name": name,
        "label": LABELS.get(name, str(prop.get("title", name))),
        "required": required,
        "default": prop.get("default"),
    }
    enum = [v for o in options for v in o.get("enum", [])]
    if name in NODE_FIELDS:
        out["type"] = "node"
    elif name == INTERFACE_FIELD:
        out["type"] = "interface"
    elif types - {"null"} == {"boolean"}:
        out["type"] = "boolean"
    elif types - {"null"} == {"integer"}:
        bounded = next(o for o in options if o.get("type") == "integer")
        out.update(type="integer", min=bounded.get("minimum"), max=bounded.get("maximum"))
    elif enum and types - {"null"} == {"string"} and len(options) == 1 + nullable:
        out.update(type="choice", choices=enum)
    else:
        # Addresses, prefixes, free text; a few fixed words (``default``) as suggestions.
        formats = sorted({str(o["format"]) for o in options if "format" in o})
        out.update(type="text", formats=formats, suggestions=enum)
    return out


@lru_cache(maxsize=1)
def check_forms() -> list[dict[str, Any]]:
    """Return one form per check kind: ``kind``, ``description`` and its ``fields``
    (each ``name``, ``label``, ``type`` of node/interface/text/integer/boolean/choice,
    ``required``, ``default`` and, by type, ``min``/``max``, ``choices``, ``suggestions``)."""
    # An Annotated union is not a type to mypy; checks.py adapts it the same way.
    adapter: TypeAdapter[Any] = TypeAdapter(CheckSpec)  # type: ignore[arg-type]
    schema = adapter.json_schema()
    forms: list[dict[str, Any]] = []
    for ref in schema["oneOf"]:
        model = schema["$defs"][ref["$ref"].rsplit("/", 1)[-1]]
        props: dict[str, Any] = model["properties"]
        required = set(model.get("required", []))
        names = [n for n in props if n != "kind" and n not in LAST_FIELDS]
        names += [n for n in LAST_FIELDS if n in props]
        forms.append(
            {
                "kind": props["kind"]["const"],
                "description": " ".join(str(model.get("description", "")).split()).replace(
                    "``", ""
                ),
                "fields": [_field(n, props[n], n in required) for n in names],
            }
        )
    return forms
