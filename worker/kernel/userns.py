"""A user namespace per lab: what owns the lab's network namespaces.

Each lab gets a user namespace of its own, mapped to a range of host uids taken
from a pool (``TOPOLAB_UID_BASE``, ``TOPOLAB_UID_SLOTS`` ranges of 65536). Root
in it (host uid ``base + slot * 65536``) has CAP_NET_ADMIN over the lab's own
network namespaces only: ``ip link add ... netns 1`` and every request toward a
namespace owned by the initial user namespace or by another lab is refused by
the kernel. The engine, root in the initial user namespace, keeps full control.

State lives under ``/run/topolab`` (0700, gone at reboot like the namespaces):

* ``userns/<lab>``: the lab's user namespace, bind-mounted like ``/run/netns``;
* ``uids/<slot>``: the pool, one file per range in use, holding the lab key
  (made with O_EXCL, so two processes never take one range);
* ``labs/<lab>``: the slot of a lab.

A process may not enter or make a user namespace while it has several threads,
so a small single-threaded child (:class:`NetnsMaker`) does that: it joins the
lab's user namespace and unshares one new network namespace per request, which
the engine's own thread then enters, tags and names (``worker.kernel.netns``).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass

from worker.kernel import netns
from worker.kernel.errors import KernelError

RUN_DIR = "/run/topolab"
UID_RANGE = 65536
DEFAULT_UID_BASE = 1_000_000_000
DEFAULT_UID_SLOTS = 4096
CLONE_NEWUSER = 0x10000000
NS_GET_NSTYPE = 0xB703

# The child: join (or make) a user namespace, then one new network namespace per line.
_CHILD = r"""
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
def say(rc):
    os.write(1, b"ok\n" if rc == 0 else b"err %d\n" % ctypes.get_errno())
target = sys.argv[1]
if target == "-":
    rc = libc.unshare(0x10000000)
else:
    fd = os.open(target, os.O_RDONLY | os.O_CLOEXEC)
    rc = libc.setns(fd, 0x10000000)
    os.close(fd)
say(rc)
if rc:
    sys.exit(1)
while sys.stdin.readline():
    say(libc.unshare(0x40000000))
"""


@dataclass(frozen=True, kw_only=True)
class LabIdentity:
    """Who a lab's processes are on this host: its uid range and user namespace."""

    lab: str
    slot: int
    uid: int  # host uid of root in the lab's user namespace (its range starts here)
    userns: str  # the file the lab's user namespace is mounted on


def _dir(name: str) -> str:
    path = os.path.join(RUN_DIR, name)
    os.makedirs(path, mode=0o700, exist_ok=True)
    return path


def pool() -> tuple[int, int]:
    """Return (first uid, number of ranges) of the uid pool, from the environment."""
    base = int(os.environ.get("TOPOLAB_UID_BASE", DEFAULT_UID_BASE))
    slots = int(os.environ.get("TOPOLAB_UID_SLOTS", DEFAULT_UID_SLOTS))
    return base, slots


def userns_path(lab: str) -> str:
    """Return the file lab ``lab``'s user namespace is mounted on."""
    return os.path.join(RUN_DIR, "userns", lab)


