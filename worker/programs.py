"""The programs of a lab: the tools of ``worker/apps`` that hold its tun, tap and macvtap devices.

A tap, tun or macvtap link may carry ``program: {app, args}``. After a deploy,
:func:`start_programs` starts each one inside its node's sandbox (``worker.sandbox``:
root of the lab's user namespace, the node's PID and mount namespaces), run by the
node's system Python with an argv list (never a shell). A tun or tap is attached
through the node's own ``/dev/net/tun``; a macvtap reader gets ``/dev/net/<name>``,
the character device of its own interface, made by the sandbox for the lab's root
(the only device path it is given: ``--device`` in the user's arguments can name
nothing the lab's root could not open anyway).

Each runs with ``--trace``: its JSON lines go to
``$TOPOLAB_VAR_DIR/labs/<lab>/programs/<node>-<iface>.trace`` (the packet journey
reads them), its stderr to ``.log`` next to it, and a ``.pid`` file records the
PID, the process start time (so a recycled PID is never mistaken for it) and the
argv. Starting is idempotent: a program already running with the same argv is
left alone; one whose link changed or went is restarted or ended.

A tun/tap drawn *without* a program gets none: the engine made it persistent and
owned by the lab uid, so a user's own program (e.g. from a console) can attach to
it; starting ``hold`` there would take the device from that program. Draw
``program: {app: hold}`` to get a carrier without a program of one's own.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from lab.topology.schema import MacvtapLink, TapLink, Topology, TunLink
from worker import sandbox
from worker.apps import app_argv
from worker.executor import var_dir
from worker.ops import EngineError

READY_TIMEOUT = 10.0  # seconds for a program to print its "start" trace line
STOP_TIMEOUT = 3.0

# Children this process started, so their exit statuses are collected (no zombies).
_children: dict[int, subprocess.Popen[bytes]] = {}


class ProgramError(EngineError):
    """A lab program could not be started (it exited, or never said it was serving)."""

    code = "program.failed"

    def __init__(self, node: str, interface: str, message: str) -> None:
        super().__init__(f"program on {node}:{interface}: {message}")
        self.node = node
        self.interface = interface


@dataclass(frozen=True)
class ProgramSpec:
    """What should run: one program on one node interface (pure data)."""

    node: str
    interface: str
    app: str
    args: tuple[str, ...]
    link_kind: str = ""

    @property
    def stem(self) -> str:
        """The file name stem of this program's pid, trace and log files."""
        return f"{self.node}-{self.interface}"


