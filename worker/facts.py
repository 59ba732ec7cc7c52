"""What this lab host's kernel can make, detected once per process.

Each link kind is tried for real in a throwaway namespace: the kernel answers
EOPNOTSUPP for a kind whose module it lacks (after trying to load it), and
anything else (EINVAL for missing arguments, success) means the kind exists.
A VLAN-filtering bridge (``bridge-vlan``) and netem (``netem``) are tried the
same way.
The result is a value (``HostFacts``) passed into the pure planner.
"""

from __future__ import annotations

import errno
import os
import threading
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from lab.topology.schema import KERNEL_MODULES
from worker.kernel.base import Shaping
from worker.kernel.errors import KernelError

if TYPE_CHECKING:
    from worker.kernel.linux import LinuxKernel

# The kinds every lab host needs; tun/tap is checked through /dev/net/tun.
_PROBED = ("veth", "bridge", "vxlan", "macvlan", "macvtap", "vlan", "bond", "team", "ipvlan",
           "ipvtap", "macsec", "vcan", "vxcan", "dummy")  # fmt: skip


@dataclass(frozen=True)
class HostFacts:
    """The link kinds this host supports, and the uid that owns tap/tun devices.

    ``lab_uid`` is per lab: the engine sets it to the host uid of root in the lab's
    user namespace (``engine.lab_facts``) before it plans; the default serves the
    pure planner's tests.
    """

    kinds: frozenset[str] = field(
        default_factory=lambda: frozenset(
            {"veth", "bridge", "vxlan", "macvlan", "macvtap", "tap", "tun"}
        )
    )
    lab_uid: int = 65534

    @property
    def link_kinds(self) -> frozenset[str]:
        """The supported kinds (the name the host heartbeat reads)."""
        return self.kinds

    def missing_module(self, kind: str) -> str | None:
        """Return the kernel module ``kind`` needs if this host lacks it, else None."""
        if kind in self.kinds:
            return None
        return KERNEL_MODULES.get(kind, kind)


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
        _cached = HostFacts(kinds=frozenset(_probe()))
        return _cached


detect = detect_host_facts


def _probe() -> set[str]:
    from worker.kernel.linux import LinuxKernel, probe_kind

    kinds: set[str] = set()
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
        if os.path.exists("/dev/net/tun"):
            kinds.update({"tap", "tun"})
    finally:
        try:
            kernel.ns_delete(ns)
        finally:
            kernel.close()
    return kinds


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
