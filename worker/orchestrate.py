"""A lab host's part of a deployment: take an order, run the engine, report the outcome.

The control plane places the lab, allocates its stitch VNIs and cuts it into
parts when the deploy is requested; each host then gets a :class:`lab.wire.
PartOrder` with everything it needs (its part of the topology, its stitches,
the lab key, the revision). This module builds, edits, verifies or removes that
part and reports as it goes (:mod:`worker.report`): started with its plan,
progress, done or failed with the failing op and errno. It never reads the
database; the control plane applies the reports.

Everything here is idempotent: an order delivered twice converges, because the
engine plans from what the kernel has. A *fence* per lab part (the highest
deployment id this host has run for it, kept in Redis) makes an old order that
arrives late (a redelivery after a newer deployment) do nothing.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from pydantic import ValidationError

from lab import wire
from lab.topology.schema import Topology
from worker.engine import Engine, OpFailedError
from worker.kernel import KernelError
from worker.locks import LabLock, LockBusy, client
from worker.ops import EngineError
from worker.report import Progress, Reporter

logger = logging.getLogger(__name__)

FENCE_PREFIX = "topolab:fence:"
FENCE_TTL = 30 * 24 * 3600


class Busy(wire.TopolabError):
    """Another order of the lab's part holds its lock; try again shortly."""

    code = "lab.busy"


def failure_fields(exc: BaseException) -> dict[str, Any]:
    """Return what a failure report carries: code, message, failing op and errno."""
    if isinstance(exc, OpFailedError):
        return {
            "code": exc.code,
            "message": exc.message,
            "failed_op": exc.op.describe(),
            "errno": exc.errno,
        }
    if isinstance(exc, KernelError):
        return {"code": exc.code, "message": exc.message, "errno": exc.errno}
    if isinstance(exc, wire.TopolabError):
        return {"code": exc.code, "message": exc.message or type(exc).__name__}
    if isinstance(exc, SoftTimeLimitExceeded):
        return {"code": "deploy.timeout", "message": "the order hit the time limit"}
    if isinstance(exc, ValidationError):
        return {"code": "topology.invalid", "message": f"the part does not parse: {exc}"}
    return {"code": "deploy.error", "message": f"{type(exc).__name__}: {exc}"}


def _fence_key(key: str, host: str) -> str:
    return f"{FENCE_PREFIX}{key}@{host}"


def fence(key: str, host: str) -> tuple[int, bool]:
    """The newest deployment run on lab ``key``'s part on ``host``, and whether it finished.

    Raises:
        redis.RedisError: Redis is unreachable.
    """
    value = client().get(_fence_key(key, host))
    if value is None:
        return 0, False
    number, _, state = value.decode().partition(":")
    return int(number), state == "done"


def _pass_fence(order: wire.PartOrder) -> tuple[bool, bool]:
    """Record ``order``'s deployment as the newest run here.

    Returns (go, again): ``go`` False when a newer deployment ran here already;
    ``again`` when this very deployment finished here before (a redelivered or
    re-sent order: it converges again, but exec lines do not run twice).
    """
    newest, finished = fence(order.key, order.host)
    if newest > order.deployment:
        return False, False
    again = newest == order.deployment and finished
    if not again:
        client().set(_fence_key(order.key, order.host), str(order.deployment), ex=FENCE_TTL)
    return True, again


def _finish_fence(order: wire.PartOrder) -> None:
    # Under the part's lock since _pass_fence: the fence still names this deployment.
    client().set(_fence_key(order.key, order.host), f"{order.deployment}:done", ex=FENCE_TTL)


class _Clock:
    """Times the phases of an order for its log (where the time went)."""

    def __init__(self) -> None:
        self.start = self.last = time.monotonic()
        self.laps: list[str] = []

    def lap(self, what: str) -> None:
        now = time.monotonic()
        self.laps.append(f"{what} {now - self.last:.2f}s")
        self.last = now

    def line(self, host: str) -> str:
        return (
            f"timing on {host}: {', '.join(self.laps)}; total {time.monotonic() - self.start:.2f}s"
        )


