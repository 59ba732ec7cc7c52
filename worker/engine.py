"""The one door to the realization engine: an ``Engine`` with its kernel injected.

Everything that builds, edits, checks or removes a lab goes through it: the
orchestration (a lab host's part of a deployment), the root CLI, the tests and
the benchmarks. The rest of ``worker`` (plan, ops, executor, state, cleanup,
kernel) is its inside. Everything here runs as root on a lab host.

    from worker.engine import Engine

    engine = Engine()                          # the process's kernel; Engine(FakeKernel())
    p = engine.plan(topology, "l12")           # dry run: the ops an apply would run
    r = engine.apply(topology, "l12", progress=cb, stitches=..., foreign=...)
    # cb(done: int, total: int, op: worker.ops.Op) after each op; op.describe() is a line
    drift = engine.verify(topology, "l12")     # [] when the kernel matches
    state = engine.discover("l12")             # LabState from the kernel alone (owner tags)
    engine.destroy("l12", nodes={"h1"})        # no database needed; ends the processes
    engine.cleanup_orphans({"l12", "l13"})     # destroy every Topolab lab not listed

The module functions ``deploy``, ``plan_for``, ``discover`` and ``destroy`` are
``Engine(kernel)`` calls for short scripts. Stitches (the sides of a split lab's
cut links) are an input of the planner: their vxlan devices are made from the
worker's own (underlay) namespace and moved into the node.

Errors (all ``worker.ops.EngineError``, a ``lab.wire.TopolabError`` with a stable
``.code``): ``UnsupportedKindError`` (``.kind``, ``.module``; raised before any
change), ``OpFailedError`` (``.op``, ``.index``, ``.errno``, ``.kernel_message``;
the plan was rolled back). Deploying an edited topology applies only the
difference; an apply after a crashed one first rolls back the crashed one's journal.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass

from lab.topology import naming
from lab.topology.schema import Topology
from lab.wire import Stitch
from worker import cleanup, executor, node_services, programs
from worker.cleanup import DestroyResult
from worker.executor import OpFailedError, Progress
from worker.facts import HostFacts, detect_host_facts
from worker.kernel import Kernel, KernelError, default_kernel
from worker.node_services import NodeReport
from worker.ops import EngineError, UnsupportedKindError
from worker.plan import Plan, edit_scope, plan
from worker.state import LabState
from worker.state import discover as _discover

__all__ = [
    "DeployResult",
    "DestroyResult",
    "Engine",
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
    """What an apply did (and, from ``deploy()``, what the kernel holds after it)."""

    lab: str
    plan: Plan
    state: LabState | None = None
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


def _stitched(stitches: Iterable[Stitch]) -> frozenset[tuple[str, str]]:
    return frozenset((s.endpoint.node, s.endpoint.interface) for s in stitches)


class Engine:
    """The engine with its kernel injected: plan, apply, verify, discover, destroy.

    ``kernel``: the process's own (``default_kernel()``) when None. Node software
    (files, exec lines, services) and link programs are host processes: they run
    only with the real kernel, unless ``software`` says otherwise. Each call lets
    go of the sockets the kernel held in namespaces when it returns.
    """

    def __init__(
        self,
        kernel: Kernel | None = None,
        *,
        facts: HostFacts | None = None,
        software: bool | None = None,
    ) -> None:
        self._kernel = kernel
        self._facts = facts
        self.software = kernel is None if software is None else software

    @property
    def kernel(self) -> Kernel:
        """The kernel this engine speaks to."""
        return self._kernel if self._kernel is not None else default_kernel()

    def lab_facts(self, lab: str) -> HostFacts:
        """This host's facts for lab ``lab``: its tun/tap devices belong to the lab's root.

        Raises:
            KernelError: the lab's user namespace could not be made.
        """
        return lab_facts(lab, self.kernel, self._facts)

    def discover(
        self, lab: str, *, nodes: Collection[str] | None = None, foreign: Collection[str] = ()
    ) -> LabState:
        """Return what the kernel holds for lab ``lab`` (only ``nodes``; never ``foreign``).

        Raises:
            KernelError: the kernel could not be read.
        """
        k = self.kernel
        try:
            return _discover(lab, k, nodes=nodes, foreign=foreign)
        finally:
            k.release()

    def _plan(
        self,
        topology: Topology,
        lab: str,
        stitches: Iterable[Stitch],
        foreign: Collection[str],
        previous: Topology | None = None,
    ) -> Plan:
        k = self.kernel
        wanted, facts, stitched = prepare(topology), self.lab_facts(lab), _stitched(stitches)
        scope = None
        if previous is not None and not foreign:
            # An edit of a running lab: discover and plan only what it touches.
            scope = edit_scope(wanted, prepare(previous), facts, lab, stitched)
        nodes = None if scope is None else scope.read
        actual = _discover(lab, k, nodes=nodes, foreign=foreign)
        return plan(wanted, actual, facts, lab, stitched, scope=scope)

    def plan(
        self,
        topology: Topology,
        lab: str | None = None,
        *,
        stitches: Iterable[Stitch] = (),
        foreign: Collection[str] = (),
    ) -> Plan:
        """Return the plan an apply would run now (nothing is changed).

        Raises:
            UnsupportedKindError: the topology needs a kernel module this host lacks.
        """
        key = lab or naming.lab_key(topology.name)
        try:
            return self._plan(topology, key, stitches, foreign)
        finally:
            self.kernel.release()

    def apply(
        self,
        topology: Topology,
        lab: str | None = None,
        *,
        stitches: Iterable[Stitch] = (),
        foreign: Collection[str] = (),
        progress: Progress | None = None,
        planned: Callable[[Plan], None] | None = None,
        run_exec: bool = True,
        previous: Topology | None = None,
    ) -> DeployResult:
        """Build ``topology`` as lab ``lab`` (default: ``lab_key(topology.name)``), or edit it.

        Rolls back what a crashed apply left first (its journal), plans against the
        kernel, calls ``planned(plan)`` before the first op, applies (rolled back on
        failure), then writes node files, runs exec lines (``run_exec``: a deploy,
        not an edit) and starts services and link programs. ``previous``: the topology
        the lab runs now; the edit's cost is then the size of the change (nodes it does
        not touch are trusted to be as ``previous`` has them; ``verify`` checks all).

        Raises:
            UnsupportedKindError: before any change.
            OpFailedError: an op failed; what this apply made was rolled back.
            ProgramError: a link's program did not start (the lab stays built).
        """
        key = lab or naming.lab_key(topology.name)
        stitches = tuple(stitches)
        k = self.kernel
        try:
            executor.recover(key, k)
            the_plan = self._plan(topology, key, stitches, foreign, previous)
            if planned is not None:
                planned(the_plan)
            executor.apply(the_plan, k, progress)
        finally:
            k.release()
        nodes: tuple[NodeReport, ...] = ()
        if self.software:
            nodes = self.start_software(topology, key, run_exec=run_exec)
        return DeployResult(lab=key, plan=the_plan, nodes=nodes)

    def start_software(
        self, topology: Topology, lab: str, *, run_exec: bool = False
    ) -> tuple[NodeReport, ...]:
        """Start what runs in the nodes: files, exec lines (``run_exec``), services, programs.

        Idempotent: what runs already is left alone. Before the programs: a node whose
        files changed gets a fresh init, which ends its programs too.

        Raises:
            ProgramError: a link's program did not start.
        """
        wanted = prepare(topology)
        reports = node_services.start_node_software(lab, wanted, run_exec=run_exec)
        programs.start_programs(lab, wanted)
        return tuple(reports)

    def verify(
        self,
        topology: Topology,
        lab: str | None = None,
        *,
        stitches: Iterable[Stitch] = (),
        foreign: Collection[str] = (),
    ) -> list[str]:
        """Return what is left to do for the kernel to match ``topology`` (empty: it does)."""
        return list(self.plan(topology, lab, stitches=stitches, foreign=foreign).describe())

    def destroy(
        self,
        lab: str,
        *,
        nodes: Collection[str] | None = None,
        progress: Callable[[int, int, str], None] | None = None,
    ) -> DestroyResult:
        """Remove lab ``lab`` (only ``nodes`` when given): processes ended, namespaces deleted.

        Raises:
            KernelError: a namespace could not be removed.
        """
        if nodes is None and self.software:
            programs.stop_programs(lab)  # by PID, also a program that left the namespaces
            node_services.stop_node_software(lab)  # its services' PIDs and records
        k = self.kernel
        try:
            return cleanup.destroy(lab, k, nodes=nodes, progress=progress)
        finally:
            k.release()

    def labs_present(self) -> dict[str, list[str]]:
        """Return ``{lab key: [namespace, ...]}`` of every Topolab lab on this host."""
        return cleanup.labs_present(self.kernel)

    def cleanup_orphans(self, live_labs: set[str]) -> list[str]:
        """Destroy every Topolab lab on this host that is not in ``live_labs``; return them.

        Raises:
            KernelError: a namespace could not be removed.
        """
        return cleanup.cleanup_orphans(live_labs, self.kernel)

    def exec_argv(self, lab: str, node: str, argv: list[str]) -> list[str]:
        """Return the argv that runs ``argv`` in node ``node`` of lab ``lab``, as a console would.

        The node must be the lab's (its ``lo`` carries the lab's owner tag).

        Raises:
            EngineError: ``exec.no_node`` when the node is not running in that lab, or the
                sandbox's refusal (``exec.bad_argv``, ``sandbox.*``).
        """
        from worker import sandbox

        k = self.kernel
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


def lab_facts(lab: str, k: Kernel, facts: HostFacts | None = None) -> HostFacts:
    """This host's facts for lab ``lab``: its tun/tap devices belong to the lab's root.

    Raises:
        KernelError: the lab's user namespace could not be made.
    """
    return dataclasses.replace(facts or host_facts(), lab_uid=k.lab_uid(lab))


# -- short forms for scripts and tests: one Engine call each -----------------------------


def plan_for(
    topology: Topology,
    lab: str | None = None,
    *,
    kernel: Kernel | None = None,
    facts: HostFacts | None = None,
) -> Plan:
    """``Engine(kernel).plan(topology, lab)``.

    Raises:
        UnsupportedKindError: the topology needs a kernel module this host lacks.
    """
    return Engine(kernel, facts=facts).plan(topology, lab)


def deploy(
    topology: Topology,
    lab: str | None = None,
    *,
    kernel: Kernel | None = None,
    progress: Progress | None = None,
    facts: HostFacts | None = None,
) -> DeployResult:
    """``Engine(kernel).apply(topology, lab)``, with the kernel's state after it.

    Raises:
        UnsupportedKindError: before any change.
        OpFailedError: an op failed; what this deploy made was rolled back.
        ProgramError: a link's program did not start (the lab stays built).
    """
    engine = Engine(kernel, facts=facts)
    result = engine.apply(topology, lab, progress=progress)
    return dataclasses.replace(result, state=engine.discover(result.lab))


def exec_argv(lab: str, node: str, argv: list[str], *, kernel: Kernel | None = None) -> list[str]:
    """``Engine(kernel).exec_argv(lab, node, argv)``.

    Raises:
        EngineError: ``exec.no_node``, ``exec.bad_argv`` or the sandbox's refusal.
    """
    return Engine(kernel).exec_argv(lab, node, argv)


def discover(lab: str, *, kernel: Kernel | None = None) -> LabState:
    """``Engine(kernel).discover(lab)``."""
    return Engine(kernel).discover(lab)


def destroy(lab: str, *, kernel: Kernel | None = None) -> DestroyResult:
    """``Engine(kernel).destroy(lab)``.

    Raises:
        KernelError: a namespace could not be removed.
    """
    return Engine(kernel).destroy(lab)


def labs_present(kernel: Kernel | None = None) -> dict[str, list[str]]:
    """``Engine(kernel).labs_present()``."""
    return Engine(kernel).labs_present()


def cleanup_orphans(live_labs: set[str], kernel: Kernel | None = None) -> list[str]:
    """``Engine(kernel).cleanup_orphans(live_labs)``.

    Raises:
        KernelError: a namespace could not be removed.
    """
    return Engine(kernel).cleanup_orphans(live_labs)
