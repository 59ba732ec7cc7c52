"""Exercise templates: the instructor's topology with the student's parts taken out.

Pure. ``preconfigure`` says what stays configured: ``addresses``, ``routes``
and ``forwarding`` (each true by default), for the nodes listed in ``nodes``
(every node when absent). What is not preconfigured is stripped, so the
student must add it.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from lab.topology.schema import Topology


class Preconfigure(BaseModel):
    """What of the listed nodes stays configured in the students' copies."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    addresses: bool = True
    routes: bool = True
    forwarding: bool = True
    nodes: Annotated[list[Annotated[str, Field(max_length=64)]], Field(max_length=4096)] | None = (
        None
    )


def make_template(topology: Topology, pre: Preconfigure) -> dict[str, Any]:
    """Return the document a student starts from (a plain dict, still to be validated)."""
    doc = topology.model_dump(mode="json")
    for node in doc["nodes"]:
        if pre.nodes is not None and node["name"] not in pre.nodes:
            continue
        if not pre.addresses:
            for iface in node.get("interfaces", []):
                iface["addresses"] = []
            for bridge in node.get("bridges", []):
                bridge["addresses"] = []
        if not pre.routes:
            node["routes"] = []
            node["gateway"] = None
            node["gateway6"] = None
        if not pre.forwarding:
            node["forwarding"] = False
    return doc
