"""The wire between the control plane (``lab/``) and lab hosts (``worker/``).

Pure and neutral: both sides import it, it imports only the pure topology
package. It holds everything the two sides must agree on:

- queue and task names (orders go to ``host.<name>``, reports to ``control``);
- the lab-key convention (``l<pk>``);
- the websocket event types and channel group names the agent publishes to;
- orders (control plane -> lab host): :class:`PartOrder`, with everything a host
  needs to build its part of a lab, so no lab host ever reads the database;
- reports (lab host -> control plane): typed payloads, each with the sending
  host and a sequence number. Per deployment and host the number only grows, so
  the control plane drops a replayed or duplicated report and applies a late
  one only when nothing newer came first;
- :class:`TopolabError`, the one error base with a ``code`` that both sides'
  errors derive from, so seams branch on types, not on attribute sniffing.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Final

from lab.topology.schema import Endpoint

# -- queues and tasks ----------------------------------------------------------------

CONTROL_QUEUE: Final = "control"
HOST_QUEUE_PREFIX: Final = "host."

# Orders, consumed by a lab host's worker on its own queue.
RUN_PART_TASK: Final = "worker.tasks.run_part"
SWEEP_HOST_TASK: Final = "worker.tasks.sweep_host"
RUN_CHECKS_TASK: Final = "worker.tasks_classroom.run_checks"
RUN_DEMO_TASK: Final = "worker.tasks_demos.run_demo"
CONTROL_SERVICE_TASK: Final = "worker.tasks_nodes.control_service"
SERVICES_STATUS_TASK: Final = "worker.tasks_nodes.services_status"
# Reports and periodic jobs, consumed by the control plane's worker (queue ``control``).
REPORT_TASK: Final = "lab.tasks.report"
CHECK_HOSTS_TASK: Final = "lab.tasks.check_hosts"
SWEEP_ALL_TASK: Final = "lab.tasks.sweep_all"
RESERVATIONS_TICK_TASK: Final = "lab.tasks.reservations_tick"


# What both sides' Celery apps agree on: JSON only, late acks (a message is acked when
# its task ends, and delivered again if the worker died), one message at a time.
CELERY_COMMON: Final[dict[str, Any]] = {
    "task_serializer": "json",
    "result_serializer": "json",
    "accept_content": ["json"],
    "task_acks_late": True,
    "task_reject_on_worker_lost": True,
    "worker_prefetch_multiplier": 1,
    "task_default_queue": CONTROL_QUEUE,
    "result_expires": 3600,
    "broker_connection_retry_on_startup": True,
    "worker_hijack_root_logger": False,
    "worker_send_task_events": False,
}


def host_queue(name: str) -> str:
    """Return the queue of lab host ``name`` (``host.<name>``)."""
    return f"{HOST_QUEUE_PREFIX}{name}"


# -- lab keys ------------------------------------------------------------------------

_KEY = re.compile(r"^l([1-9]\d*)$")


def _lab_id(lab_id: int) -> int:
    if isinstance(lab_id, bool) or not isinstance(lab_id, int) or lab_id <= 0:
        raise ValueError(f"a lab id is a positive integer, not {lab_id!r}")
    return lab_id


def lab_key(lab_id: int) -> str:
    """Return the kernel-side key of database lab ``lab_id`` (``l12``).

    Raises:
        ValueError: ``lab_id`` is not a positive integer.
    """
    return f"l{_lab_id(lab_id)}"


def lab_id_of(key: str) -> int | None:
    """Return the database id behind a lab key, or None for a key the CLI made."""
    match = _KEY.match(key)
    return int(match.group(1)) if match else None


# -- websocket events ----------------------------------------------------------------

DEPLOY_PROGRESS: Final = "deploy.progress"
DEPLOY_STATE: Final = "deploy.state"
LAB_STATE: Final = "lab.state"
COUNTERS: Final = "counters"
CAPTURE_LINES: Final = "capture.lines"
CAPTURE_STATE: Final = "capture.state"
JOURNEY_HOP: Final = "journey.hop"
JOURNEY_DONE: Final = "journey.done"
CONSOLE_CLOSED: Final = "console.closed"
RESERVATION_WARNING: Final = "reservation.warning"

EVENT_TYPES: Final = frozenset(
    {
        DEPLOY_PROGRESS,
        DEPLOY_STATE,
        LAB_STATE,
        COUNTERS,
        CAPTURE_LINES,
        CAPTURE_STATE,
        JOURNEY_HOP,
        JOURNEY_DONE,
        CONSOLE_CLOSED,
        RESERVATION_WARNING,
    }
)
# The channel-layer message type a consumer handles (``def lab_event(self, message)``);
# the websocket "type" travels inside as ``message["event"]["type"]``.
CHANNEL_MESSAGE_TYPE: Final = "lab.event"
SEQ_KEY_PREFIX: Final = "topolab:seq:"


def lab_group(lab_id: int) -> str:
    """Return the channel group of a lab (``lab.12``): ASCII, well under 100 characters.

    Raises:
        ValueError: ``lab_id`` is not a positive integer.
    """
    return f"lab.{_lab_id(lab_id)}"


def seq_key(lab_id: int) -> str:
    """Return the Redis key holding the lab's last event sequence number."""
    return f"{SEQ_KEY_PREFIX}{lab_id}"


