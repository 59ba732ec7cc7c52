"""The root side of the node sandbox: run as ``python -I helper.py init|join ...``.

Standard library only (it runs in isolated mode, before anything of the project is
on ``sys.path``), single-threaded (a process with threads may not enter a user
namespace). ``worker.sandbox`` builds its command lines; nothing else should.

``init`` sets up one node and becomes its init, in this order:

1. join the lab's cgroups (pids, memory), so every process of the node counts;
2. new mount, UTS and IPC namespaces (owned by the initial user namespace), all
   mounts private; enter the node's network namespace; set the hostname;
3. in that mount namespace, as root: a fresh sysfs (read-only) for the node's
   network namespace; ``/run/netns`` and ``/run/topolab`` detached (so this node
   pins no other lab's namespace); every other mount remounted read-only; empty
   read-only tmpfs over the hidden paths (the checkout, ``var/``, ``/root``'s
   parent places...); size-capped tmpfs for ``/tmp``, ``/var/tmp``, ``/dev/shm``,
   ``/run`` and the home; ``/etc/hosts`` and ``/etc/hostname`` bound from the
   lab's files; ``/dev/net`` a tmpfs holding a ``tun`` node owned by the lab's
   root (so tun/tap work although the host's ``/dev/net/tun`` is 0600); the
   programs of ``worker/apps`` read-only under ``/run/topolab-apps``;
4. exec ``unshare --pid --fork --kill-child --mount-proc``: its child is pid 1 of
   a new PID namespace with the node's own ``/proc``, and it enters the lab's user
   namespace (``nsenter --user``, uid and gid 0 there, i.e. the lab's host uid),
   unshares a mount namespace owned by that user namespace (so every mount above
   is locked: the lab's root can neither unmount nor remount any of them), sets
   no_new_privs and execs ``catatonit -P``, which reaps and waits. Killing the
   ``unshare`` parent kills that init, and the kernel then ends every process of
   the node.

``join`` runs one program in a node whose init is running: it joins the lab's
cgroups, optionally opens the character device of one of the node's macvtaps for
the program, enters the init's PID, network, UTS, IPC and mount namespaces, forks;
the child enters the lab's user namespace (root there, nothing in the initial
one), sets its parent-death signal and no_new_privs, becomes a session leader
(with the pty as controlling terminal for consoles) and execs the program. The
parent stays outside the node, forwards SIGTERM, SIGINT and SIGHUP, and exits with
the program's status.
"""

from __future__ import annotations

import argparse
import ctypes
import errno
import fcntl
import os
import resource
import signal
import sys
from collections.abc import Sequence

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 0x4000
MS_PRIVATE = 1 << 18
MNT_DETACH = 2
PR_SET_PDEATHSIG = 1
PR_SET_NO_NEW_PRIVS = 38
TIOCSCTTY = 0x540E
TUN_DEVICE = (10, 200)

# Flags a read-only remount keeps; a bind remount must repeat what it wants to keep.
_KEEP = {"nosuid": MS_NOSUID, "nodev": MS_NODEV, "noexec": MS_NOEXEC}
_VIRTUAL = ("/proc", "/sys", "/dev")

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                        ctypes.c_void_p]  # fmt: skip
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]


class SandboxError(Exception):
    """A step of the sandbox failed; the message names it."""


def _check(rc: int, what: str) -> None:
    if rc != 0:
        err = ctypes.get_errno()
        raise SandboxError(f"{what}: {os.strerror(err)}")


def mount(
    source: str, target: str, fstype: str | None, flags: int, data: str | None = None
) -> None:
    """mount(2).

    Raises:
        SandboxError: the mount failed.
    """
    _check(
        _libc.mount(
            source.encode(),
            target.encode(),
            fstype.encode() if fstype else None,
            flags,
            data.encode() if data else None,
        ),
        f"mount {target}",
    )


def _tmpfs(target: str, size: str, mode: str, uid: int, flags: int = MS_NOSUID | MS_NODEV) -> None:
    mount("tmpfs", target, "tmpfs", flags, f"size={size},mode={mode},uid={uid},gid={uid}")


