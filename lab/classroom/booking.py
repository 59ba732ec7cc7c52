"""Capacity arithmetic for reservations: pure, over (start, end, nodes) intervals.

A host holds ``capacity`` nodes. Intervals are half-open ``[start, end)``, so a
slot ending at 10:00 and one starting at 10:00 never overlap. The load is a
step function that only changes at interval edges, so checking the edges inside
a window checks every minute of it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class Slot:
    """Nodes held on a host from ``start`` to ``end``."""

    start: datetime
    end: datetime
    nodes: int


def peak_load(slots: Iterable[Slot], start: datetime, end: datetime) -> int:
    """Return the most nodes held at any instant of ``[start, end)``."""
    inside = [s for s in slots if s.start < end and s.end > start]
    points = {start} | {s.start for s in inside if s.start > start}
    return max((sum(s.nodes for s in inside if s.start <= t < s.end) for t in points), default=0)


def fits(slots: Iterable[Slot], capacity: int, nodes: int, start: datetime, end: datetime) -> bool:
    """Return whether ``nodes`` more fit in ``[start, end)`` under ``capacity``."""
    return peak_load(slots, start, end) + nodes <= capacity


def next_free_slot(
    slots: Iterable[Slot],
    capacity: int,
    nodes: int,
    start: datetime,
    duration: timedelta,
) -> datetime | None:
    """Return the earliest start at or after ``start`` where ``nodes`` fit for ``duration``.

    Load only drops when a slot ends, so the candidates are ``start`` and every
    end after it. None when ``nodes`` exceeds the capacity itself.
    """
    if nodes > capacity:
        return None
    held = list(slots)
    candidates = sorted({start} | {s.end for s in held if s.end > start})
    for candidate in candidates:
        if fits(held, capacity, nodes, candidate, candidate + duration):
            return candidate
    return None  # unreachable: after the last end the host is empty
