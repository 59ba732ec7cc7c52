"""What this lab host's kernel can make, detected once per process.

Each link kind is tried for real in a throwaway namespace: the kernel answers
EOPNOTSUPP for a kind whose module it lacks (after trying to load it), and
anything else (EINVAL for missing arguments, success) means the kind exists.
The result is a value (``HostFacts``) passed into the pure planner.
"""

from __future__ import annotations

import errno
import os
import threading
import uuid
from dataclasses import dataclass, field

from lab.topology.schema import KERNEL_MODULES

# The kinds every lab host needs; tun/tap is checked through /dev/net/tun.
_PROBED = ("veth", "bridge", "vxlan", "macvlan", "macvtap", "vlan", "bond", "ipvlan", "macsec",
           "vcan", "vxcan")  # fmt: skip


@dataclass(frozen=True)
class HostFacts:
    """The link kinds this host supports, and the uid that owns tap/tun devices."""

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
        _cached = HostFacts(kinds=frozenset(_probe()), lab_uid=_lab_uid())
        return _cached


detect = detect_host_facts


def _lab_uid() -> int:
    return int(os.environ.get("TOPOLAB_LAB_UID", "65534"))


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
        if os.path.exists("/dev/net/tun"):
            kinds.update({"tap", "tun"})
    finally:
        try:
            kernel.ns_delete(ns)
        finally:
            kernel.close()
    return kinds
