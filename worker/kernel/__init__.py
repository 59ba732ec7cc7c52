"""The one door to the kernel: the only package that imports pyroute2.

``Kernel`` is the interface (``base.py``); ``LinuxKernel`` (``linux.py``) is the
real one, ``FakeKernel`` (``fake.py``) the one unit tests use. ``stats.py``
belongs to telemetry.
"""

from __future__ import annotations

import threading

from worker.kernel.base import Kernel
from worker.kernel.errors import KernelError

__all__ = ["Kernel", "KernelError", "default_kernel", "release_default"]

_default: Kernel | None = None
_default_lock = threading.Lock()


def default_kernel() -> Kernel:
    """Return the process-wide real kernel (created on first use)."""
    global _default
    with _default_lock:
        if _default is None:
            from worker.kernel.linux import LinuxKernel

            _default = LinuxKernel()
        return _default


def release_default() -> None:
    """Close the process-wide kernel's sockets in namespaces, if it was ever made.

    A worker calls it after every task: a socket it keeps in a namespace would keep
    that namespace (and its devices) alive after another process destroys the lab.
    """
    with _default_lock:
        kernel = _default
    if kernel is not None:
        kernel.release()
