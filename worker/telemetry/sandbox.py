"""Run a program for a user inside a node: its namespace, an unprivileged uid, net caps only.

The command line is built here as an argv list and always ends in util-linux
`setpriv` (uid/gid, no groups, only CAP_NET_ADMIN + CAP_NET_RAW in every set,
ambient so they survive exec, no_new_privs). Before that, this module's `main()`
(run as root as `python -I .../sandbox.py`) does what `nsenter` and
`unshare` would, plus the mounts no argv-only tool chain can do:

1. `unshare(CLONE_NEWNS)` and make every mount private, so nothing leaks back;
2. `setns()` into `/run/netns/<name>`;
3. mount a fresh sysfs on /sys (so `ip`, which reads /sys, describes this namespace);
4. mount an empty read-only tmpfs over each hidden path (`/run/netns`, the capture
   directory), so the user cannot even name other namespaces or others' pcaps;
5. optionally become a session leader with the pty as controlling terminal (consoles);
6. exec setpriv.

Even without the hiding, `ip netns exec` needs CAP_SYS_ADMIN, which the user lacks.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import pwd
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

NETNS_RUN_DIR = Path("/run/netns")
CLONE_NEWNET = 0x40000000
CLONE_NEWNS = 0x00020000
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REC = 0x4000
MS_PRIVATE = 1 << 18
TIOCSCTTY = 0x540E

DEFAULT_USER = "nobody"
NET_CAPS = ("net_admin", "net_raw")
SAFE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class SandboxSpec:
    """Where and as whom a program runs."""

    namespace: str
    user: str = DEFAULT_USER
    caps: tuple[str, ...] = NET_CAPS
    isolate_mounts: bool = True
    hide: tuple[str, ...] = field(default=(str(NETNS_RUN_DIR),))
    controlling_tty: bool = False


def resolve_user(user: str) -> tuple[int, int]:
    """Return (uid, gid) of a user name or numeric uid.

    Raises:
        KeyError: no such user.
    """
    if user.isdigit():
        return int(user), int(user)
    entry = pwd.getpwnam(user)
    return entry.pw_uid, entry.pw_gid


def sandbox_argv(spec: SandboxSpec, argv: Sequence[str]) -> list[str]:
    """The full argv that runs `argv` as described by `spec` (to pass to Popen).

    Raises:
        KeyError: the user does not exist.
    """
    uid, gid = resolve_user(spec.user)
    caps = ",".join(["-all", *(f"+{c}" for c in spec.caps)])
    # The helper is this file run as a script in isolated mode: it imports only the
    # standard library, so it needs neither the project on sys.path nor its environment.
    helper = [sys.executable, "-I", str(Path(__file__).resolve()), "--netns", spec.namespace]
    if spec.isolate_mounts:
        helper.append("--isolate-mounts")
        for path in spec.hide:
            helper += ["--hide", path]
    if spec.controlling_tty:
        helper.append("--ctty")
    setpriv = [
        "setpriv",
        f"--reuid={uid}",
        f"--regid={gid}",
        "--clear-groups",
        f"--inh-caps={caps}",
        f"--ambient-caps={caps}",
        f"--bounding-set={caps}",
        "--no-new-privs",
        "--",
    ]
    return [*helper, "--", *setpriv, *argv]


def sandbox_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """A minimal environment: nothing from the worker's own (no secrets, no settings)."""
    env = {"PATH": SAFE_PATH, "HOME": "/", "LANG": "C.UTF-8"}
    env.update(extra or {})
    return env


_libc = ctypes.CDLL(None, use_errno=True)


def _check(rc: int, what: str) -> None:
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(source: str, target: str, fstype: str | None, flags: int, data: str | None) -> None:
    _check(
        _libc.mount(
            source.encode(),
            target.encode(),
            fstype.encode() if fstype else None,
            ctypes.c_ulong(flags),
            data.encode() if data else None,
        ),
        f"mount {target}",
    )


def enter(namespace: str, isolate_mounts: bool, hide: Sequence[str], controlling_tty: bool) -> None:
    """Do steps 1-5 of the module docstring in the current process.

    Raises:
        OSError: a syscall failed (the namespace is gone, not root, ...).
    """
    if isolate_mounts:
        _check(_libc.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
        _mount("none", "/", None, MS_REC | MS_PRIVATE, None)
    fd = os.open(NETNS_RUN_DIR / namespace, os.O_RDONLY | os.O_CLOEXEC)
    try:
        _check(_libc.setns(fd, CLONE_NEWNET), f"setns {namespace}")
    finally:
        os.close(fd)
    if isolate_mounts:
        _mount("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, None)
        for path in hide:
            if os.path.isdir(path):
                flags = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC
                _mount("tmpfs", path, "tmpfs", flags, "size=4k,mode=0555")
    if controlling_tty:
        os.setsid()
        import fcntl

        fcntl.ioctl(0, TIOCSCTTY, 0)


def main(args: Sequence[str] | None = None) -> int:
    """Entry point: `python -m worker.telemetry.sandbox --netns NS [...] -- ARGV`."""
    parser = argparse.ArgumentParser(prog="worker.telemetry.sandbox")
    parser.add_argument("--netns", required=True)
    parser.add_argument("--isolate-mounts", action="store_true")
    parser.add_argument("--hide", action="append", default=[])
    parser.add_argument("--ctty", action="store_true")
    parser.add_argument("argv", nargs=argparse.REMAINDER)
    ns = parser.parse_args(args)
    argv = ns.argv[1:] if ns.argv[:1] == ["--"] else ns.argv
    if not argv:
        parser.error("no program given after --")
    try:
        enter(ns.netns, ns.isolate_mounts, ns.hide, ns.ctty)
        os.execvp(argv[0], argv)  # noqa: S606 - argv list, no shell, on purpose
    except OSError as exc:
        print(f"sandbox: {exc}", file=sys.stderr)
        return 126
    return 0  # pragma: no cover - execvp does not return


if __name__ == "__main__":
    sys.exit(main())