@contextlib.contextmanager
def _locked() -> Iterator[None]:
    os.makedirs(RUN_DIR, mode=0o700, exist_ok=True)
    fd = os.open(os.path.join(RUN_DIR, "lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def is_userns(path: str) -> bool:
    """True when ``path`` is a user namespace (a bind-mounted nsfs file), not a plain file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        return fcntl.ioctl(fd, NS_GET_NSTYPE) == CLONE_NEWUSER
    except OSError:
        return False
    finally:
        os.close(fd)


def find_identity(lab: str) -> LabIdentity | None:
    """Return lab ``lab``'s identity on this host, or None when it has none."""
    try:
        with open(os.path.join(RUN_DIR, "labs", lab)) as f:
            slot = int(f.read().strip())
    except (OSError, ValueError):
        return None
    base, _slots = pool()
    return LabIdentity(lab=lab, slot=slot, uid=base + slot * UID_RANGE, userns=userns_path(lab))


def _take_slot(lab: str) -> int:
    _base, slots = pool()
    uids = _dir("uids")
    for slot in range(slots):
        try:
            fd = os.open(os.path.join(uids, str(slot)), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            continue
        with os.fdopen(fd, "w") as f:
            f.write(lab)
        with open(os.path.join(_dir("labs"), lab), "w") as f:
            f.write(str(slot))
        return slot
    raise KernelError(errno.ENOSPC, f"the uid pool is exhausted ({slots} labs on this host)")


def ensure_identity(lab: str) -> LabIdentity:
    """Return lab ``lab``'s identity, taking a uid range and making its user namespace if needed.

    Raises:
        KernelError: ENOSPC when the pool is exhausted; the namespace could not be made.
    """
    identity, child = _ensure(lab, keep=False)
    assert child is None
    return identity


def _ensure(lab: str, keep: bool) -> tuple[LabIdentity, subprocess.Popen[bytes] | None]:
    """The identity; with ``keep``, the child that made a new user namespace (still in it)."""
    with _locked():
        identity = find_identity(lab)
        if identity is None:
            slot = _take_slot(lab)
            base, _slots = pool()
            identity = LabIdentity(
                lab=lab, slot=slot, uid=base + slot * UID_RANGE, userns=userns_path(lab)
            )
        child = None
        if not is_userns(identity.userns):
            child = _make_userns(identity, keep)
        return identity, child


def _make_userns(identity: LabIdentity, keep: bool) -> subprocess.Popen[bytes] | None:
    _dir("userns")
    child = _spawn("-")
    _expect_ok(child, "new user namespace")
    try:
        mapping = f"0 {identity.uid} {UID_RANGE}\n"
        for name in ("uid_map", "gid_map"):
            with open(f"/proc/{child.pid}/{name}", "w") as f:
                f.write(mapping)
        path = identity.userns
        with contextlib.suppress(FileNotFoundError):
            if not is_userns(path):
                os.unlink(path)
        fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        os.close(fd)
        try:
            netns.mount(f"/proc/{child.pid}/ns/user", path, netns.MS_BIND)
        except KernelError:
            os.unlink(path)
            raise
    except BaseException:
        _end(child)
        raise
    if keep:  # it is in the new user namespace already: it can make the lab's namespaces
        return child
    _end(child)
    return None


def open_maker(lab: str) -> NetnsMaker:
    """A :class:`NetnsMaker` for lab ``lab``, making its identity first if needed.

    Raises:
        KernelError: the uid pool is exhausted, or the user namespace could not be made.
    """
    identity, child = _ensure(lab, keep=True)
    return NetnsMaker(identity, child)


def release_identity(lab: str) -> None:
    """Unmount lab ``lab``'s user namespace and give its uid range back to the pool.

    Call it once nothing of the lab is left (its namespaces and processes hold the
    user namespace too: the kernel frees it after the last of them).
    """
    with _locked():
        identity = find_identity(lab)
        path = userns_path(lab)
        if os.path.exists(path):
            with contextlib.suppress(KernelError):
                netns.umount_detach(path)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        if identity is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(RUN_DIR, "uids", str(identity.slot)))
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(RUN_DIR, "labs", lab))


def identities() -> list[LabIdentity]:
    """Return every lab identity on this host (for the orphan sweep)."""
    try:
        labs = sorted(os.listdir(os.path.join(RUN_DIR, "labs")))
    except FileNotFoundError:
        return []
    return [i for i in (find_identity(lab) for lab in labs) if i is not None]


# The child is standard library only: the system Python starts it fastest.
CHILD_PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable


def _spawn(target: str) -> subprocess.Popen[bytes]:
    """Start the child (it says ``ok`` once in the user namespace: see ``_expect_ok``)."""
    return subprocess.Popen(
        [CHILD_PYTHON, "-I", "-S", "-c", _CHILD, target],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        close_fds=True,
    )


def _expect_ok(child: subprocess.Popen[bytes], what: str) -> None:
    assert child.stdout is not None
    line = child.stdout.readline().decode().strip()
    if line == "ok":
        return
    code = int(line.split()[1]) if line.startswith("err ") else errno.EIO
    _end(child)
    raise KernelError(code, f"{what}: {os.strerror(code)}")


def _end(child: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(OSError):
        if child.stdin is not None:
            child.stdin.close()
    try:
        child.wait(timeout=5)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()
    if child.stdout is not None:
        child.stdout.close()


class NetnsMaker:
    """A child process in a lab's user namespace that makes network namespaces owned by it.

    :meth:`enter_new` is called from the engine's namespace thread: the child
    unshares a fresh network namespace, and the thread joins it (root of the
    initial user namespace may enter any namespace), so the caller can tag and
    name it exactly as it names namespaces of its own.
    """

    def __init__(self, identity: LabIdentity, child: subprocess.Popen[bytes] | None = None) -> None:
        """Start the child in ``identity``'s user namespace (or take ``child``, already
        there). The child starts in the background: the first :meth:`enter_new` waits
        for it, so its start-up overlaps the caller's discovery and planning."""
        self.identity = identity
        self._ready = child is not None
        self._child = child or _spawn(identity.userns)

    def enter_new(self) -> None:
        """Make a new network namespace in the lab's user namespace and move this thread in.

        Raises:
            KernelError: the unshare or the setns failed.
        """
        child = self._child
        assert child.stdin is not None
        if not self._ready:
            _expect_ok(child, f"user namespace of lab {self.identity.lab}")
            self._ready = True
        try:
            child.stdin.write(b"n\n")
            child.stdin.flush()
        except OSError as exc:
            raise KernelError(exc.errno or errno.EIO, "netns maker is gone") from None
        _expect_ok(child, f"new network namespace of lab {self.identity.lab}")
        fd = os.open(f"/proc/{child.pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            netns.setns(fd)
        finally:
            os.close(fd)

    def close(self) -> None:
        """End the child."""
        _end(self._child)
