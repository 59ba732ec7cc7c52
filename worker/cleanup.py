"""Destroy a lab and sweep orphans, trusting owner tags (never names alone).

``destroy(lab)`` needs no database row: it undoes an unfinished journal, then
discovers the lab's tagged namespaces, ends their processes (by PID) and
deletes the namespaces whole (the kernel removes every device in them at once).
"""

from __future__ import annotations

import errno
import signal
from collections.abc import Callable, Collection
from dataclasses import dataclass

from lab.topology import naming
from worker import executor, owned, sandbox
from worker.kernel import Kernel, default_kernel, userns
from worker.kernel.errors import KernelError
from worker.ops import kill_survivors, signal_pids
from worker.state import lab_prefix


@dataclass(frozen=True)
class DestroyResult:
    """What a destroy removed."""

    lab: str
    namespaces: tuple[str, ...]
    pids: tuple[int, ...]


def destroy(
    lab: str,
    kernel: Kernel | None = None,
    *,
    nodes: Collection[str] | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> DestroyResult:
    """Remove everything the kernel holds for lab ``lab`` (only ``nodes`` when given).

    ``nodes`` is one lab host's share of a split lab: those namespaces go; the
    lab's user namespace and sandboxes go too unless other nodes of the lab remain
    on this machine (another host's share, where hosts share a machine).
    ``progress(done, total, step)`` follows each namespace.

    Only namespaces whose ``lo`` carries ``topolab:<lab>:<node>`` are touched
    (plus those an unfinished journal of the lab names); a namespace whose identity
    matches the one recorded when the lab's apply made it (``worker.owned``) is
    known to carry it without entering it. Processes in them are ended first
    (SIGTERM, then SIGKILL, by PID), then the namespaces are deleted whole.

    Raises:
        KernelError: a namespace could not be removed.
    """
    k = kernel or default_kernel()
    executor.recover(lab, k)
    prefix = lab_prefix(lab)
    candidates = [n for n in k.ns_list() if n.startswith(prefix)]
    if nodes is not None:
        wanted = {prefix + n for n in nodes}
        candidates = [n for n in candidates if n in wanted]
    by_ns = k.ns_pids_map(candidates)  # one pass over /proc, before anything goes
    names: list[str] = []
    signalled: list[int] = []

    def remove(name: str) -> None:
        signalled.extend(signal_pids(by_ns.get(name, []), signal.SIGTERM))
        try:
            k.ns_delete(name)
        except KernelError as exc:
            if exc.errno != errno.ENOENT:
                raise
        names.append(name)
        if progress is not None:
            progress(len(names), len(candidates), f"delete namespace {name}")

    known = set(owned.proven(lab, k, candidates))
    for name in candidates:
        if name in known:
            remove(name)
    # The others' tags are read (in the helper thread) while verified ones are deleted here.
    for name, alias in k.lo_aliases([n for n in candidates if n not in known]):
        if _lab_of(alias) == lab:
            remove(name)
    kill_survivors(signalled)  # SIGKILL what SIGTERM did not end
    if nodes is not None and any(n.startswith(prefix) for n in k.ns_list()):
        # Other nodes of the lab stay on this machine (another host's share).
        return DestroyResult(lab=lab, namespaces=tuple(names), pids=tuple(signalled))
    # What the node sandboxes held (a process that left the namespaces is still in the
    # lab's cgroups), then the lab's user namespace and uid range.
    signalled.extend(p for p in sandbox.teardown(lab) if p not in signalled)
    k.lab_release(lab)
    owned.forget(lab)
    return DestroyResult(lab=lab, namespaces=tuple(names), pids=tuple(signalled))


def _lab_of(lo_alias: str | None) -> str | None:
    owner = naming.parse_owner_alias(lo_alias)
    return owner[0] if owner is not None and owner[1] is not None else None


def labs_present(kernel: Kernel | None = None) -> dict[str, list[str]]:
    """Return ``{lab: [namespace, ...]}`` for every Topolab namespace, by its lo tag."""
    k = kernel or default_kernel()
    found: dict[str, list[str]] = {}
    candidates = [n for n in k.ns_list() if n.startswith(naming.NS_PREFIX)]
    for name, alias in k.lo_aliases(candidates):
        lab = _lab_of(alias)
        if lab is not None:
            found.setdefault(lab, []).append(name)
    return found


def cleanup_orphans(live_labs: set[str], kernel: Kernel | None = None) -> list[str]:
    """Destroy every Topolab lab in the kernel not in ``live_labs``; return their keys.

    Only namespaces whose ``lo`` carries a Topolab owner tag are considered.
    """
    k = kernel or default_kernel()
    removed: list[str] = []
    # A deploy that died before tagging anything left only its journal.
    journals = executor.journal_dir()
    if journals.is_dir():
        for path in sorted(journals.glob("*.jsonl")):
            if path.stem not in live_labs and naming.is_lab_key(path.stem):
                executor.recover(path.stem, k)
    present = labs_present(k)
    for lab in sorted(present):
        if lab not in live_labs:
            destroy(lab, k)
            removed.append(lab)
    # Sandboxes and identities whose namespaces are already gone (a crash mid-destroy).
    leftovers = {i.lab for i in userns.identities()} | set(sandbox.labs_with_state())
    for lab in sorted(leftovers - set(present) - live_labs):
        if naming.is_lab_key(lab):
            sandbox.teardown(lab)
            k.lab_release(lab)
    return removed