def _setns(path: str, nstype: int) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        _check(_libc.setns(fd, nstype), f"setns {path}")
    finally:
        os.close(fd)


def set_rlimits(nproc: int, memory: int) -> None:
    """The fallback where the host has no cgroups: processes of the (lab's own) uid, and
    address space per process."""
    if nproc > 0:
        resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
    if memory > 0:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))


def join_cgroups(procs_files: Sequence[str]) -> None:
    """Move this process into each cgroup (its ``cgroup.procs`` file).

    Raises:
        SandboxError: a cgroup refused it.
    """
    for path in procs_files:
        try:
            with open(path, "w") as f:
                f.write(str(os.getpid()))
        except OSError as exc:
            raise SandboxError(f"join cgroup {path}: {exc.strerror}") from exc


def _mountpoints() -> list[tuple[str, set[str]]]:
    points = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            target = fields[4].encode().decode("unicode_escape")
            points.append((target, set(fields[5].split(","))))
    return points


def _under(path: str, roots: Sequence[str]) -> bool:
    return any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots)


def _read_only(skip: Sequence[str]) -> None:
    """Remount every mount read-only but the virtual file systems and ``skip``."""
    for target, options in _mountpoints():
        if _under(target, (*_VIRTUAL, *skip)):
            continue
        flags = MS_REMOUNT | MS_BIND | MS_RDONLY
        for name, bit in _KEEP.items():
            if name in options:
                flags |= bit
        try:
            mount("none", target, None, flags)
        except SandboxError:
            if os.path.exists(target):
                raise


def _detach(path: str) -> None:
    if _libc.umount2(path.encode(), MNT_DETACH) != 0 and ctypes.get_errno() not in (
        errno.EINVAL,
        errno.ENOENT,
    ):
        _check(-1, f"umount {path}")


def _write(path: str, text: str, mode: int, uid: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, mode)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chown(path, uid, uid)


