"""What this lab host's kernel can make, detected once per process.

Each link kind is tried for real in a throwaway namespace: the kernel answers
EOPNOTSUPP for a kind whose module it lacks (after trying to load it), and
anything else (EINVAL for missing arguments, success) means the kind exists.
A VLAN-filtering bridge (``bridge-vlan``) and netem (``netem``) are tried the
same way, and so is each team mode: the team driver loads ``team_mode_<runner>``
only when a device is given that mode, so a kernel with ``team`` may still lack one.
The result is a value (``HostFacts``) passed into the pure planner.
"""

from __future__ import annotations

import errno
import os
import threading
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, get_args

from lab.topology.schema import KERNEL_MODULES, TeamLink, Topology
from worker.kernel.base import Shaping
from worker.kernel.errors import KernelError

if TYPE_CHECKING:
    from worker.kernel.linux import LinuxKernel

# The kinds every lab host needs; tun/tap is checked through /dev/net/tun.
_PROBED = ("veth", "bridge", "vxlan", "macvlan", "macvtap", "vlan", "bond", "team", "ipvlan",
           "ipvtap", "macsec", "vcan", "vxcan", "dummy")  # fmt: skip
TEAM_RUNNERS: tuple[str, ...] = get_args(TeamLink.model_fields["runner"].annotation)


def team_mode_module(runner: str) -> str:
    """The kernel module of a team mode (``team_mode_activebackup``)."""
    return f"team_mode_{runner}"


@dataclass(frozen=True)
class HostFacts:
    """The link kinds this host supports, and the uid that owns tap/tun devices.

    ``lab_uid`` is per lab: the engine sets it to the host uid of root in the lab's
    user namespace (``engine.lab_facts``) before it plans; the default serves the
    pure planner's tests. ``team_modes``: the team runners the kernel has (None: not
    probed, so nothing is refused for them before an apply).
    """

    kinds: frozenset[str] = field(
        default_factory=lambda: frozenset(
            {"veth", "bridge", "vxlan", "macvlan", "macvtap", "tap", "tun"}
        )
    )
    lab_uid: int = 65534
    team_modes: frozenset[str] | None = None

    @property
    def link_kinds(self) -> frozenset[str]:
        """The supported kinds (the name the host heartbeat reads)."""
        return self.kinds

    def missing_module(self, kind: str) -> str | None:
        """Return the kernel module ``kind`` needs if this host lacks it, else None."""
        if kind in self.kinds:
            return None
        return KERNEL_MODULES.get(kind, kind)

    def missing_team_mode(self, topology: Topology) -> tuple[str, str] | None:
        """Return ``("team", module)`` for the first team mode ``topology`` uses that this
        host lacks (``team_mode_roundrobin``), or None; unprobed modes are not refused."""
        if self.team_modes is None:
            return None
        for link in topology.links:
            if isinstance(link, TeamLink) and link.runner not in self.team_modes:
                return ("team", team_mode_module(link.runner))
        return None


_cached: HostFacts | None = None
_lock = threading.Lock()


def detect_host_facts(refresh: bool = False) -> HostFacts:
    """Return this host's facts, probing the kernel on first use.

    Raises:
        KernelError: the throwaway namespace could not be made.
    """
    global _cached
    with _lock:
        if _cached is not None and not refresh:
            return _cached
        kinds, modes = _probe()
        _cached = HostFacts(kinds=frozenset(kinds), team_modes=modes)
        return _cached


detect = detect_host_facts


def _probe() -> tuple[set[str], frozenset[str] | None]:
    from worker.kernel.linux import LinuxKernel, probe_kind

    kinds: set[str] = set()
    modes: frozenset[str] | None = None
    kernel = LinuxKernel()
    ns = f"tl-probe{uuid.uuid4().hex[:8]}-x"
    try:
        kernel.ns_create(ns, "topolab-probe")
        for kind in _PROBED:
            code = probe_kind(kernel, ns, kind)
            if code != errno.EOPNOTSUPP:
                kinds.add(kind)
        if "bridge" in kinds and _probe_vlan_filtering(kernel, ns):
            kinds.add("bridge-vlan")
        if _probe_netem(kernel, ns):
            kinds.add("netem")
        if "team" in kinds:
            modes = _probe_team_modes(kernel, ns)
        if os.path.exists("/dev/net/tun"):
            kinds.update({"tap", "tun"})
    finally:
        try:
            kernel.ns_delete(ns)
        finally:
            kernel.close()
    return kinds, modes


def _probe_vlan_filtering(kernel: LinuxKernel, ns: str) -> bool:
    """Whether a bridge can filter VLANs here (a kernel option, not a module)."""
    try:
        kernel.bridge_add(ns, "probe1", "topolab-probe", vlan_filtering=True)
    except KernelError as exc:
        if exc.errno == errno.EOPNOTSUPP:
            return False
        raise
    kernel.link_delete(ns, "probe1")
    return True


def _probe_netem(kernel: LinuxKernel, ns: str) -> bool:
    """Whether netem qdiscs can be made here (the kernel asks for sch_netem: ENOENT)."""
    try:
        kernel.shaping_set(ns, "lo", Shaping(delay_ms=1))
    except KernelError as exc:
        if exc.errno in (errno.ENOENT, errno.EOPNOTSUPP):
            return False
        raise
    kernel.shaping_set(ns, "lo", Shaping())
    return True


def _probe_team_modes(kernel: LinuxKernel, ns: str) -> frozenset[str]:
    """The team runners whose mode module loads here.

    The team driver answers EINVAL ("Mode ... not found") for a mode whose module it
    cannot load; ENOENT and EOPNOTSUPP are taken the same way.
    """
    modes: set[str] = set()
    for runner in TEAM_RUNNERS:
        try:
            kernel.team_add(ns, "probe2", "topolab-probe", runner)
        except KernelError as exc:
            if exc.errno not in (errno.EINVAL, errno.ENOENT, errno.EOPNOTSUPP):
                raise
        else:
            modes.add(runner)
        try:
            kernel.link_delete(ns, "probe2")
        except KernelError as exc:
            if exc.errno != errno.ENODEV:  # not made: nothing to remove
                raise
    return frozenset(modes)
