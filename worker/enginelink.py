"""The orchestration's door to the engine (``worker/engine.py``).

The tasks speak in lab keys, topology parts and stitches; the engine speaks in
plans, ops and kernel state. This module translates, and applies the one
transform the orchestration adds: on a split lab, the vxlan devices that stand
for cut veth links (stitches) are made from the worker's own network
namespace (the host's underlay, where their UDP socket must live) and placed
into the node's namespace under the interface's name.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from lab.placement import Stitch
from lab.topology import naming
from lab.topology.schema import Topology

ProgressFn = Callable[[int, int, str], None]
F = TypeVar("F")


def _stitched(key: str, stitches: Iterable[Stitch]) -> set[tuple[str, str]]:
    return {(naming.namespace_name(key, s.endpoint.node), s.endpoint.interface) for s in stitches}


def _discover_part(
    key: str, nodes: set[str] | None = None, foreign: frozenset[str] = frozenset()
) -> Any:
    """Discover lab ``key``: only ``nodes`` when given, never the ``foreign`` ones.

    ``foreign`` are the nodes another lab host builds. On real lab hosts every
    host has its own namespaces and this changes nothing; where two lab hosts
    share one machine's ``/run/netns`` (the tests) it keeps a host from
    planning away its peer's nodes, and from holding a socket in them that
    would keep a destroyed peer namespace (and its VNI) alive. A node removed
    from the lab is neither, so the planner sees it and deletes it.
    """
    from worker.kernel import default_kernel
    from worker.state import LabState, lab_prefix

    k = default_kernel()
    prefix = lab_prefix(key)
    found = []
    for name in sorted(k.ns_list()):
        if not name.startswith(prefix):
            continue
        node = name[len(prefix) :]
        if node in foreign or (nodes is not None and node not in nodes):
            continue
        ns = k.ns_read(name)
        if ns is not None and ns.lab == key:
            found.append(ns)
    return LabState(lab=key, namespaces=tuple(found))


def make_plan(
    key: str,
    topology: Topology,
    stitches: tuple[Stitch, ...],
    foreign: frozenset[str] = frozenset(),
) -> Any:
    """Return the engine's plan for this host's part, with stitches made from the underlay.

    ``foreign``: the lab's nodes that other hosts build (left out of discovery).

    Raises:
        Exception: whatever the engine raises (unsupported kind, kernel errors).
    """
    from worker import engine, plan
    from worker.kernel import default_kernel
    from worker.ops import MakeVxlan

    actual = _discover_part(key, None, foreign)
    result = plan.plan(
        engine.prepare(topology), actual, engine.lab_facts(key, default_kernel()), key
    )
    marked = _stitched(key, stitches)
    if not marked:
        return result
    ops = tuple(
        dataclasses.replace(op, underlay=True)
        if isinstance(op, MakeVxlan) and (op.ns, op.name) in marked
        else op
        for op in result.ops
    )
    return dataclasses.replace(result, ops=ops)


def plan_lines(
    key: str,
    topology: Topology,
    stitches: tuple[Stitch, ...],
    foreign: frozenset[str] = frozenset(),
) -> list[str]:
    """Return the describe lines of the plan for this host's part (what will be done)."""
    return list(make_plan(key, topology, stitches, foreign).describe())


def prepare_plan(
    key: str,
    topology: Topology,
    stitches: tuple[Stitch, ...],
    foreign: frozenset[str] = frozenset(),
) -> Any:
    """Roll back an apply a dead worker left unfinished (its journal), then plan.

    Raises:
        Exception: whatever the engine raises (unsupported kind, kernel errors).
    """
    from worker import executor

    executor.recover(key)
    return make_plan(key, topology, stitches, foreign)


def apply(the_plan: Any, progress: ProgressFn | None) -> int:
    """Apply a plan from ``prepare_plan``; the executor rolls its ops back on failure.

    Returns the number of ops applied.

    Raises:
        Exception: the engine's execution error, carrying the failing op and errno.
    """
    from worker import executor

    def report(done: int, total: int, op: Any) -> None:
        if progress is not None:
            progress(done, total, str(op.describe()))

    executor.apply(the_plan, progress=report)
    return len(the_plan.ops)


def converge(
    key: str,
    topology: Topology,
    stitches: tuple[Stitch, ...],
    progress: ProgressFn | None,
    foreign: frozenset[str] = frozenset(),
) -> int:
    """Make the kernel match ``topology`` (``prepare_plan`` then ``apply``); return op count.

    Raises:
        Exception: the engine's execution error, carrying the failing op and errno.
    """
    return apply(prepare_plan(key, topology, stitches, foreign), progress)


def verify(
    key: str,
    topology: Topology,
    stitches: tuple[Stitch, ...],
    foreign: frozenset[str] = frozenset(),
) -> list[str]:
    """Return what is left to do for the kernel to match ``topology`` (empty: it matches)."""
    return plan_lines(key, topology, stitches, foreign)


def destroy(key: str, nodes: set[str] | None, progress: ProgressFn | None) -> int:
    """Remove lab ``key`` from this host's kernel (only ``nodes`` when given), by owner tag.

    Returns the number of namespaces removed.

    Raises:
        Exception: the engine's error when something could not be removed.
    """
    from worker import engine, executor
    from worker.kernel import default_kernel
    from worker.ops import DeleteNamespace

    if nodes is None:
        result = engine.destroy(key)
        if progress is not None:
            total = len(result.namespaces)
            progress(total, total, f"removed {total} namespace(s)")
        return len(result.namespaces)
    k = default_kernel()
    executor.recover(key, k)
    mine = [ns for ns in _discover_part(key, nodes).namespaces]
    for i, ns in enumerate(mine):  # each delete ends the namespace's processes first
        DeleteNamespace(ns.name).apply(k)
        if progress is not None:
            progress(i + 1, len(mine), f"delete namespace {ns.name}")
    return len(mine)


def lab_keys_present() -> set[str]:
    """Return the keys of every lab that has tagged namespaces on this host."""
    from worker import engine

    return set(engine.labs_present())


def failure_fields(exc: BaseException, make: Callable[..., F]) -> F:
    """Build a failure value from an engine exception (code, message, failing op, errno)."""
    code = str(getattr(exc, "code", "") or "")
    if not code:
        code = "deploy.timeout" if type(exc).__name__ == "SoftTimeLimitExceeded" else "deploy.error"
    message = str(getattr(exc, "message", "") or exc) or type(exc).__name__
    op = getattr(exc, "op", None)
    failed_op = ""
    if op is not None:
        describe = getattr(op, "describe", None)
        failed_op = str(describe()) if callable(describe) else str(op)
    errno_value = getattr(exc, "errno", None)
    cause = exc.__cause__
    if errno_value is None and cause is not None:
        errno_value = getattr(cause, "errno", None)
    return make(
        code=code,
        message=message,
        failed_op=failed_op,
        errno=int(errno_value) if isinstance(errno_value, int) else None,
    )