def init(ns: argparse.Namespace) -> int:
    """Steps 1-4 of the module docstring; execs into the node's init.

    Raises:
        SandboxError: a step failed.
    """
    join_cgroups(ns.cgroup)
    set_rlimits(ns.nproc, ns.memory)
    userns_fd = os.open(ns.userns, os.O_RDONLY)
    os.set_inheritable(userns_fd, True)  # nsenter opens it as /proc/self/fd/N
    _check(_libc.unshare(CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC), "unshare")
    mount("none", "/", None, MS_REC | MS_PRIVATE)
    # Opened in this mount namespace: once the checkout is hidden, the apps are bound from it.
    apps_fd = os.open(ns.apps, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC) if ns.apps else -1
    # Likewise the node's files (under /run/topolab, which the node's own /run covers).
    files = []
    for spec in ns.file:
        source, _, target = spec.partition(":")
        files.append((f"/proc/self/fd/{os.open(source, os.O_PATH | os.O_CLOEXEC)}", target))
    _setns(ns.netns, CLONE_NEWNET)
    hostname = ns.hostname.encode()
    _check(_libc.sethostname(hostname, len(hostname)), "sethostname")
    uid = ns.uid
    # Everything the node writes goes to its own tmpfs; the host's places stay unseen.
    writable = ["/tmp", "/var/tmp", "/dev/shm", "/run", ns.home]  # noqa: S108
    hidden = [h for h in ns.hide if os.path.isdir(h) and not _under(h, writable)]
    # A path under another hidden one is hidden with it (and would be gone once it is).
    hidden = [h for h in hidden if not _under(h, [o for o in hidden if o != h])]
    mount("sysfs", "/sys", "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)
    # The lab's hosts file and the node's name, bound (then read-only) over the system's.
    for source, target in ((ns.hosts, "/etc/hosts"), (ns.hostname_file, "/etc/hostname")):
        if source and os.path.exists(target):
            mount(source, target, None, MS_BIND)
    # Our copies of other namespaces' mounts would keep those namespaces alive.
    for target, _options in reversed(_mountpoints()):
        if _under(target, ("/run/netns", "/run/topolab")):
            _detach(target)
    _read_only(skip=(*writable, *hidden))
    # Apps: the project's worker/apps, and nothing else of the checkout.
    apps_root = "/run/topolab-apps"
    for path in hidden:
        _tmpfs(path, "4k", "0555", 0, MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)
    for path in writable:
        if os.path.isdir(path):
            _tmpfs(path, ns.tmp_size, "1777" if path != ns.home and path != "/run" else "0755", uid)
    if apps_fd >= 0 and os.path.isdir("/run"):
        os.mkdir(apps_root, 0o755)
        _tmpfs(apps_root, "64k", "0755", 0)
        os.makedirs(f"{apps_root}/worker/apps")
        _write(f"{apps_root}/worker/__init__.py", "", 0o644, 0)
        mount(f"/proc/self/fd/{apps_fd}", f"{apps_root}/worker/apps", None, MS_BIND | MS_REC)
        os.close(apps_fd)
        mount("none", f"{apps_root}/worker/apps", None, MS_REMOUNT | MS_BIND | MS_RDONLY)
        mount("none", apps_root, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
    _node_files(files, uid, writable, [*hidden, *_VIRTUAL])
    if os.path.isdir("/dev/net"):
        _tmpfs("/dev/net", "4k", "0755", 0, MS_NOSUID)
        tun = "/dev/net/tun"
        os.mknod(tun, 0o600 | 0o020000, os.makedev(*TUN_DEVICE))
        os.chown(tun, uid, uid)
    os.chdir("/")
    argv = [
        "unshare", "--pid", "--fork", "--kill-child", "--mount-proc", "--",
        "nsenter", f"--user=/proc/self/fd/{userns_fd}", "--",
        "unshare", "--mount", "--",
        "setpriv", "--no-new-privs", "--",
        "catatonit", "-P",
    ]  # fmt: skip
    os.execvp(argv[0], argv)  # noqa: S606 - argv list, no shell
    return 0  # pragma: no cover - execvp does not return


COPY_MAX_ENTRIES = 256
COPY_MAX_BYTES = 1024 * 1024


def _snapshot(directory: str) -> list[tuple[str, str, bytes, int]]:
    """(relative path, kind, content or link target, mode) of a small host directory."""
    found: list[tuple[str, str, bytes, int]] = []
    for root, dirs, files in os.walk(directory):
        for name in dirs:
            path = os.path.join(root, name)
            found.append((os.path.relpath(path, directory), "dir", b"", 0o755))
        for name in files:
            path = os.path.join(root, name)
            rel = os.path.relpath(path, directory)
            if os.path.islink(path):
                found.append((rel, "link", os.readlink(path).encode(), 0))
            elif os.path.isfile(path) and os.path.getsize(path) <= COPY_MAX_BYTES:
                with open(path, "rb") as f:
                    found.append((rel, "file", f.read(), os.stat(path).st_mode & 0o777))
        if len(found) > COPY_MAX_ENTRIES:
            raise SandboxError(f"{directory} is too large to give a node its own copy")
    return found


def _node_files(
    files: list[tuple[str, str]], uid: int, writable: Sequence[str], forbidden: Sequence[str]
) -> None:
    """Bind each node file (a host file of the lab's) at its path in the node.

    A file under the node's own tmpfs gets its directories made there. Elsewhere the
    nearest existing directory (never a top-level one such as ``/etc``) becomes a tmpfs
    of the node's own holding a copy of the host's files, so the system's other files
    stay and the node's file can appear. The bound file is rewritten in place by the
    engine, so an edit reaches a running node; the node may read it, not write it.
    """
    for source, target in files:
        target = os.path.normpath(target)
        if not target.startswith("/") or ".." in target.split("/") or _under(target, forbidden):
            raise SandboxError(f"a node file cannot live at {target}")
        directory = os.path.dirname(target)
        if not _under(directory, writable):
            base = directory
            while not os.path.isdir(base):
                base = os.path.dirname(base)
            if base.count("/") < 2:
                raise SandboxError(f"a node file cannot live at {target}: {base} is the system's")
            if not _is_node_tmpfs(base):
                saved = _snapshot(base)
                _tmpfs(base, "16m", "0755", uid)
                for rel, kind, data, mode in saved:
                    path = os.path.join(base, rel)
                    if kind == "dir":
                        os.makedirs(path, exist_ok=True)
                    elif kind == "link":
                        os.symlink(data.decode(), path)
                    else:
                        _write_bytes(path, data, mode)
                _node_tmpfs.add(base)
        os.makedirs(directory, exist_ok=True)
        if not os.path.exists(target):
            _write_bytes(target, b"", 0o644)
        mount(source, target, None, MS_BIND)
        # Read-only in the node (locked so): the file lives on the host, whose disk a
        # node must not be able to fill; the engine rewrites it in place.
        flags = MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV
        mount("none", target, None, flags)


_node_tmpfs: set[str] = set()


def _is_node_tmpfs(path: str) -> bool:
    return any(path == d or path.startswith(d + "/") for d in _node_tmpfs)


def _write_bytes(path: str, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _become_lab_root(userns_fd: int) -> None:
    _check(_libc.setns(userns_fd, CLONE_NEWUSER), "setns user")
    os.close(userns_fd)
    os.setgroups([])
    os.setresgid(0, 0, 0)
    os.setresuid(0, 0, 0)


MACVTAP_FD = 99  # a macvtap's character device, opened for the program (``/proc/self/fd/99``)


def _open_macvtap(netns_fd: int, name: str, uid: int) -> int:
    """Open the character device of the node's macvtap ``name``; return the descriptor.

    Done before this process enters the node's mount namespace, in a private one of
    its own with a sysfs of the node's network namespace: the lab's root controls the
    node's mounts (it may mount over ``/sys`` there) and must not choose the device.
    The descriptor's inode is given to the lab's root, so the program can reopen it
    through ``/proc/self/fd`` and nothing else.
    """
    if "/" in name or name in (".", "..") or not name:
        raise SandboxError(f"bad interface name {name!r}")
    _check(_libc.unshare(CLONE_NEWNS), "unshare")
    mount("none", "/", None, MS_REC | MS_PRIVATE)
    _check(_libc.setns(netns_fd, CLONE_NEWNET), "setns net")
    mount("sysfs", "/sys", "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)
    base = f"/sys/class/net/{name}"
    try:
        with open(f"{base}/ifindex") as f:
            index = f.read().strip()
        with open(f"{base}/macvtap/tap{index}/dev") as f:
            major, minor = (int(x) for x in f.read().split(":"))
    except (OSError, ValueError) as exc:
        raise SandboxError(f"{name} is not a macvtap of this node") from exc
    scratch = "/tmp"  # noqa: S108 - a tmpfs of our own, in our own mount namespace
    _tmpfs(scratch, "4k", "0700", 0, MS_NOSUID)
    path = f"{scratch}/{name}"
    os.mknod(path, 0o600 | 0o020000, os.makedev(major, minor))
    fd = os.open(path, os.O_RDWR)
    os.unlink(path)
    os.fchown(fd, uid, uid)
    os.dup2(fd, MACVTAP_FD)  # inheritable
    os.close(fd)
    return MACVTAP_FD


def join(ns: argparse.Namespace, argv: list[str]) -> int:
    """Run ``argv`` in the node of init ``ns.init`` (see the module docstring).

    Raises:
        SandboxError: a step failed before the program started.
    """
    join_cgroups(ns.cgroup)
    proc = f"/proc/{ns.init}"
    with open(f"{proc}/stat") as f:
        if f.read().rsplit(")", 1)[1].split()[19] != ns.init_started:
            raise SandboxError(f"the node's init {ns.init} is gone")
    userns_fd = os.open(ns.userns, os.O_RDONLY | os.O_CLOEXEC)  # before the node's mounts
    fds = {t: os.open(f"{proc}/ns/{n}", os.O_RDONLY | os.O_CLOEXEC)
           for t, n in ((CLONE_NEWPID, "pid"), (CLONE_NEWNET, "net"), (CLONE_NEWUTS, "uts"),
                        (CLONE_NEWIPC, "ipc"), (CLONE_NEWNS, "mnt"))}  # fmt: skip
    if ns.macvtap:
        _open_macvtap(fds[CLONE_NEWNET], ns.macvtap, ns.uid)
    # From here on this process stands in the node's mounts, which the lab's root
    # controls: it reads, imports and executes nothing there while it is host root.
    for nstype, fd in fds.items():
        _check(_libc.setns(fd, nstype), f"setns {nstype:#x}")
        os.close(fd)
    child = os.fork()
    if child == 0:
        try:
            _become_lab_root(userns_fd)
            _check(_libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "pdeathsig")
            if os.getppid() != 0:  # the parent is outside this PID namespace: 0 while alive
                os._exit(1)
            _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
            set_rlimits(ns.nproc, ns.memory)
            os.setsid()
            if ns.ctty:
                fcntl.ioctl(0, TIOCSCTTY, 0)
            os.chdir(ns.cwd if os.path.isdir(ns.cwd) else "/")
            os.execvpe(argv[0], argv, os.environ)  # noqa: S606 - argv list, no shell
        except BaseException as exc:  # the child must never return into the parent's code
            print(f"sandbox: {exc}", file=sys.stderr)
            os._exit(127 if isinstance(exc, FileNotFoundError) else 126)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda s, _f: os.kill(child, s))
    while True:
        try:
            _pid, status = os.waitpid(child, 0)
            break
        except ChildProcessError:
            return 1
    return os.waitstatus_to_exitcode(status) if status >= 0 else 1


def _exit_code(code: int) -> int:
    return 128 - code if code < 0 else code


def main(args: Sequence[str] | None = None) -> int:
    """Entry point: ``helper.py init ...`` or ``helper.py join ... -- ARGV``."""
    parser = argparse.ArgumentParser(prog="worker.sandbox.helper")
    sub = parser.add_subparsers(dest="command", required=True)
    p_init = sub.add_parser("init")
    p_init.add_argument("--netns", required=True)
    p_init.add_argument("--userns", required=True)
    p_init.add_argument("--uid", type=int, required=True)
    p_init.add_argument("--hostname", required=True)
    p_init.add_argument("--hosts", default="")
    p_init.add_argument("--hostname-file", default="")
    p_init.add_argument("--home", default="/root")
    p_init.add_argument("--tmp-size", default="64m")
    p_init.add_argument("--hide", action="append", default=[])
    p_init.add_argument("--cgroup", action="append", default=[])
    p_init.add_argument("--apps", default="")
    p_init.add_argument("--file", action="append", default=[], help="HOST_FILE:PATH_IN_NODE")
    p_init.add_argument("--nproc", type=int, default=0)
    p_init.add_argument("--memory", type=int, default=0)
    p_join = sub.add_parser("join")
    p_join.add_argument("--init", type=int, required=True)
    p_join.add_argument("--init-started", required=True)
    p_join.add_argument("--userns", required=True)
    p_join.add_argument("--uid", type=int, required=True)
    p_join.add_argument("--cgroup", action="append", default=[])
    p_join.add_argument("--macvtap", default="")
    p_join.add_argument("--cwd", default="/root")
    p_join.add_argument("--ctty", action="store_true")
    p_join.add_argument("--nproc", type=int, default=0)
    p_join.add_argument("--memory", type=int, default=0)
    p_join.add_argument("argv", nargs=argparse.REMAINDER)
    ns = parser.parse_args(args)
    try:
        if ns.command == "init":
            return init(ns)
        argv = ns.argv[1:] if ns.argv[:1] == ["--"] else ns.argv
        if not argv:
            parser.error("no program given after --")
        return _exit_code(join(ns, argv))
    except (OSError, SandboxError) as exc:
        print(f"sandbox: {exc}", file=sys.stderr)
        return 126


if __name__ == "__main__":
    sys.exit(main())
