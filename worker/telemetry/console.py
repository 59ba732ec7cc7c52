"""Consoles: a shell on a pty inside a node, in the node's sandbox (`worker.sandbox`).

The shell is root of the lab's own user namespace in the node's PID, mount and
network namespaces, so `ip`, `ping`, `tc` and `tcpdump` work on the node and nothing
of the host or of other labs is reachable.
The owner (the lab-host agent) reads `fileno()` when readable, calls `write()` with the
user's keystrokes, `resize()` on window changes, and `close()` when the user leaves,
the console idles past its timeout, or the lab is destroyed (`ConsoleRegistry`).
"""

from __future__ import annotations

import fcntl
import os
import select
import signal
import struct
import subprocess
import termios
import time
from collections.abc import Sequence
from dataclasses import dataclass

from lab.topology import naming
from lab.wire import TopolabError
from worker import sandbox

DEFAULT_SHELL = ("/bin/bash", "--noprofile", "--norc", "-i")
DEFAULT_IDLE_TIMEOUT = 30 * 60.0


class ConsoleError(TopolabError):
    """A console could not be started or used. `code` is stable for clients."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message, code)


@dataclass(frozen=True)
class ConsoleSpec:
    """What to open: a node namespace, the shell, the window size, the idle limit."""

    lab: str
    node: str
    argv: tuple[str, ...] = DEFAULT_SHELL
    cols: int = 80
    rows: int = 24
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT

    ns: str = ""  # the node's namespace as found by owner tag (default: the engine's name)

    @property
    def namespace(self) -> str:
        """The node's network namespace."""
        return self.ns or naming.namespace_name(self.lab, self.node)


