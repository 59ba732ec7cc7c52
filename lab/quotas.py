"""The one quota rule: how much of the lab hosts one user may take.

Every path that makes a lab, copies one, stores a topology in one, imports one, books
one or runs one asks ``check_quota``: the API through ``lab/services.py`` (create,
duplicate, save topology, deploy, apply), topology import, exercise start and reset,
booking and extending a reservation, demo open, and ``manage.py topolab deploy --user``.
Nothing else counts usage or compares it with a limit.

The limits (``QUOTA_NAMES``), each counted per user:

- ``nodes_per_lab``: nodes in one lab's topology;
- ``concurrent_labs``: labs running or deploying at once (for a booking: labs booked in
  an overlapping slot);
- ``labs_owned``: labs the user owns;
- ``hours_per_week``: hours booked in one calendar week (bookings only).

A user's limit is the smallest one the quotas of their roles (groups) and of the courses
they take set; a limit none of those sets is the site default, ``TOPOLAB_QUOTA_<NAME>``
in settings (None there: no limit), which is all a user in no course has. Admins
(superusers and the ``admin`` role) are exempt, for their own labs and for any lab they
act on.

Race safety: a check that counts locks the owner's user row first (``SELECT ... FOR
UPDATE``), inside the transaction that then writes the lab, the deployment or the
reservation, so of concurrent requests for the last unit exactly one passes. On SQLite,
where FOR UPDATE is a no-op, every transaction begins IMMEDIATE (``lab/settings.py``):
the writer lock is held from the transaction's first statement, so the second request
counts after the first one committed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from lab.classroom.models import Quota, Reservation
from lab.classroom.permissions import is_admin
from lab.models import Lab
from lab.services import Conflict
from lab.topology import Issue

QUOTA_NAMES = ("concurrent_labs", "nodes_per_lab", "labs_owned", "hours_per_week")
# A lab in these states holds (or is about to hold) a lab host's namespaces.
RUNNING_STATES = (Lab.State.RUNNING, Lab.State.DEPLOYING)

Limits = dict[str, int | None]


@dataclass(frozen=True, kw_only=True)
class Refusal:
    """One limit a request goes past: ``usage`` is what the owner holds now (for
    ``nodes_per_lab``, the lab's nodes)."""

    name: str
    usage: float
    limit: int
    message: str
    path: str
    hint: str

    def issue(self) -> Issue:
        """Return the refusal as an issue of the API's error body."""
        return Issue(self.path, f"quota.{self.name}", self.message, self.hint)


class QuotaExceeded(Conflict):
    """A quota refuses the request (409).

    The code names the first limit gone past (``quota.nodes_per_lab``,
    ``quota.concurrent_labs``, ``quota.labs_owned``, ``quota.hours_per_week``); the
    issues list every one, and the body's ``quota`` holds the first one's ``name``,
    ``usage`` and ``limit`` for clients that branch on them.
    """

    code = "quota.exceeded"

    def __init__(self, refusals: list[Refusal]) -> None:
        first = refusals[0]
        super().__init__(
            first.message, code=f"quota.{first.name}", issues=[r.issue() for r in refusals]
        )
        self.refusals = refusals

    def as_dict(self) -> dict[str, Any]:
        """Return the API's error body with ``quota``: name, usage and limit."""
        body = super().as_dict()
        first = self.refusals[0]
        body["quota"] = {"name": first.name, "usage": first.usage, "limit": first.limit}
        return body


@dataclass(frozen=True, kw_only=True)
class Booking:
    """A slot a reservation would hold; ``exclude`` is the reservation being extended."""

    start: datetime
    end: datetime
    exclude: int | None = None


@dataclass(frozen=True, kw_only=True)
class Want:
    """What a request would take from its lab's owner, each part checked by the rule.

    ``nodes``: the node count the lab would have (issues at ``nodes_path``);
    ``new_lab``: the request makes one more lab; ``runs``: the id of a lab it starts
    running (not counted against itself); ``booking``: a slot it books.
    """

    nodes: int | None = None
    nodes_path: str = "nodes"
    new_lab: bool = False
    runs: int | None = None
    booking: Booking | None = None

    @property
    def counts(self) -> bool:
        """Whether checking it counts what the owner holds (and so must lock)."""
        return self.new_lab or self.runs is not None or self.booking is not None


def node_count(document: Any) -> int:
    """Return the number of nodes of a stored topology document (0 for no document)."""
    nodes = document.get("nodes") if isinstance(document, dict) else None
    return len(nodes) if isinstance(nodes, list) else 0


def default_limits() -> Limits:
    """Return the site's limits for what no role or course quota sets (settings)."""
    return {
        "concurrent_labs": settings.TOPOLAB_QUOTA_CONCURRENT_LABS,
        "nodes_per_lab": settings.TOPOLAB_QUOTA_NODES_PER_LAB,
        "labs_owned": settings.TOPOLAB_QUOTA_LABS_OWNED,
        "hours_per_week": settings.TOPOLAB_QUOTA_HOURS_PER_WEEK,
    }


def is_exempt(user: Any) -> bool:
    """Return whether no quota applies to ``user``: a superuser or an admin."""
    return is_admin(user)


def effective_limits(user: Any) -> Limits:
    """Return the user's limits (None: no limit).

    Each is the smallest value the quotas of the user's roles and courses set, or the
    site default when none sets it; admins have no limits.
    """
    if is_exempt(user):
        return dict.fromkeys(QUOTA_NAMES)
    rows = list(
        Quota.objects.filter(
            Q(group__in=user.groups.all()) | Q(course__in=user.courses_taken.all())
        )
    )
    defaults = default_limits()
    limits: Limits = {}
    for name in QUOTA_NAMES:
        values = [value for value in (getattr(row, name) for row in rows) if value is not None]
        limits[name] = min(values) if values else defaults[name]
    return limits


def check_quota(owner_id: int, want: Want, *, actor: Any = None) -> None:
    """Refuse ``want`` when it takes lab owner ``owner_id`` past a limit (the one rule).

    ``actor`` is who asks when it is not the owner (an instructor on a student's copy);
    an exempt actor or owner is never refused. When ``want`` counts usage, call this
    inside the transaction that then writes: the owner's row is locked before counting.

    Raises:
        QuotaExceeded: every limit the request goes past; the code names the first.
        RuntimeError: a counting check outside a transaction (a programming error: the
            count and the write could interleave with another request's).
    """
    if want.counts and not transaction.get_connection().in_atomic_block:
        raise RuntimeError("check_quota counts usage: call it inside transaction.atomic()")
    users = get_user_model().objects
    owner = (users.select_for_update() if want.counts else users).get(pk=owner_id)
    if is_exempt(owner) or (actor is not None and actor.pk != owner.pk and is_exempt(actor)):
        return
    refusals = _refusals(owner, want, effective_limits(owner))
    if refusals:
        raise QuotaExceeded(refusals)


def _over(
    name: str, usage: float, limit: int, *, held: str, unit: str, path: str, hint: str
) -> Refusal:
    # One wording for every limit: what the owner holds (or asks for), then the quota.
    message = f"{held}: the {name} quota is {limit} {unit}"
    return Refusal(name=name, usage=usage, limit=limit, message=message, path=path, hint=hint)


def _refusals(owner: Any, want: Want, limits: Limits) -> list[Refusal]:
    out: list[Refusal] = []
    limit = limits["nodes_per_lab"]
    if want.nodes is not None and limit is not None and want.nodes > limit:
        out.append(
            _over(
                "nodes_per_lab",
                want.nodes,
                limit,
                held=f"the lab has {want.nodes} nodes",
                unit="nodes per lab",
                path=want.nodes_path,
                hint="remove nodes, or ask an instructor or admin for a larger quota",
            )
        )
    limit = limits["labs_owned"]
    if want.new_lab and limit is not None:
        owned = Lab.objects.filter(owner=owner).count()
        if owned + 1 > limit:
            held, hint = f"{owned} labs owned", "delete a lab you no longer need"
            out.append(
                _over("labs_owned", owned, limit, held=held, unit="labs", path="lab", hint=hint)
            )
    limit = limits["concurrent_labs"]
    if want.runs is not None and limit is not None:
        running = Lab.objects.filter(owner=owner, state__in=RUNNING_STATES).exclude(pk=want.runs)
        hint = "destroy a running lab first"
        out.extend(
            _at_once(running.count(), limit, doing="running or deploying", path="lab", hint=hint)
        )
    if want.booking is not None:
        out.extend(_booking_refusals(owner, want.booking, limits))
    return out


def _at_once(others: int, limit: int, *, doing: str, path: str, hint: str) -> list[Refusal]:
    if others + 1 <= limit:
        return []
    held = f"{others} other labs {doing}"
    return [
        _over("concurrent_labs", others, limit, held=held, unit="at once", path=path, hint=hint)
    ]


def _week_bounds(moment: datetime) -> tuple[datetime, datetime]:
    day = moment.astimezone(timezone.get_current_timezone())
    start = (day - timedelta(days=day.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
    return start, start + timedelta(days=7)


def _hours(start: datetime, end: datetime) -> float:
    return max(0.0, (end - start).total_seconds() / 3600)


def _booking_refusals(owner: Any, booking: Booking, limits: Limits) -> list[Refusal]:
    out: list[Refusal] = []
    start, end = booking.start, booking.end
    mine = Reservation.objects.filter(user=owner, state__in=Reservation.HOLDING).exclude(
        pk=booking.exclude
    )
    limit = limits["concurrent_labs"]
    if limit is not None:
        overlapping = mine.filter(start__lt=end, end__gt=start).values("lab_id").distinct().count()
        hint = "book another time, or cancel a booking"
        out.extend(
            _at_once(overlapping, limit, doing="booked in that time", path="start", hint=hint)
        )
    limit = limits["hours_per_week"]
    if limit is not None:
        week_start, week_end = _week_bounds(start)
        used = sum(
            _hours(max(r.start, week_start), min(r.end, week_end))
            for r in mine.filter(start__lt=week_end, end__gt=week_start)
        )
        wanted = _hours(max(start, week_start), min(end, week_end))
        if used + wanted > limit:
            out.append(
                _over(
                    "hours_per_week",
                    used,
                    limit,
                    held=f"{used:g} h booked this week plus {wanted:g} h",
                    unit="h",
                    path="end",
                    hint="book a shorter slot, or one in another week",
                )
            )
    return out