@dataclass(frozen=True)
class RunningProgram:
    """A program running for a lab (what its pidfile holds)."""

    node: str
    interface: str
    app: str
    pid: int
    started: int  # /proc/<pid>/stat start time, in clock ticks since boot
    argv: tuple[str, ...]
    trace: str  # path of the JSON trace lines

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict."""
        return asdict(self)


def programs_dir(lab: str) -> Path:
    """Return ``$TOPOLAB_VAR_DIR/labs/<lab>/programs``."""
    return var_dir() / "labs" / lab / "programs"


def program_specs(topology: Topology) -> list[ProgramSpec]:
    """Return the programs ``topology`` asks for, in link order. Pure."""
    specs = []
    for link in topology.links:
        if isinstance(link, TapLink | TunLink | MacvtapLink) and link.program is not None:
            ep = link.endpoint
            specs.append(
                ProgramSpec(ep.node, ep.interface, link.program.app, link.program.args, link.kind)
            )
    return specs


def hosts_entries(topology: Topology) -> dict[str, list[str]]:
    """Each node's addresses (without prefix), for the lab's ``/etc/hosts``. Pure."""
    entries: dict[str, list[str]] = {}
    for node in topology.nodes:
        addresses = entries.setdefault(node.name, [])
        for interface in node.interfaces:
            addresses.extend(str(a.ip) for a in interface.addresses)
        for bridge in node.bridges:
            addresses.extend(str(a.ip) for a in bridge.addresses)
    return entries


def program_argv(spec: ProgramSpec) -> list[str]:
    """Return the app's own argv (what runs inside the node) for ``spec``. Pure.

    Raises:
        AppError: the app is unknown.
    """
    tool = app_argv(spec.app, spec.interface, spec.args, python="")[1:]
    if "--trace" not in tool:
        tool.append("--trace")
    if spec.app == "hold" and "--keep-persistent" not in tool:
        # The device is the engine's: it must outlive a restart of its holder.
        tool.append("--keep-persistent")
    if spec.link_kind == "macvtap" and "--device" not in tool:
        tool += ["--device", sandbox.MACVTAP_DEVICE]
    return tool


def _start_time(pid: int) -> int | None:
    started = sandbox.start_time(pid)
    return int(started) if started is not None else None


def _alive(program: RunningProgram) -> bool:
    _reap()
    return _start_time(program.pid) == program.started


def _reap() -> None:
    for pid, proc in list(_children.items()):
        if proc.poll() is not None:
            del _children[pid]


def running_programs(lab: str) -> list[RunningProgram]:
    """Return the programs of lab ``lab`` recorded in its pidfiles that are still running."""
    found = []
    directory = programs_dir(lab)
    if not directory.is_dir():
        return []
    for path in sorted(directory.glob("*.pid")):
        program = _read_pidfile(path)
        if program is not None and _alive(program):
            found.append(program)
    return found


def _read_pidfile(path: Path) -> RunningProgram | None:
    try:
        data = json.loads(path.read_text())
        return RunningProgram(
            node=str(data["node"]),
            interface=str(data["interface"]),
            app=str(data["app"]),
            pid=int(data["pid"]),
            started=int(data["started"]),
            argv=tuple(str(a) for a in data["argv"]),
            trace=str(data["trace"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _end(program: RunningProgram) -> None:
    """SIGTERM by PID, wait a little, SIGKILL if it stays (only if it is still that process)."""
    if not _alive(program):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(program.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    while time.monotonic() < deadline and _alive(program):
        time.sleep(0.02)
    if _alive(program):
        with contextlib.suppress(ProcessLookupError):
            os.kill(program.pid, signal.SIGKILL)
    proc = _children.pop(program.pid, None)
    if proc is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=STOP_TIMEOUT)


def _launch(lab: str, spec: ProgramSpec, argv: list[str]) -> RunningProgram:
    directory = programs_dir(lab)
    directory.mkdir(parents=True, exist_ok=True)
    trace = directory / f"{spec.stem}.trace"
    log = directory / f"{spec.stem}.log"
    # A macvtap's character device, opened by the sandbox for this program only.
    macvtap = spec.interface if spec.link_kind == "macvtap" else ""
    try:
        full = sandbox.app_command(lab, spec.node, argv[1], argv[2:], macvtap=macvtap)
    except sandbox.SandboxError as exc:
        raise ProgramError(spec.node, spec.interface, exc.message) from exc
    with trace.open("wb") as out, log.open("wb") as err:
        proc = subprocess.Popen(
            full,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            env=sandbox.app_environment(),
            close_fds=True,
            # Its own session: the worker's signals (Ctrl-C, a task's end) are not its.
            start_new_session=True,
        )
    _children[proc.pid] = proc
    started = _start_time(proc.pid) or 0
    program = RunningProgram(
        spec.node, spec.interface, spec.app, proc.pid, started, tuple(argv), str(trace)
    )
    (directory / f"{spec.stem}.pid").write_text(json.dumps(program.to_json()))
    return program


def _wait_ready(lab: str, programs: list[RunningProgram]) -> None:
    """Wait until every program printed its ``start`` trace line.

    Raises:
        ProgramError: one exited (its last stderr line in the message) or stayed silent.
    """
    waiting = list(programs)
    deadline = time.monotonic() + READY_TIMEOUT
    while waiting:
        for program in list(waiting):
            if _said_start(Path(program.trace)):
                waiting.remove(program)
            elif not _alive(program):
                raise ProgramError(program.node, program.interface, _last_error(lab, program))
        if not waiting:
            return
        if time.monotonic() > deadline:
            program = waiting[0]
            raise ProgramError(
                program.node, program.interface, f"{program.app} did not start serving in time"
            )
        time.sleep(0.02)


def _said_start(trace: Path) -> bool:
    try:
        with trace.open("rb") as handle:
            for line in handle:
                if b'"event": "start"' in line or b'"event":"start"' in line:
                    return True
    except OSError:
        return False
    return False


def _last_error(lab: str, program: RunningProgram) -> str:
    log = programs_dir(lab) / f"{program.node}-{program.interface}.log"
    try:
        lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        lines = []
    return f"{program.app} exited: {lines[-1] if lines else 'no message'}"


def start_programs(lab: str, topology: Topology) -> list[RunningProgram]:
    """Make the programs of lab ``lab`` match ``topology``; return those running.

    Idempotent: a program already running with the same argv stays; one whose
    argv changed is restarted; one whose link is gone is ended. Waits until each
    started program says it is serving.

    Raises:
        ProgramError: a program exited at once or did not start serving in time
            (the others keep running; ``stop_programs`` ends them).
    """
    sandbox.write_hosts(lab, hosts_entries(topology))
    specs = program_specs(topology)
    directory = programs_dir(lab)
    if not specs and not directory.is_dir():
        return []
    wanted = {spec.stem: spec for spec in specs}
    current = {f"{p.node}-{p.interface}": p for p in running_programs(lab)}
    result: list[RunningProgram] = []
    started: list[RunningProgram] = []
    for stem, program in current.items():
        if stem not in wanted:
            _end(program)
            (directory / f"{stem}.pid").unlink(missing_ok=True)
    for stem, spec in wanted.items():
        argv = program_argv(spec)
        have = current.get(stem)
        if have is not None and list(have.argv) == argv:
            result.append(have)
            continue
        if have is not None:
            _end(have)
        program = _launch(lab, spec, argv)
        started.append(program)
        result.append(program)
    _wait_ready(lab, started)
    return result


def stop_programs(lab: str) -> list[int]:
    """End every program of lab ``lab`` by PID and remove its files; return the PIDs ended.

    Safe to call for a lab without programs, and twice.
    """
    directory = programs_dir(lab)
    if not directory.is_dir():
        return []
    ended = []
    for path in sorted(directory.glob("*.pid")):
        program = _read_pidfile(path)
        if program is not None and _alive(program):
            _end(program)
            ended.append(program.pid)
    for path in directory.iterdir():
        path.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        directory.rmdir()
        directory.parent.rmdir()  # labs/<lab>, when nothing else lives there
    return ended


def read_trace(lab: str, since: float = 0.0) -> list[dict[str, Any]]:
    """Return the trace lines (``packet`` and ``drop`` events, ``ts >= since``) of the
    lab's programs, each with ``node`` and ``interface`` added, in time order."""
    directory = programs_dir(lab)
    events: list[dict[str, Any]] = []
    if not directory.is_dir():
        return events
    for path in sorted(directory.glob("*.pid")):
        program = _read_pidfile(path)
        if program is None:
            continue
        try:
            lines = Path(program.trace).read_text(errors="replace").splitlines()
        except OSError:
            continue
        for line in lines:
            try:
                event = json.loads(line)
            except ValueError:
                continue  # a line still being written
            if not isinstance(event, dict) or event.get("event") not in ("packet", "drop"):
                continue
            if float(event.get("ts", 0)) < since:
                continue
            event["node"], event["interface"] = program.node, program.interface
            events.append(event)
    events.sort(key=lambda e: float(e.get("ts", 0)))
    return events
