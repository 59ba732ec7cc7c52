"""Semantic validation of a topology: every problem at once, each with a path."""

from __future__ import annotations

from .errors import Issue
from .limits import Limits
from .schema import Topology


def validate(topology: Topology, limits: Limits) -> list[Issue]:
    """Return every semantic problem of ``topology`` (empty when it is valid)."""
    issues: list[Issue] = []
    if len(topology.nodes) > limits.max_nodes:
        issues.append(
            Issue(
                "nodes",
                "limit.too_many_nodes",
                f"{len(topology.nodes)} nodes is more than the limit of {limits.max_nodes}",
                "split the lab or ask an admin to raise the limit",
            )
        )
    return issues
