"""What every app does around its packet loop: options, signals, privileges, trace lines.

Trace lines are the apps' machine-readable output: one JSON object per line on
stdout, flushed at once, e.g.::

    {"ts": 1763741000.123456, "app": "tunnel", "dev": "tun0", "event": "packet",
     "dir": "tun->udp", "len": 84, "ip": 4, "src": "172.16.1.1", "dst": "172.16.2.1",
     "proto": "icmp", "ttl": 64, "icmp_type": 8, "icmp_code": 0, "icmp_id": 7, "icmp_seq": 1}

Every line has ``ts`` (Unix time, float), ``app``, ``dev`` and ``event``
(``start``, ``packet``, ``stop``). Human logs go to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import pwd
import signal
import socket
import stat
import sys
import time
from collections.abc import Callable, Sequence
from types import FrameType
from typing import Any

from worker.apps import AppError


class Once(argparse.Action):
    """An argparse action refusing a second occurrence of the option.

    The engine puts the device option first; a user argument naming another device
    must fail loudly instead of silently taking over (argparse keeps the last value).
    """

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        """Store ``values``, or fail when the option was given before."""
        if getattr(namespace, self.dest, None) is not None:
            parser.error(f"{option_string} given twice")
        setattr(namespace, self.dest, values)


def add_common_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--user``, ``--trace``, ``--verbose`` and ``--log-every``."""
    parser.add_argument(
        "--user",
        metavar="NAME",
        help="drop to this unprivileged user (and its primary group) once the device "
        "and sockets are open",
    )
    parser.add_argument(
        "--trace", action="store_true", help="print one JSON line per packet on stdout"
    )
    parser.add_argument(
        "--verbose", "-v", action="store_true", help="log counters to stderr every N packets"
    )
    parser.add_argument(
        "--log-every", type=int, default=100, metavar="N", help="with --verbose (default 100)"
    )


def drop_privileges(user: str) -> tuple[int, int]:
    """Become ``user`` (its uid and primary gid, no supplementary groups).

    A process that already runs as ``user`` is left as it is.

    Raises:
        AppError: unknown user, or the change was refused.
    """
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        raise AppError(f"--user: no such user {user!r}") from None
    if os.getresuid() == (entry.pw_uid,) * 3 and os.getresgid() == (entry.pw_gid,) * 3:
        # Already that user (a launcher such as setpriv did it): nothing to drop, and
        # setgroups would need CAP_SETGID, which such a process rightly lacks.
        return entry.pw_uid, entry.pw_gid
    try:
        os.setgroups([])
        os.setgid(entry.pw_gid)
        os.setuid(entry.pw_uid)
    except OSError as exc:
        raise AppError(f"--user: cannot become {user}: {exc.strerror}") from exc
    if os.getuid() != entry.pw_uid or os.geteuid() != entry.pw_uid:
        raise AppError(f"--user: still uid {os.geteuid()} after setuid({entry.pw_uid})")
    return entry.pw_uid, entry.pw_gid


class StopSignals:
    """Turns SIGTERM, SIGINT and SIGHUP into a readable socket for the selector loop.

    ``signal.set_wakeup_fd`` writes the signal number into the socket pair, so a
    ``select`` blocked on the device wakes up; the handler itself only records the
    signal (system calls interrupted by it are retried by Python, PEP 475).
    """

    SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)

    def __init__(self) -> None:
        """Install the handlers; restore them with :meth:`close`."""
        self.received: int | None = None
        self._r, self._w = socket.socketpair()
        self._r.setblocking(False)
        self._w.setblocking(False)
        self._old_fd = signal.set_wakeup_fd(self._w.fileno(), warn_on_full_buffer=False)
        self._old: dict[int, Any] = {}
        for sig in self.SIGNALS:
            self._old[sig] = signal.signal(sig, self._handle)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.received = signum

    def fileno(self) -> int:
        """The descriptor that becomes readable when a stop signal arrives."""
        return self._r.fileno()

    def drain(self) -> None:
        """Empty the wakeup socket."""
        try:
            while self._r.recv(64):
                pass
        except BlockingIOError:
            pass

    def __enter__(self) -> StopSignals:
        """Use as ``with StopSignals() as stop:``; handlers are restored on exit."""
        return self

    def __exit__(self, *exc: object) -> None:
        """Restore the handlers."""
        self.close()

    def close(self) -> None:
        """Restore the previous handlers and close the socket pair."""
        signal.set_wakeup_fd(self._old_fd)
        for sig, old in self._old.items():
            signal.signal(sig, old)
        self._r.close()
        self._w.close()


class LineWriter:
    """Writes whole lines to a descriptor without ever stalling the packet loop.

    When stdout is a pipe or socket it is made non-blocking: a reader that falls
    behind costs trace lines (counted in :attr:`dropped`), never packets. Lines up to
    PIPE_BUF (4096) bytes are written atomically to a pipe, so a line is whole or
    absent. A reader that goes away switches the output off.
    """

    def __init__(self, fd: int = 1) -> None:
        """Write to ``fd`` (stdout by default)."""
        self.fd = fd
        self.dropped = 0
        self.closed = False
        try:
            mode = os.fstat(fd).st_mode
        except OSError:
            self.closed = True
            return
        if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
            os.set_blocking(fd, False)

    def write_line(self, line: str) -> None:
        """Write ``line`` and a newline, or count it as dropped."""
        if self.closed:
            self.dropped += 1
            return
        data = (line + "\n").encode()
        try:
            while data:
                data = data[os.write(self.fd, data) :]
        except BlockingIOError:
            self.dropped += 1
        except OSError:  # EPIPE: the reader went away
            self.closed = True
            self.dropped += 1


_stdout: LineWriter | None = None


def stdout_writer() -> LineWriter:
    """The process's one :class:`LineWriter` on stdout (made on first use)."""
    global _stdout  # one writer per process: stdout's flags are set once
    if _stdout is None:
        sys.stdout.flush()
        _stdout = LineWriter(1)
    return _stdout


class Tracer:
    """Writes the trace JSON lines (see the module docstring) when enabled."""

    def __init__(self, app: str, dev: str, enabled: bool, out: LineWriter | None = None) -> None:
        """Trace for ``app`` on ``dev``; lines go to ``out`` (stdout by default)."""
        self.app = app
        self.dev = dev
        self.enabled = enabled
        self.out = out if out is not None else stdout_writer()

    def emit(self, event: str, **fields: Any) -> None:
        """Write one line, when tracing is enabled."""
        if not self.enabled:
            return
        record = {"ts": round(time.time(), 6), "app": self.app, "dev": self.dev, "event": event}
        record.update(fields)
        self.out.write_line(json.dumps(record, separators=(",", ":")))


def trace_note(tracer: Tracer) -> str:
    """``", N trace lines dropped"`` when the trace reader fell behind, else ``""``."""
    return f", {tracer.out.dropped} trace lines dropped" if tracer.out.dropped else ""


def log(app: str, message: str) -> None:
    """One human line on stderr, flushed (the engine may collect it as the lab log)."""
    sys.stderr.write(f"{app}: {message}\n")
    sys.stderr.flush()


def run_main(app: str, body: Callable[[], int]) -> int:
    """Run ``body``; turn an :class:`AppError` into one stderr line and exit status 1."""
    try:
        return body()
    except AppError as exc:
        log(app, f"error: {exc}")
        return 1
