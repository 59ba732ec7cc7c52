"""The realization engine's public API: deploy, discover, destroy, clean up.

Use this module; the rest of ``worker`` (plan, ops, executor, kernel) is its
inside. Everything here runs as root on a lab host.

    from worker import engine

    result = engine.deploy(topology, lab="l12", progress=cb)  # build or edit a lab
    # cb(done: int, total: int, op: worker.ops.Op) after each op; op.describe() is a line
    # result.plan.describe() -> list[str]; result.plan.to_json() -> dict (store it)
    # result.state -> worker.state.LabState (what the kernel has now)

    p = engine.plan_for(topology, lab="l12")  # dry run: the ops a deploy would apply
    state = engine.discover("l12")            # LabState from the kernel alone (owner tags)
    engine.destroy("l12")                     # no database needed; ends the lab's processes
    engine.cleanup_orphans({"l12", "l13"})    # destroy every Topolab lab not listed
    engine.labs_present()                     # {lab: [namespace, ...]}
    engine.host_facts()                       # HostFacts: kinds this kernel supports

Lower level, for callers that need it: ``worker.plan.plan(topology, state,
facts, lab)`` (pure), ``worker.executor.apply(plan, kernel, progress)``,
``worker.executor.recover(lab)`` (undo a crashed apply's journal),
``worker.kernel.default_kernel()`` (the process-wide kernel; ``release()``
closes the sockets it holds in namespaces). ``MakeVxlan(underlay=True)`` makes
a cross-host stitch from the worker's own namespace.

Errors (all ``worker.ops.EngineError`` with a stable ``.code``):
``UnsupportedKindError`` (``.kind``, ``.module``; raised before any change),
``OpFailedError`` (``.op``, ``.index``, ``.errno``, ``.kernel_message``; the
plan was rolled back). Lab keys come from ``lab.topology.naming.lab_key``.
Deploying an edited topology applies only the difference; a deploy after a
crashed one first rolls back the crashed one's journal.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from lab.topology import naming
from lab.topology.schema import Topology
from worker import executor, node_services, programs
from worker.cleanup import DestroyResult, cleanup_orphans, labs_present
from worker.cleanup import destroy as _destroy
from worker.executor import OpFailedError, Progress
from worker.facts import HostFacts, detect_host_facts
from worker.kernel import Kernel, KernelError, default_kernel
from worker.node_services import NodeReport
from worker.ops import EngineError, UnsupportedKindError
from worker.plan import Plan, plan
from worker.state import LabState
from worker.state import discover as _discover

__all__ = [
    "DeployResult",
    "DestroyResult",
    "EngineError",
    "KernelError",
    "OpFailedError",
    "Plan",
    "UnsupportedKindError",
    "cleanup_orphans",
    "deploy",
    "destroy",
    "discover",
    "host_facts",
    "labs_present",
    "plan_for",
    "prepare",
]


@dataclass(frozen=True)
class DeployResult:
    """What a deploy did and what the kernel holds after it."""

    lab: str
    plan: Plan
    state: LabState
    # Each node's files, exec lines and services (those that have any).
    nodes: tuple[NodeReport, ...] = ()


def host_facts() -> HostFacts:
    """Return this host's facts (detected once per process)."""
    return detect_host_facts()


def prepare(topology: Topology) -> Topology:
    """Return the topology the engine builds: auto-addressed when ``addressing.auto`` is on.

    Raises:
        EngineError: auto addressing was asked for but failed.
    """
    from lab.topology.addressing import effective_topology

    try:
        return effective_topology(topology)
    except ValueError as exc:  # PoolExhausted and friends
        raise EngineError(f"automatic addressing failed: {exc}") from None


def _lab(topology: Topology, lab: str | None) -> str:
    return lab or naming.lab_key(topology.name)


def lab_facts(lab: str, k: Kernel, facts: HostFacts | None = None) -> HostFacts:
    """This host's facts for lab ``lab``: its tun/tap devices belong to the lab's root.

    Raises:
        KernelError: the lab's user namespace could not be made.
    """
    return dataclasses.replace(facts or host_facts(), lab_uid=k.lab_uid(lab))


def plan_for(
    topology: Topology,
    lab: str | None = None,
    *,
    kernel: Kernel | None = None,
    facts: HostFacts | None = None,
) -> Plan:
    """Return the plan a deploy would apply now (nothing is changed).

    Raises:
        UnsupportedKindError: the topology needs a kernel module this host lacks.
    """
    key = _lab(topology, lab)
    k = kernel or default_kernel()
    try:
        return plan(prepare(topology), _discover(key, k), lab_facts(key, k, facts), key)
    finally:
        k.release()


def deploy(
    topology: Topology,
    lab: str | None = None,
    *,
    kernel: Kernel | None = None,
    progress: Progress | None = None,
    facts: HostFacts | None = None,
) -> DeployResult:
    """Build ``topology`` as lab ``lab`` (default: ``lab_key(topology.name)``), or edit it.

    Raises:
        UnsupportedKindError: before any change.
        OpFailedError: an op failed; what this deploy made was rolled back.
        ProgramError: a link's program did not start (the lab stays built).
    """
    key = _lab(topology, lab)
    k = kernel or default_kernel()
    wanted = prepare(topology)
    try:
        executor.recover(key, k)
        the_plan = plan(wanted, _discover(key, k), lab_facts(key, k, facts), key)
        executor.apply(the_plan, k, progress)
        result = DeployResult(lab=key, plan=the_plan, state=_discover(key, k))
    finally:
        k.release()
    if kernel is None:  # programs are host processes; an injected (fake) kernel has none
        nodes = node_services.start_node_software(key, wanted, run_exec=True)
        result = dataclasses.replace(result, nodes=tuple(nodes))
        programs.start_programs(key, wanted)
    return result


def exec_argv(lab: str, node: str, argv: list[str], *, kernel: Kernel | None = None) -> list[str]:
    """Return the argv that runs ``argv`` in node ``node`` of lab ``lab``, as a console would.

    The node must be the lab's (its ``lo`` carries the lab's owner tag).

    Raises:
        EngineError: ``exec.no_node`` when the node is not running in that lab, or the
            sandbox's refusal (``exec.bad_argv``, ``sandbox.*``).
    """
    from worker import sandbox

    k = kernel or default_kernel()
    ns = naming.namespace_name(lab, node)
    try:
        tag = k.link_alias(ns, "lo")
    except KernelError:
        tag = None
    finally:
        k.release()
    if tag != naming.owner_alias(lab, node):
        raise EngineError(f"node {node} is not running in lab {lab}", code="exec.no_node")
    try:
        return sandbox.command(lab, node, sandbox.check_argv(argv))
    except sandbox.SandboxError as exc:
        raise EngineError(exc.message, code=exc.code) from exc


def discover(lab: str, *, kernel: Kernel | None = None) -> LabState:
    """Return what the kernel holds for lab ``lab``."""
    k = kernel or default_kernel()
    try:
        return _discover(lab, k)
    finally:
        k.release()


def destroy(lab: str, *, kernel: Kernel | None = None) -> DestroyResult:
    """Remove lab ``lab`` from the kernel: processes ended, namespaces deleted.

    Raises:
        KernelError: a namespace could not be removed.
    """
    programs.stop_programs(lab)  # by PID, also a program that left the namespaces
    node_services.stop_node_software(lab)  # its services' PIDs and records
    k = kernel or default_kernel()
    try:
        return _destroy(lab, k)
    finally:
        k.release()
