"""Limits a deployment configures; passed into validation as a value."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds a topology must respect (settings give the real numbers)."""

    max_nodes: int = 500
    max_links: int = 2000
    # A Linux bridge takes at most 1024 ports (BR_MAX_PORTS); a switch as large as a lab
    # (a star of TOPOLAB_MAX_NODES hosts) must fit, so the bound is the bridge's own.
    max_interfaces_per_node: int = 1024
