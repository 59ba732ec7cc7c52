"""Named network namespaces without forking, the way iproute2 makes them.

``ip netns add`` opens ``/run/netns/<name>``, unshares CLONE_NEWNET and
bind-mounts its new ``/proc/self/ns/net`` onto that file. We do the same from
one helper thread (``setns``/``unshare`` affect only the calling thread), which
then returns to the namespace it started in. Python 3.11 has no
``os.unshare``/``os.setns``, hence ctypes on libc.

Sysctls under ``/proc/sys/net`` and ``/dev/net/tun`` follow the calling
thread's namespace, so those run in the helper thread too (``NsThread.call``).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import os
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import TypeVar

from worker.kernel.errors import KernelError

NETNS_RUN_DIR = "/run/netns"
CLONE_NEWNET = 0x40000000
MS_BIND = 4096
MS_REC = 16384
MS_SHARED = 1 << 20
MNT_DETACH = 2

T = TypeVar("T")

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_libc.mount.argtypes = [
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_ulong,
    ctypes.c_void_p,
]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_libc.unshare.argtypes = [ctypes.c_int]
_libc.setns.argtypes = [ctypes.c_int, ctypes.c_int]


def _check(result: int, what: str) -> None:
    if result != 0:
        code = ctypes.get_errno()
        raise KernelError(code, f"{what}: {os.strerror(code)}")


def setns(fd: int) -> None:
    """Move the calling thread into the network namespace behind ``fd``.

    Raises:
        KernelError: setns(2) failed.
    """
    _check(_libc.setns(fd, CLONE_NEWNET), "setns")


def unshare_net() -> None:
    """Give the calling thread a new, empty network namespace.

    Raises:
        KernelError: unshare(2) failed.
    """
    _check(_libc.unshare(CLONE_NEWNET), "unshare(CLONE_NEWNET)")


def mount(source: str, target: str, flags: int, fstype: str = "none") -> None:
    """mount(2).

    Raises:
        KernelError: the mount failed.
    """
    _check(
        _libc.mount(source.encode(), target.encode(), fstype.encode(), flags, None),
        f"mount {source} on {target}",
    )


def umount_detach(target: str) -> None:
    """umount2(target, MNT_DETACH).

    Raises:
        KernelError: the unmount failed (EINVAL when nothing is mounted there).
    """
    _check(_libc.umount2(target.encode(), MNT_DETACH), f"umount {target}")


_run_dir_ready = False
_run_dir_lock = threading.Lock()


def ensure_run_dir() -> None:
    """Make ``/run/netns`` a shared mount point, as ``ip netns add`` does.

    Shared, so a namespace mounted later shows up in other mount namespaces
    (``ip netns exec`` makes its own).

    Raises:
        KernelError: the mounts failed.
    """
    global _run_dir_ready
    with _run_dir_lock:
        if _run_dir_ready:
            return
        os.makedirs(NETNS_RUN_DIR, mode=0o755, exist_ok=True)
        try:
            mount("", NETNS_RUN_DIR, MS_SHARED | MS_REC)
        except KernelError as exc:
            if exc.errno != errno.EINVAL:
                raise
            # Not a mount point yet: bind it onto itself, then make it shared.
            mount(NETNS_RUN_DIR, NETNS_RUN_DIR, MS_BIND | MS_REC)
            mount("", NETNS_RUN_DIR, MS_SHARED | MS_REC)
        _run_dir_ready = True


def netns_path(name: str) -> str:
    """Return the file a named namespace is mounted on."""
    return os.path.join(NETNS_RUN_DIR, name)


def list_names() -> list[str]:
    """Return the names under ``/run/netns``."""
    try:
        return sorted(os.listdir(NETNS_RUN_DIR))
    except FileNotFoundError:
        return []


class NsThread:
    """A helper thread that enters namespaces on behalf of the caller.

    Every call runs in the thread and returns it to its home namespace after;
    if that fails the thread is retired (a thread stuck in a lab namespace must
    never run anything else) and a new one is started on the next call.
    """

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[tuple[Callable[[], object], Future[object]] | None] = (
            queue.SimpleQueue()
        )
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def _start(self) -> None:
        ready: Future[int] = Future()
        self._queue = queue.SimpleQueue()
        self._thread = threading.Thread(
            target=self._run, args=(ready, self._queue), name="topolab-netns", daemon=True
        )
        self._thread.start()
        ready.result()  # the thread is up and knows its home namespace

    def _run(
        self,
        ready: Future[int],
        jobs: queue.SimpleQueue[tuple[Callable[[], object], Future[object]] | None],
    ) -> None:
        home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        ready.set_result(home)
        while True:
            item = jobs.get()
            if item is None:
                break
            fn, fut = item
            try:
                fut.set_result(fn())
            except BaseException as exc:
                fut.set_exception(exc)
            try:
                setns(home)
            except KernelError:
                # Stuck outside home: retire this thread.
                self._thread = None
                break
        os.close(home)

    def submit(self, fn: Callable[[], T]) -> Future[T]:
        """Queue ``fn`` for the helper thread; return its future (jobs run in order)."""
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._start()
            fut: Future[object] = Future()
            self._queue.put((fn, fut))
        return fut  # type: ignore[return-value]

    def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` in the helper thread and return its result (or raise its error)."""
        return self.submit(fn).result()

    def close(self) -> None:
        """Stop the helper thread."""
        with self._lock:
            if self._thread is not None:
                self._queue.put(None)
                self._thread.join(timeout=5)
                self._thread = None


def make_in_thread(
    name: str,
    prepare: Callable[[], None] | None = None,
    enter: Callable[[], None] = unshare_net,
) -> int:
    """Create named namespace ``name`` from the calling (helper) thread and enter it.

    ``enter`` moves the thread into a new, empty namespace: ``unshare`` by default
    (owned by this process's user namespace), or a lab's maker's (owned by the lab's).

    ``prepare`` runs inside the new namespace before it gets its name (the bind
    mount): whatever it sets up (the owner tag on ``lo``) is there the moment the
    name is. Leaves the calling thread inside the new namespace (the caller opens
    its sockets there, then returns home) and returns an fd of the namespace.

    Raises:
        KernelError: EEXIST when the name is taken; other mount/unshare errors.
    """
    path = netns_path(name)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0)
    except OSError as exc:
        raise KernelError(exc.errno or errno.EIO, f"netns {name}: {exc.strerror}") from None
    os.close(fd)
    try:
        enter()
        if prepare is not None:
            prepare()
        mount(f"/proc/self/task/{threading.get_native_id()}/ns/net", path, MS_BIND)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(path)
        raise
    return os.open(path, os.O_RDONLY | os.O_CLOEXEC)


def remove(name: str) -> None:
    """Unmount and unlink named namespace ``name``.

    The kernel frees the namespace (and every device in it) once no mount,
    process or socket holds it.

    Raises:
        KernelError: ENOENT when there is no such namespace.
    """
    path = netns_path(name)
    if not os.path.exists(path):
        raise KernelError(errno.ENOENT, f"netns {name}: no such namespace")
    try:
        umount_detach(path)
    except KernelError as exc:
        if exc.errno != errno.EINVAL:  # EINVAL: not mounted (a crash before the mount)
            raise
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