def _set_winsize(fd: int, cols: int, rows: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def clamp_size(cols: int, rows: int) -> tuple[int, int]:
    """Clamp a window size from a client to something a terminal accepts.

    Raises:
        ConsoleError: not positive integers.
    """
    if not isinstance(cols, int) or not isinstance(rows, int) or cols < 1 or rows < 1:
        raise ConsoleError(
            "console.bad_size", f"cols and rows must be positive integers, got {cols!r}x{rows!r}"
        )
    return min(cols, 1000), min(rows, 1000)


class Console:
    """One running shell on a pty. Not thread-safe; one owner."""

    def __init__(self, spec: ConsoleSpec) -> None:
        """Start the shell.

        Raises:
            ConsoleError: the namespace does not exist or the shell cannot start.
        """
        if not os.path.exists(f"/run/netns/{spec.namespace}"):
            raise ConsoleError("console.no_node", f"node {spec.node!r} is not running")
        self.spec = spec
        cols, rows = clamp_size(spec.cols, spec.rows)
        try:
            argv = sandbox.command(
                spec.lab, spec.node, spec.argv, tty=True, namespace=spec.namespace
            )
        except sandbox.SandboxError as exc:
            raise ConsoleError(exc.code, exc.message) from exc
        master, slave = os.openpty()
        _set_winsize(slave, cols, rows)
        env = sandbox.environment({"TERM": "xterm-256color", "PS1": r"root@\h:\w# "})
        try:
            self._proc = subprocess.Popen(
                argv,
                stdin=slave,
                stdout=slave,
                stderr=slave,
                env=env,
                cwd="/",
                close_fds=True,
            )
        except (OSError, KeyError) as exc:
            os.close(master)
            os.close(slave)
            raise ConsoleError("console.start_failed", f"cannot start a shell: {exc}") from exc
        os.close(slave)
        os.set_blocking(master, False)
        self._master: int | None = master
        self.last_activity = time.monotonic()

    @property
    def pid(self) -> int:
        """The PID of the sandbox helper that holds the shell (ended by PID, it ends it)."""
        return self._proc.pid

    def fileno(self) -> int:
        """The pty master, for select/add_reader.

        Raises:
            ConsoleError: the console is closed.
        """
        if self._master is None:
            raise ConsoleError("console.closed", "the console is closed")
        return self._master

    @property
    def alive(self) -> bool:
        """True while the shell runs and the console is open."""
        return self._master is not None and self._proc.poll() is None

    def write(self, data: bytes) -> None:
        """Send keystrokes to the shell.

        Raises:
            ConsoleError: the console is closed.
        """
        fd = self.fileno()
        self.last_activity = time.monotonic()
        view = memoryview(data)
        while view:
            try:
                n = os.write(fd, view)
            except BlockingIOError:
                select.select([], [fd], [], 1.0)
                continue
            except OSError as exc:
                raise ConsoleError("console.closed", f"the shell has exited: {exc}") from exc
            view = view[n:]

    def read(self, timeout: float = 0.0) -> bytes:
        """Return output available within `timeout` seconds (b"" when none; EOF when closed).

        Raises:
            ConsoleError: the shell has exited and all output was read.
        """
        fd = self.fileno()
        ready, _, _ = select.select([fd], [], [], timeout)
        if not ready:
            return b""
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return b""
        except OSError as exc:  # EIO once the shell side is gone
            raise ConsoleError("console.closed", "the shell has exited") from exc
        if not data:
            raise ConsoleError("console.closed", "the shell has exited")
        self.last_activity = time.monotonic()
        return data

    def read_until(self, needle: bytes, timeout: float = 10.0) -> bytes:
        """Read until `needle` appears or `timeout` passes; return everything read."""
        buf = b""
        deadline = time.monotonic() + timeout
        while needle not in buf and time.monotonic() < deadline:
            try:
                buf += self.read(min(0.2, max(0.0, deadline - time.monotonic())))
            except ConsoleError:
                break
        return buf

    def resize(self, cols: int, rows: int) -> None:
        """Set the window size (TIOCSWINSZ); the kernel sends SIGWINCH to the shell.

        Raises:
            ConsoleError: bad size or closed console.
        """
        cols, rows = clamp_size(cols, rows)
        _set_winsize(self.fileno(), cols, rows)

    def idle(self, now: float | None = None) -> bool:
        """True when nothing was typed or printed for longer than the idle timeout."""
        now = time.monotonic() if now is None else now
        return now - self.last_activity > self.spec.idle_timeout

    def close(self) -> None:
        """End the shell (SIGHUP, then SIGKILL by PID) and close the pty."""
        if self._proc.poll() is None:
            for sig, wait in ((signal.SIGHUP, 1.0), (signal.SIGKILL, 5.0)):
                try:
                    self._proc.send_signal(sig)
                    self._proc.wait(timeout=wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
                except ProcessLookupError:
                    break
        if self._master is not None:
            os.close(self._master)
            self._master = None


def limit(name: str, default: int) -> int:
    """A per-host cap from the environment (``TOPOLAB_<NAME>``), at least 1."""
    return max(1, int(os.environ.get(f"TOPOLAB_{name}", default)))


class ConsoleRegistry:
    """The consoles of one agent, by id, so a lab's consoles end with the lab.

    Caps: ``TOPOLAB_CONSOLES_PER_LAB`` (8) and ``TOPOLAB_CONSOLES_PER_USER`` (4) open at
    once on this host; a refusal's code is ``limit.consoles_per_lab`` or ``..._per_user``.
    """

    def __init__(self) -> None:
        self._consoles: dict[str, tuple[str, Console]] = {}
        self._users: dict[str, str] = {}

    def open(self, console_id: str, lab: str, spec: ConsoleSpec, user: str = "") -> Console:
        """Start a console and remember it under `console_id` for lab `lab` (and `user`).

        Raises:
            ConsoleError: the id is in use, a cap is reached, or the console cannot start.
        """
        if console_id in self._consoles:
            raise ConsoleError("console.exists", f"console {console_id!r} is already open")
        self.reap_dead()
        per_lab = limit("CONSOLES_PER_LAB", 8)
        if sum(1 for owner, _ in self._consoles.values() if owner == lab) >= per_lab:
            raise ConsoleError(
                "limit.consoles_per_lab", f"this lab already has {per_lab} consoles open"
            )
        per_user = limit("CONSOLES_PER_USER", 4)
        if user and sum(1 for u in self._users.values() if u == user) >= per_user:
            raise ConsoleError(
                "limit.consoles_per_user", f"you already have {per_user} consoles open"
            )
        console = Console(spec)
        self._consoles[console_id] = (lab, console)
        if user:
            self._users[console_id] = user
        return console

    def reap_dead(self) -> None:
        """Forget consoles whose shell has ended."""
        for cid, (_lab, console) in list(self._consoles.items()):
            if not console.alive:
                self.close(cid)

    def get(self, console_id: str) -> Console | None:
        """The console with this id, if open."""
        entry = self._consoles.get(console_id)
        return entry[1] if entry else None

    def close(self, console_id: str) -> None:
        """Close one console (no error if unknown)."""
        entry = self._consoles.pop(console_id, None)
        self._users.pop(console_id, None)
        if entry:
            entry[1].close()

    def close_lab(self, lab: str) -> int:
        """Close every console of a lab; return how many."""
        ids = [cid for cid, (owner, _) in self._consoles.items() if owner == lab]
        for cid in ids:
            self.close(cid)
        return len(ids)

    def reap(self, now: float | None = None) -> list[str]:
        """Close consoles whose shell exited or that idled out; return their ids."""
        gone = [
            cid
            for cid, (_, console) in self._consoles.items()
            if not console.alive or console.idle(now)
        ]
        for cid in gone:
            self.close(cid)
        return gone

    def close_all(self) -> None:
        """Close every console."""
        for cid in list(self._consoles):
            self.close(cid)

    def ids(self) -> Sequence[str]:
        """Ids of open consoles."""
        return list(self._consoles)