def run_order(order: wire.PartOrder, reporter: Reporter, engine: Engine | None = None) -> str:
    """Carry out ``order`` on this host and report it; return what happened.

    Returns ``done``, ``failed``, ``stale`` (a newer deployment of the lab ran here
    already) or ``busy`` (another delivery of this very order is at work).

    Raises:
        Busy: another order of the lab's part holds its lock.
    """
    engine = engine or Engine()
    owner = f"{order.action}:{order.deployment}"
    lock = LabLock(f"{order.key}@{order.host}", owner)
    try:
        lock.acquire()
    except LockBusy as exc:
        if exc.holder.startswith(f"{owner}/"):
            return "busy"
        raise Busy(str(exc)) from exc
    try:
        go, again = _pass_fence(order)
        if not go:
            logger.info("order %s of deployment %s is stale", order.action, order.deployment)
            return "stale"
        if order.action in (wire.Action.DESTROY, wire.Action.ROLLBACK):
            outcome = _destroy(order, reporter, engine)
        elif order.action == wire.Action.RECONCILE:
            outcome = _reconcile(order, reporter, engine)
        else:
            outcome = _build(order, reporter, engine, run_exec=not again)
        _finish_fence(order)
        return outcome
    finally:
        lock.release()


def _topology(data: dict[str, Any] | None) -> Topology:
    if data is None:
        raise EngineError("the order carries no topology", code="order.no_topology")
    # Validated in full when the revision was saved; the schema rebuilds the value.
    return Topology.model_validate(data)


def _build(order: wire.PartOrder, reporter: Reporter, engine: Engine, *, run_exec: bool) -> str:
    progress = Progress(reporter, order.deployment)
    clock = _Clock()
    stitch_lines = [s.describe() for s in order.stitches]
    try:
        topology = _topology(order.topology)

        def planned(the_plan: Any) -> None:
            clock.lap("planned")
            progress.begin(order.action, list(the_plan.describe()) + stitch_lines)

        # An edit of a lab on one host knows what runs (the order's restore part): it
        # plans only what the edit touches. A deploy, or a split lab, plans everything.
        previous = None
        if order.action == wire.Action.APPLY and order.restore is not None:
            previous = _topology(order.restore)
        result = engine.apply(
            topology,
            order.key,
            stitches=order.stitches,
            foreign=order.foreign,
            progress=progress,
            planned=planned,
            run_exec=run_exec and order.action == wire.Action.DEPLOY,
            previous=previous,
        )
        progress.close()  # every progress report goes out before the final one
        clock.lap(f"applied {len(result.plan.ops)} op(s)")
        lines = [
            *stitch_lines,
            *[line for report in result.nodes for line in report.log_lines()],
            clock.line(order.host),
        ]
        reporter.done(
            order.deployment, order.action, ok=True, log=tuple(lines), ops=len(result.plan.ops)
        )
    except Exception as exc:
        progress.close()
        fields = failure_fields(exc)
        logger.warning("order %s of deployment %s failed: %s", order.action, order.deployment, exc)
        log: list[str] = []
        restored = False
        if order.action == wire.Action.DEPLOY:
            log.append(_roll_back(order, engine))
        elif order.action == wire.Action.APPLY:
            restored, line = _restore(order, engine)
            log.append(line)
        reporter.done(
            order.deployment, order.action, ok=False, restored=restored, log=tuple(log), **fields
        )
        return "failed"
    _verify_after(order, topology, reporter, engine)
    return "done"