# -- errors --------------------------------------------------------------------------


class TopolabError(Exception):
    """The one error base of both sides: a stable ``code``, a message for people, and
    the ``field`` of the input at fault when there is one."""

    code: str = "error"
    field: str = ""

    def __init__(self, message: str = "", code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return self.message


class WireError(TopolabError):
    """A message that does not decode: unknown type, missing or mistyped field."""

    code = "wire.invalid"


# -- values --------------------------------------------------------------------------

VXLAN_OVERHEAD: Final = 50  # outer Ethernet 14 + IPv4 20 + UDP 8 + VXLAN 8


@dataclass(frozen=True, kw_only=True)
class Stitch:
    """One side of a cut link on one host: the VXLAN device the engine makes there.

    The engine makes it in the host's underlay namespace (where its UDP socket
    must live), moves it into the node's namespace and names it as the interface.
    """

    endpoint: Endpoint
    vni: int
    local: str
    remote: str
    mtu: int
    peer: Endpoint

    def describe(self) -> str:
        """One line for the plan shown to users."""
        return (
            f"stitch {self.endpoint} <-> {self.peer} over VXLAN vni {self.vni} "
            f"{self.local} -> {self.remote}, mtu {self.mtu} "
            f"(lowered by {VXLAN_OVERHEAD} for the encapsulation)"
        )

    def to_json(self) -> dict[str, Any]:
        """Return the JSON form carried in an order."""
        return {
            "endpoint": str(self.endpoint),
            "vni": self.vni,
            "local": self.local,
            "remote": self.remote,
            "mtu": self.mtu,
            "peer": str(self.peer),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Stitch:
        """Rebuild a stitch from :meth:`to_json`'s form.

        Raises:
            WireError: a field is missing or has the wrong type.
        """
        try:
            return cls(
                endpoint=Endpoint.model_validate(data["endpoint"]),
                vni=_int(data["vni"], "vni"),
                local=str(data["local"]),
                remote=str(data["remote"]),
                mtu=_int(data["mtu"], "mtu"),
                peer=Endpoint.model_validate(data["peer"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise WireError(f"bad stitch: {exc}") from None


def _int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise WireError(f"{name} must be an integer, not {value!r}")
    return value


# -- orders: control plane -> lab host -----------------------------------------------


class Action:
    """What an order asks of a lab host."""

    DEPLOY: Final = "deploy"  # build the part; a (re)deploy runs the nodes' exec lines
    APPLY: Final = "apply"  # converge a running part to an edited revision
    DESTROY: Final = "destroy"  # remove the part (its nodes, or the whole lab)
    ROLLBACK: Final = "rollback"  # remove what a failed deploy built (reports only log)
    RECONCILE: Final = "reconcile"  # verify a running part after a restart, restart software
    ALL: Final = frozenset({DEPLOY, APPLY, DESTROY, ROLLBACK, RECONCILE})


@dataclass(frozen=True, kw_only=True)
class PartOrder:
    """Everything a lab host needs to build, edit, verify or remove its part of a lab.

    ``topology`` is the host's part (already auto-addressed for the whole lab, so
    every part agrees), ``foreign`` the lab's nodes other hosts build, ``nodes``
    the nodes a destroy removes (None: the whole lab), ``restore`` the part the
    lab ran before an apply (the host converges back to it when the apply fails).
    """

    deployment: int
    lab: int
    key: str
    action: str
    host: str
    revision: int | None = None
    topology: dict[str, Any] | None = None
    stitches: tuple[Stitch, ...] = ()
    foreign: tuple[str, ...] = ()
    nodes: tuple[str, ...] | None = None
    restore: dict[str, Any] | None = None
    restore_revision: int | None = None

    def to_json(self) -> dict[str, Any]:
        """Return the JSON form sent as the task's argument."""
        return {
            "deployment": self.deployment,
            "lab": self.lab,
            "key": self.key,
            "action": self.action,
            "host": self.host,
            "revision": self.revision,
            "topology": self.topology,
            "stitches": [s.to_json() for s in self.stitches],
            "foreign": list(self.foreign),
            "nodes": None if self.nodes is None else list(self.nodes),
            "restore": self.restore,
            "restore_revision": self.restore_revision,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PartOrder:
        """Rebuild an order from :meth:`to_json`'s form.

        Raises:
            WireError: a field is missing, mistyped, or the action is unknown.
        """
        try:
            action = str(data["action"])
            if action not in Action.ALL:
                raise WireError(f"unknown action {action!r}")
            nodes = data.get("nodes")
            return cls(
                deployment=_int(data["deployment"], "deployment"),
                lab=_int(data["lab"], "lab"),
                key=str(data["key"]),
                action=action,
                host=str(data["host"]),
                revision=data.get("revision"),
                topology=data.get("topology"),
                stitches=tuple(Stitch.from_json(s) for s in data.get("stitches") or ()),
                foreign=tuple(str(n) for n in data.get("foreign") or ()),
                nodes=None if nodes is None else tuple(str(n) for n in nodes),
                restore=data.get("restore"),
                restore_revision=data.get("restore_revision"),
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise WireError(f"bad order: {exc!r}") from None


# -- reports: lab host -> control plane ----------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Report:
    """A message from a lab host: who sent it and its sequence number.

    ``seq`` grows strictly per sending host (microseconds since the epoch, bumped
    past the last one sent), so it also grows across a worker's restarts.
    """

    TYPE: ClassVar[str] = ""
    host: str
    seq: int


@dataclass(frozen=True, kw_only=True)
class PartStarted(Report):
    """The host planned its part of a deployment and starts applying it."""

    TYPE: ClassVar[str] = "part.started"
    deployment: int
    action: str
    plan: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class PartProgress(Report):
    """Op ``done`` of ``total`` of the host's part is done (``step`` says which)."""

    TYPE: ClassVar[str] = "part.progress"
    deployment: int
    done: int
    total: int
    step: str


@dataclass(frozen=True, kw_only=True)
class PartDone(Report):
    """The host finished its order: built, removed or verified, or failed (and why).

    ``restored``: an apply failed and the host brought its part back to what ran
    before. ``state`` of a reconcile: ``running`` or ``unknown``.
    """

    TYPE: ClassVar[str] = "part.done"
    deployment: int
    action: str
    ok: bool
    code: str = ""
    message: str = ""
    failed_op: str = ""
    errno: int | None = None
    log: tuple[str, ...] = ()
    ops: int = 0
    restored: bool = False
    lab: int = 0
    state: str = ""


@dataclass(frozen=True, kw_only=True)
class HostBeat(Report):
    """A lab host's heartbeat: where it is, what it can take and what its kernel has."""

    TYPE: ClassVar[str] = "host.beat"
    underlay: str | None
    capacity: int
    load: float
    kinds: tuple[str, ...]
    labs: tuple[str, ...] = ()
    # The first beat of a worker that just started: the control plane answers it with
    # reconcile orders for the host's running labs and a sweep of the others.
    started: bool = False


@dataclass(frozen=True, kw_only=True)
class CheckResults(Report):
    """The results of an exercise's checks run against lab ``lab``."""

    TYPE: ClassVar[str] = "checks.results"
    lab: int
    results: tuple[dict[str, Any], ...]


REPORT_TYPES: Final[dict[str, type[Report]]] = {
    t.TYPE: t for t in (PartStarted, PartProgress, PartDone, HostBeat, CheckResults)
}
_TUPLES = {"plan", "log", "kinds", "labs", "results"}


def encode(report: Report) -> dict[str, Any]:
    """Return the JSON form of a report: its fields plus ``type``."""
    data = dataclasses.asdict(report)
    for name in _TUPLES & data.keys():
        data[name] = list(data[name])
    return {"type": report.TYPE, **data}


def decode(data: Mapping[str, Any]) -> Report:
    """Rebuild a report from :func:`encode`'s form.

    Raises:
        WireError: unknown type, missing, unknown or mistyped fields.
    """
    kind = data.get("type")
    cls = REPORT_TYPES.get(str(kind))
    if cls is None:
        raise WireError(f"unknown report type {kind!r}")
    names = {f.name for f in dataclasses.fields(cls)}
    values = {k: v for k, v in data.items() if k != "type"}
    unknown = values.keys() - names
    if unknown:
        raise WireError(f"{kind}: unknown field(s) {sorted(unknown)}")
    for name in _TUPLES & values.keys():
        if not isinstance(values[name], list | tuple):
            raise WireError(f"{kind}: {name} must be a list")
        values[name] = tuple(values[name])
    for f in dataclasses.fields(cls):
        if f.name in ("seq",) or (f.type == "int" and f.name in values):
            _int(values.get(f.name), f"{kind}.{f.name}")
    try:
        return cls(**values)
    except TypeError as exc:
        raise WireError(f"{kind}: {exc}") from None


__all__ = [
    "CONTROL_QUEUE",
    "Action",
    "CheckResults",
    "HostBeat",
    "PartDone",
    "PartOrder",
    "PartProgress",
    "PartStarted",
    "Report",
    "Stitch",
    "TopolabError",
    "WireError",
    "decode",
    "encode",
    "host_queue",
    "lab_group",
    "lab_id_of",
    "lab_key",
]
