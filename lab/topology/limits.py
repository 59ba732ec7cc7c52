"""Limits a deployment configures; passed into validation as a value."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds a topology must respect (settings give the real numbers)."""

    max_nodes: int = 500
    max_links: int = 2000
    max_interfaces_per_node: int = 256
