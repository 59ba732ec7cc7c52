"""The topology document's JSON Schema, for the editor and ``GET /api/topology/schema``.

Generated from the pydantic models, so it cannot drift from what
``load_topology`` accepts. It describes shape only; meaning (unknown nodes,
overlapping subnets, ...) is checked by ``validate.py``.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from .schema import SCHEMA_VERSION, Topology

SCHEMA_ID = f"https://topolab.invalid/schema/topology-v{SCHEMA_VERSION}.json"


@lru_cache(maxsize=1)
def _cached() -> dict[str, Any]:
    schema = Topology.model_json_schema(mode="validation")
    defs = schema.get("$defs", {})
    if "Endpoint" in defs:
        # The model also takes the "node:interface" shorthand (a before-validator
        # pydantic cannot see); say so, or the editor would flag valid documents.
        obj = defs["Endpoint"]
        defs["Endpoint"] = {
            "title": obj.get("title", "Endpoint"),
            "description": obj.get("description", ""),
            "anyOf": [
                {"type": "string", "pattern": "^[^:]+:.+$", "examples": ["h1:eth0"]},
                {k: v for k, v in obj.items() if k not in ("title", "description")},
            ],
        }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        **schema,
        "title": "Topolab topology",
        "description": (
            "A Topolab lab: nodes (hosts, routers, switches) with interfaces, and the links "
            "between them (veth, vxlan, macvlan, macvtap, tap, tun, ...). Endpoints may be "
            "written as 'node:interface'."
        ),
    }


def topology_json_schema() -> dict[str, Any]:
    """Return the JSON Schema (draft 2020-12) of a topology document (a fresh copy)."""
    import copy

    return copy.deepcopy(_cached())


__all__ = ["SCHEMA_ID", "topology_json_schema"]
