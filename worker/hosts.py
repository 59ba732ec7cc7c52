"""This lab host: who it is (from its environment) and its heartbeat.

A lab host needs only its Redis URL (``TOPOLAB_REDIS_URL``), its name
(``TOPOLAB_HOST_NAME``) and its underlay address (``TOPOLAB_UNDERLAY``). A thread
in the worker's main process sends a heartbeat report every interval: name,
underlay address, capacity in nodes, the link kinds its kernel supports (from
the engine's facts), its load and the labs its kernel holds. The control plane
keeps the ``LabHost`` row from these; the first beat after a start asks it for
the orders that bring the host's labs back (reconcile) and a sweep of the rest.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass

from lab import wire
from worker.report import Reporter, next_seq

logger = logging.getLogger(__name__)

HEARTBEAT_INTERVAL = float(os.environ.get("TOPOLAB_HEARTBEAT_INTERVAL", "5"))
BASIC_KINDS = ("bridge", "veth", "vxlan")


@dataclass(frozen=True)
class Identity:
    """This lab host as its worker was started (``python -m worker --host --underlay``)."""

    name: str
    underlay: str | None
    capacity: int


def identity() -> Identity:
    """Return this host's identity from the environment (set by ``python -m worker``)."""
    name = os.environ.get("TOPOLAB_HOST_NAME") or socket.gethostname().split(".")[0]
    underlay = os.environ.get("TOPOLAB_UNDERLAY") or None
    capacity = int(
        os.environ.get("TOPOLAB_HOST_CAPACITY") or os.environ.get("TOPOLAB_MAX_NODES") or "500"
    )
    return Identity(name=name, underlay=underlay, capacity=capacity)


def link_kinds() -> list[str]:
    """Return the link kinds this host's kernel supports (the engine's facts).

    Falls back to the kinds every Linux lab host has when the facts cannot be
    read, so a heartbeat is never lost to a facts bug; the executor still
    refuses a missing kind before touching anything.
    """
    try:
        from worker.facts import detect

        return sorted(str(k) for k in detect().link_kinds)
    except Exception:
        logger.exception("could not read host facts; reporting the basic link kinds")
    return list(BASIC_KINDS)


def beat(
    me: Identity, kinds: list[str], labs: list[str], *, started: bool = False
) -> wire.HostBeat:
    """Return this host's heartbeat report."""
    return wire.HostBeat(
        host=me.name,
        seq=next_seq(),
        underlay=me.underlay,
        capacity=me.capacity,
        load=os.getloadavg()[0],
        kinds=tuple(kinds),
        labs=tuple(sorted(labs)),
        started=started,
    )


def _labs_present() -> list[str]:
    from worker.engine import Engine

    return list(Engine().labs_present())


class Heartbeat(threading.Thread):
    """Beat every ``interval`` seconds until stopped (the first beat says ``started``)."""

    def __init__(
        self,
        me: Identity,
        reporter: Reporter | None = None,
        interval: float = HEARTBEAT_INTERVAL,
        labs: Callable[[], list[str]] = _labs_present,
    ) -> None:
        super().__init__(name="topolab-heartbeat", daemon=True)
        self.me = me
        self.reporter = reporter or Reporter(me.name)
        self.interval = interval
        self.labs = labs
        self.stopped = threading.Event()
        self.kinds = link_kinds()

    def run(self) -> None:
        """Beat until ``stop()``; a failed beat (broker away) is logged and retried."""
        started = True
        while not self.stopped.is_set():
            try:
                report = beat(self.me, self.kinds, self.labs(), started=started)
                if self.reporter.send(report):
                    started = False
            except Exception:
                logger.exception("heartbeat of %s failed", self.me.name)
            self.stopped.wait(self.interval)

    def stop(self) -> None:
        """Stop beating (the thread ends within one interval)."""
        self.stopped.set()
