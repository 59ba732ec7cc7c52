"""Structured problems found in a topology document.

Every problem carries the path of the element it names (``links[3].b``), a
stable machine code the client can branch on, a sentence for people and a hint.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass


@dataclass(frozen=True, slots=True)
class Issue:
    """One problem in a topology document."""

    path: str
    code: str
    message: str
    hint: str = ""

    def as_dict(self) -> dict[str, str]:
        """Return the issue as the API's JSON shape."""
        return asdict(self)


class TopologyError(ValueError):
    """A document that is not a valid topology; ``issues`` lists every problem.

    ``warnings`` holds what an import found before it failed (what it would not
    have carried), so a failing import still says all it knows.
    """

    code = "topology.invalid"

    def __init__(self, issues: list[Issue], warnings: Iterable[Issue] = ()) -> None:
        self.issues = list(issues)
        self.warnings = list(warnings)
        first = self.issues[0] if self.issues else None
        summary = f"{first.path}: {first.message}" if first else "invalid topology"
        more = f" (and {len(self.issues) - 1} more)" if len(self.issues) > 1 else ""
        super().__init__(f"{summary}{more}")
