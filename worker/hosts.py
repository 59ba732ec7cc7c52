"""Lab hosts: who this host is, its heartbeat and facts, and which hosts are up.

Each worker keeps its ``LabHost`` row alive from a thread in the worker's main
process: name, underlay address, capacity in nodes, the link kinds its kernel
supports (from the engine's facts) and its load. A host whose heartbeat is
older than ``TOPOLAB_HOST_HEARTBEAT_TIMEOUT`` counts as down; the beat's
``check_hosts`` marks its labs ``unknown``.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

from lab.placement import HostInfo

logger = logging.getLogger(__name__)

HEARTBEAT_INTERVAL = float(os.environ.get("TOPOLAB_HEARTBEAT_INTERVAL", "5"))
ACTIVE_LAB_STATES = ("deploying", "running", "destroying", "unknown")


@dataclass(frozen=True)
class Identity:
    """This lab host as its worker was started (``python -m worker --host --underlay``)."""

    name: str
    underlay: str | None
    capacity: int


def identity() -> Identity:
    """Return this host's identity from the environment (set by ``python -m worker``)."""
    name = os.environ.get("TOPOLAB_HOST_NAME") or str(
        getattr(settings, "TOPOLAB_HOST_NAME", socket.gethostname().split(".")[0])
    )
    underlay = os.environ.get("TOPOLAB_UNDERLAY") or None
    capacity = int(
        os.environ.get("TOPOLAB_HOST_CAPACITY", str(getattr(settings, "TOPOLAB_MAX_NODES", 500)))
    )
    return Identity(name=name, underlay=underlay, capacity=capacity)


def link_kinds() -> list[str]:
    """Return the link kinds this host's kernel supports (the engine's facts).

    Falls back to the kinds every Linux lab host has when the engine's facts
    cannot be read, so a heartbeat is never lost to a facts bug; the executor
    still refuses a missing kind before touching anything.
    """
    try:
        from worker import facts

        detected = facts.detect()
        kinds = getattr(detected, "link_kinds", None) or getattr(detected, "kinds", None)
        if kinds is not None:
            return sorted(str(k) for k in kinds)
    except Exception:
        logger.exception("could not read host facts; reporting the basic link kinds")
    return ["bridge", "veth", "vxlan"]


def nodes_placed(exclude_lab: int | None = None) -> dict[str, int]:
    """Return ``{host: nodes of active labs it holds}`` (placement's load), in one pass.

    ``exclude_lab`` leaves out the lab being placed (it is "deploying" itself).
    """
    from lab.models import Lab

    totals: dict[str, int] = {}
    labs = Lab.objects.filter(state__in=ACTIVE_LAB_STATES).exclude(pk=exclude_lab)
    for lab in labs.select_related("host").only("id", "host__name", "placement"):
        nodes = (lab.placement or {}).get("nodes")
        if isinstance(nodes, dict) and nodes:
            for host in nodes.values():
                totals[host] = totals.get(host, 0) + 1
        elif lab.host is not None:
            rev = lab.latest_revision()
            count = len((rev.document or {}).get("nodes", [])) if rev else 0
            totals[lab.host.name] = totals.get(lab.host.name, 0) + count
    return totals


def beat_once(me: Identity, kinds: list[str] | None = None) -> None:
    """Write this host's heartbeat (creating its ``LabHost`` row on first beat)."""
    from lab.models import LabHost

    defaults: dict[str, object] = {
        "underlay_address": me.underlay,
        "capacity_nodes": me.capacity,
        "load": os.getloadavg()[0],
        "last_heartbeat": timezone.now(),
    }
    if kinds is not None:
        defaults["link_kinds"] = kinds
    LabHost.objects.update_or_create(name=me.name, defaults=defaults)


class Heartbeat(threading.Thread):
    """Beat every ``interval`` seconds until stopped; each beat also runs ``extra``."""

    def __init__(self, me: Identity, interval: float = HEARTBEAT_INTERVAL) -> None:
        super().__init__(name="topolab-heartbeat", daemon=True)
        self.me = me
        self.interval = interval
        self.stopped = threading.Event()
        self.kinds = link_kinds()
        self.extra: list[object] = []

    def run(self) -> None:
        """Beat until ``stop()``; a failed beat (database away) is logged and retried."""
        while not self.stopped.is_set():
            try:
                close_old_connections()
                beat_once(self.me, self.kinds)
                for job in self.extra:
                    if callable(job):
                        job()
            except Exception:
                logger.exception("heartbeat of %s failed", self.me.name)
            self.stopped.wait(self.interval)

    def stop(self) -> None:
        """Stop beating (the thread ends within one interval)."""
        self.stopped.set()


def up_hosts(exclude_lab: int | None = None) -> list[HostInfo]:
    """Return the lab hosts that are up, as placement values (load = nodes placed).

    ``exclude_lab``: the lab being placed, whose own nodes are not load.
    """
    from lab.models import LabHost

    limit = timezone.now() - timedelta(seconds=settings.TOPOLAB_HOST_HEARTBEAT_TIMEOUT)
    hosts = list(LabHost.objects.filter(last_heartbeat__gte=limit))
    loads = nodes_placed(exclude_lab) if hosts else {}
    return [
        HostInfo(
            name=h.name,
            underlay=h.underlay_address or "",
            capacity=h.capacity_nodes,
            load=loads.get(h.name, 0),
            kinds=frozenset(h.link_kinds or ()),
        )
        for h in hosts
    ]


def down_host_names() -> set[str]:
    """Return the names of lab hosts that missed their heartbeats."""
    from django.db.models import Q

    from lab.models import LabHost

    limit = timezone.now() - timedelta(seconds=settings.TOPOLAB_HOST_HEARTBEAT_TIMEOUT)
    rows = LabHost.objects.filter(Q(last_heartbeat__lt=limit) | Q(last_heartbeat__isnull=True))
    return set(rows.values_list("name", flat=True))