def _verify_after(
    order: wire.PartOrder, topology: Topology, reporter: Reporter, engine: Engine
) -> None:
    """Check, once the part is reported built, that the kernel holds what was planned.

    Every op is an ensure the executor checked by errno, so the lab is reported
    running as soon as the last one succeeded; this rediscovery (a tenth of a
    100-node deploy) then runs off the user's wait. Drift (something changed the
    kernel underneath) is reported as a reconcile finding: the lab goes ``unknown``.
    """
    try:
        drift = engine.verify(topology, order.key, stitches=order.stitches, foreign=order.foreign)
    except Exception as exc:
        drift = [failure_fields(exc)["message"]]
    if not drift:
        return
    message = "the kernel does not match the plan: " + "; ".join(drift[:5])
    logger.warning("lab %s on %s: %s", order.key, order.host, message)
    reporter.done(
        order.deployment,
        wire.Action.RECONCILE,
        ok=False,
        lab=order.lab,
        state="unknown",
        message=message,
    )


def _part_nodes(order: wire.PartOrder) -> set[str] | None:
    """This host's nodes of a split lab (None: the lab is whole here)."""
    if not order.foreign or order.topology is None:
        return None
    return {str(n.get("name")) for n in order.topology.get("nodes", [])}


def _roll_back(order: wire.PartOrder, engine: Engine) -> str:
    """Remove whatever a failed deploy built here; return the log line."""
    try:
        engine.destroy(order.key, nodes=_part_nodes(order))
        return f"rolled back on {order.host}"
    except Exception as exc:
        return f"rollback on {order.host} failed: {failure_fields(exc)['message']}"


def _restore(order: wire.PartOrder, engine: Engine) -> tuple[bool, str]:
    """Bring a lab whose edit failed back to the part it ran before; return (done, line).

    The executor's rollback removes what the failed apply made, but not what it had
    already deleted or changed; converging to the part that ran puts those back.
    The control plane sends ``restore`` only for a lab on one host.
    """
    if order.restore is None:
        return False, "not restored: the lab never ran before this edit, or it is split"
    try:
        previous = _topology(order.restore)
        engine.apply(previous, order.key, run_exec=False)
        drift = engine.verify(previous, order.key)
    except Exception as exc:
        message = failure_fields(exc)["message"]
        return False, f"restoring revision {order.restore_revision} failed: {message}"
    if drift:
        lines = "; ".join(drift[:3])
        return False, f"restoring revision {order.restore_revision} left drift: {lines}"
    number = order.restore_revision if order.restore_revision is not None else "?"
    return True, f"restored revision {number}, the one that ran before this edit"


def _destroy(order: wire.PartOrder, reporter: Reporter, engine: Engine) -> str:
    progress = Progress(reporter, order.deployment)
    nodes = None if order.nodes is None else set(order.nodes)
    try:
        result = engine.destroy(order.key, nodes=nodes, progress=progress)
        progress.close()
        reporter.done(
            order.deployment,
            order.action,
            ok=True,
            log=(f"removed {len(result.namespaces)} namespace(s) on {order.host}",),
        )
        return "done"
    except Exception as exc:
        progress.close()
        reporter.done(order.deployment, order.action, ok=False, **failure_fields(exc))
        return "failed"


def _reconcile(order: wire.PartOrder, reporter: Reporter, engine: Engine) -> str:
    """Verify a running part after this host restarted; start its software again.

    Reports ``state`` running when the kernel matches (services and link programs
    that died with the host are started again; exec lines are not), else unknown.
    """
    state, detail = "running", ""
    try:
        topology = _topology(order.topology)
        drift = engine.verify(topology, order.key, stitches=order.stitches, foreign=order.foreign)
        if drift:
            state, detail = "unknown", "the kernel does not match: " + "; ".join(drift[:5])
        else:
            engine.start_software(topology, order.key, run_exec=False)
    except Exception as exc:
        state, detail = "unknown", failure_fields(exc)["message"]
    if detail:
        logger.warning("lab %s on %s: %s", order.key, order.host, detail)
    reporter.done(
        order.deployment,
        order.action,
        ok=state == "running",
        lab=order.lab,
        state=state,
        message=detail,
    )
    return state
