"""What runs in a lab's nodes after a deploy: node files, exec lines and services.

A node of the document may carry ``files`` (``/etc/frr/frr.conf``...), ``exec`` lines
and ``services`` from the catalog (``frr``, ``dnsmasq``, ``iperf3``, ``http``).
:func:`start_node_software` makes a lab's nodes match them, called right after a
deploy or apply (beside ``programs.start_programs``) and by the worker's reconcile:

1. the node's files, with those its services need (FRR's ``daemons``, ``vtysh.conf``,
   ``frr.conf``), go to ``sandbox.write_node_files``; a node whose set of paths
   changed while it runs gets a fresh init (``sandbox.restart_node``);
2. on a deploy (not an apply, not a reconcile) the exec lines run in order, each an
   argv list in the node's sandbox; the first that fails (or cannot start) ends the
   node's lines and marks the node with its error; the lab carries on;
3. each service is started when it is not running, and restarted when a file it
   reads or its options changed since it was started.

Every process runs through ``worker.sandbox`` (root of the lab's user namespace,
the node's PID and mount namespaces, the lab's cgroups): FRR's daemons drop to the
``frr`` user, a uid of the lab's range, and keep their sockets in the node's own
``/run/frr``, so ``vtysh`` in a node's console talks to that node's daemons only.
Destroying the lab ends them with the node's init; :func:`stop_node_software`
removes this module's records.

What each node did is kept in ``$TOPOLAB_VAR_DIR/labs/<lab>/nodes/<node>.json``
(:func:`node_report`): the exec lines with their status and output, each service's
state and the node's error. The root side never reads inside a node: whether a
service runs is read from the host's ``/proc`` (the processes of the node's PID
namespace), its output is what the sandbox's pipes gave back.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import selectors
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from lab.topology import naming
from lab.topology.schema import Node, Service, Topology
from lab.topology.validate import FRR_DAEMONS_FILE, NODE_FILE_PLACES, parse_frr_daemons
from lab.wire import TopolabError
from worker import sandbox
from worker.executor import var_dir

EXEC_TIMEOUT = float(os.environ.get("TOPOLAB_NODE_EXEC_TIMEOUT", "30"))
OUTPUT_MAX = 16 * 1024  # characters of one exec line's output kept
FRR_INIT = "/usr/lib/frr/frrinit.sh"
FRR_TIMEOUT = 60.0
STOP_TIMEOUT = 3.0
SERVICE_ACTIONS = ("start", "stop", "restart")
CONTROL_ACTIONS = (*SERVICE_ACTIONS, "status")
WORKERS = 8  # nodes set up at once (each mostly waits for its sandboxed processes)

# dnsmasq-base ships no /etc/dnsmasq.d: its config files are node files here.
DNSMASQ_CONF_DIR = "/run/dnsmasq.d"
FRR_VTYSH_CONF = "service integrated-vtysh-config\n"
# The processes of a running service, by comm (what /proc/<pid>/comm shows).
FRR_PROCESSES = ("watchfrr", "zebra", "staticd")

# Children this process started, so their exit statuses are collected (no zombies).
_children: dict[int, subprocess.Popen[bytes]] = {}


# -- the pure part: what a node should have -----------------------------------------------


@dataclass(frozen=True, kw_only=True)
class NodeSoftware:
    """What one node should have: its files (with its services' own), exec lines, services."""

    node: str
    files: Mapping[str, str]
    exec: tuple[tuple[str, ...], ...]
    services: tuple[Service, ...]
    # The node's own document (JSON), kept in its report: what ``topolab service`` acts
    # on for a lab deployed from a file, which has no database row to read it from.
    document: Mapping[str, Any] = field(default_factory=dict)

    def service_digest(self, service: Service) -> str:
        """A digest of what ``service`` was started with: its options and the files it reads."""
        reads = _service_reads(service)
        data = {
            "service": service.model_dump(mode="json"),
            "files": {p: t for p, t in sorted(self.files.items()) if _under(p, reads)},
        }
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def _under(path: str, roots: Sequence[str]) -> bool:
    return any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots)


def _service_reads(service: Service) -> tuple[str, ...]:
    """The places of a node whose files a service reads when it starts."""
    if service.kind == "frr":
        return ("/etc/frr",)
    if service.kind == "dnsmasq":
        return (DNSMASQ_CONF_DIR,)
    if service.kind == "http":
        return ()  # it serves files as they are; nothing to restart for
    return ()


def frr_daemons_text(daemons: Sequence[str]) -> str:
    """An FRR ``daemons`` file enabling ``daemons`` (zebra and staticd always run). Pure."""
    lines = ["# Written by Topolab for the node's frr service (zebra, staticd always run)."]
    lines += [f"{d}=yes" for d in daemons]
    lines += [
        "vtysh_enable=yes",
        'zebra_options="  -A 127.0.0.1 -s 90000000"',
        *[f'{d}_options=" -A 127.0.0.1"' for d in ("staticd", *daemons)],
    ]
    return "\n".join(lines) + "\n"


def node_software(node: Node) -> NodeSoftware:
    """What ``node`` should have, its services' files added where it has none. Pure."""
    files = {f.path: f.content for f in node.files}
    frr = node.service("frr")
    if frr is not None:
        files.setdefault(FRR_DAEMONS_FILE, frr_daemons_text(frr.daemons))
        # The node's copy of the host's /etc/frr files is the host root's and unreadable
        # to the node's frr user: every file FRR reads is the node's own.
        files.setdefault("/etc/frr/vtysh.conf", FRR_VTYSH_CONF)
        files.setdefault(
            "/etc/frr/frr.conf", f"frr defaults traditional\nhostname {node.name}\n!\n"
        )
    return NodeSoftware(
        node=node.name,
        files=files,
        exec=node.exec,
        services=node.services,
        document=node.model_dump(mode="json"),
    )


def lab_software(topology: Topology) -> dict[str, NodeSoftware]:
    """``node_software`` of every node that has files, exec lines or services. Pure."""
    return {n.name: node_software(n) for n in topology.nodes if n.files or n.exec or n.services}


def frr_enabled_daemons(files: Mapping[str, str]) -> list[str]:
    """The daemons FRR runs for a node with ``files``: zebra, staticd and those enabled."""
    enabled = parse_frr_daemons(files.get(FRR_DAEMONS_FILE, ""))
    return ["zebra", "staticd", *[d for d, on in enabled.items() if on]]


def service_argv(service: Service, files: Mapping[str, str] | None = None) -> list[str]:
    """The argv of a long-running service in its node (all but ``frr``). Pure.

    ``files``: the node's files (dnsmasq reads those under ``DNSMASQ_CONF_DIR``).
    Each runs in the foreground, so its PID is the one the worker records and ends.
    """
    if service.kind == "dnsmasq":
        conf = (
            [f"--conf-dir={DNSMASQ_CONF_DIR}"]
            if any(_under(p, (DNSMASQ_CONF_DIR,)) for p in files or {})
            else []
        )
        return [
            "dnsmasq",
            "--keep-in-foreground",
            "--conf-file=/dev/null",  # the host's /etc/dnsmasq.conf is not the node's
            *conf,
            "--pid-file=/run/dnsmasq.pid",
            "--dhcp-leasefile=/run/dnsmasq.leases",
            "--log-facility=-",
            *service.args,
        ]
    if service.kind == "iperf3":
        return ["iperf3", "--server", "--port", str(service.port or 5201), *service.args]
    if service.kind == "http":
        root = service.root or sandbox.HOME
        return [sandbox.NODE_PYTHON, "-m", "http.server", str(service.port or 80), "-d", root]
    raise ValueError(f"{service.kind} is not a long-running service")


def host_dir_problem(path: str, exists: Any = os.path.isdir) -> str | None:
    """Why the sandbox could not give a node a file at ``path`` on this host, or None.

    Outside the node's own places the file's nearest existing directory becomes a copy
    of the node's own; it must be below the top level (``/etc/frr``, not ``/etc``): a
    package's directory this host has.
    """
    if _under(path, NODE_FILE_PLACES):
        return None
    base = os.path.dirname(path)
    while not exists(base):
        base = os.path.dirname(base)
    if base.count("/") < 2 or base == "/":
        top = "/" + path.split("/")[1] + "/" + path.split("/")[2]
        return f"this lab host has no {top} for {path} (install the package that owns it)"
    return None


# -- records ------------------------------------------------------------------------------


@dataclass(kw_only=True)
class ExecResult:
    """One exec line as it ran: its argv, exit status (None: it could not start) and output."""

    argv: list[str]
    status: int | None
    output: str


@dataclass(kw_only=True)
class NodeReport:
    """What a node did: its exec lines, its services' states, and its error if any."""

    node: str
    error: str = ""
    exec: list[ExecResult] = field(default_factory=list)
    services: dict[str, dict[str, Any]] = field(default_factory=dict)
    document: dict[str, Any] = field(default_factory=dict)  # the node's, as last deployed

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict."""
        return {
            "node": self.node,
            "error": self.error,
            "exec": [vars(e) for e in self.exec],
            "services": self.services,
            "document": self.document,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> NodeReport:
        """Read back :meth:`to_json`."""
        return cls(
            node=str(data.get("node", "")),
            error=str(data.get("error", "")),
            exec=[
                ExecResult(argv=list(e["argv"]), status=e["status"], output=str(e["output"]))
                for e in data.get("exec", [])
            ],
            services=dict(data.get("services", {})),
            document=dict(data.get("document", {})),
        )

    def log_lines(self) -> list[str]:
        """Lines for the deployment's log."""
        lines = []
        if self.exec:
            ok = sum(1 for e in self.exec if e.status == 0)
            lines.append(f"node {self.node}: {ok}/{len(self.exec)} exec line(s) succeeded")
        for kind, state in sorted(self.services.items()):
            lines.append(f"node {self.node}: service {kind} {state.get('state')}")
        if self.error:
            lines.append(f"node {self.node}: {self.error}")
        return lines


def nodes_dir(lab: str) -> Path:
    """``$TOPOLAB_VAR_DIR/labs/<lab>/nodes``: each node's report and service logs."""
    return var_dir() / "labs" / lab / "nodes"


def node_report(lab: str, node: str) -> NodeReport | None:
    """The last report of node ``node`` (None when it has none)."""
    try:
        data = json.loads((nodes_dir(lab) / f"{node}.json").read_text())
    except (OSError, ValueError):
        return None
    try:
        return NodeReport.from_json(data)
    except (KeyError, TypeError):
        return None


def _save(lab: str, report: NodeReport) -> None:
    directory = nodes_dir(lab)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{report.node}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(report.to_json()))
    tmp.replace(path)


def _clip(text: str) -> str:
    return text if len(text) <= OUTPUT_MAX else text[:OUTPUT_MAX] + "\n[... cut]"


def run_bounded(lab: str, node: str, argv: Sequence[str], *, timeout: float) -> tuple[int, str]:
    """Run ``argv`` in the node; return its exit status and its first ``OUTPUT_MAX`` bytes
    of output (stdout and stderr together). The rest is read and dropped, so a line that
    prints without end costs the worker no memory.

    Raises:
        SandboxError: the node is not running, or its sandbox could not be made.
        subprocess.TimeoutExpired: it ran longer than ``timeout`` (it is killed).
    """
    proc = subprocess.Popen(
        sandbox.command(lab, node, argv),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=sandbox.environment(),
        close_fds=True,
        start_new_session=True,
    )
    assert proc.stdout is not None  # stdout=PIPE above
    kept = bytearray()
    cut = False
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                proc.kill()
                proc.wait()
                proc.stdout.close()
                raise subprocess.TimeoutExpired(list(argv), timeout)
            if not selector.select(min(left, 0.2)):
                # A line that started something in the background ("cmd &") is done when
                # it exits, though what it started may hold the pipe open.
                if proc.poll() is not None:
                    break
                continue
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                break
            room = OUTPUT_MAX - len(kept)
            kept += chunk[: max(room, 0)]
            cut = cut or len(chunk) > room
    proc.stdout.close()
    status = proc.wait()
    text = kept.decode(errors="replace")
    return status, text + "\n[... cut]" if cut else text


# -- processes of a node, seen from the host ----------------------------------------------


def node_processes(lab: str, node: str) -> dict[int, str]:
    """``{host pid: comm}`` of the processes in node ``node``'s PID namespace.

    Read from the host's ``/proc`` (never the node's): the namespace link of each
    process of the lab's cgroups (of every process where the host has none).
    """
    init = sandbox.running_init(lab, node)
    if init is None:
        return {}
    try:
        ns = os.readlink(f"/proc/{init.init}/ns/pid")
    except OSError:
        return {}
    pids = sandbox.cgroup_pids(lab) if sandbox.cgroup_dirs(lab) else _all_pids()
    found: dict[int, str] = {}
    for pid in pids:
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/{pid}/ns/pid") == ns:
                found[pid] = Path(f"/proc/{pid}/comm").read_text().strip()
    return found


def _all_pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def _end_pids(pids: Sequence[int]) -> None:
    """SIGTERM, a short wait, SIGKILL what stays (by PID, each checked by start time)."""
    started = {p: sandbox.start_time(p) for p in pids}
    live = [p for p, s in started.items() if s is not None]
    for pid in live:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    while time.monotonic() < deadline:
        _reap()
        live = [p for p in live if sandbox.start_time(p) == started[p]]
        if not live:
            return
        time.sleep(0.02)
    for pid in live:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    _reap()


def _reap() -> None:
    for pid, proc in list(_children.items()):
        if proc.poll() is not None:
            _children.pop(pid, None)  # another thread may have reaped it


# -- services -----------------------------------------------------------------------------


def _pidfile(lab: str, node: str, kind: str) -> Path:
    return nodes_dir(lab) / node / f"{kind}.pid"


def _log(lab: str, node: str, kind: str) -> Path:
    return nodes_dir(lab) / node / f"{kind}.log"


def service_log(lab: str, node: str, kind: str) -> str:
    """The end of what a node's service printed since it was last started (at most
    ``OUTPUT_MAX`` bytes: a service may print without end)."""
    try:
        with _log(lab, node, kind).open("rb") as f:
            f.seek(max(f.seek(0, os.SEEK_END) - OUTPUT_MAX, 0))
            return f.read(OUTPUT_MAX).decode(errors="replace")
    except OSError:
        return ""


def _recorded(lab: str, node: str, kind: str) -> dict[str, Any] | None:
    try:
        data = json.loads(_pidfile(lab, node, kind).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def service_running(lab: str, node: str, kind: str) -> bool:
    """Whether node ``node``'s service ``kind`` runs (from the host's /proc)."""
    if kind == "frr":
        return "watchfrr" in node_processes(lab, node).values()
    record = _recorded(lab, node, kind)
    if record is None:
        return False
    _reap()
    return sandbox.start_time(int(record["pid"])) == record.get("started")


def _record(lab: str, node: str, kind: str, **data: Any) -> None:
    path = _pidfile(lab, node, kind)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


def start_service(lab: str, software: NodeSoftware, service: Service) -> dict[str, Any]:
    """Start ``service`` in its node (if it is not running); return its state record.

    Returns ``{"state": "running"|"failed", "digest", "message"}``; never raises for
    the service's own failure (that marks the node).
    """
    node, kind = software.node, service.kind
    digest = software.service_digest(service)
    log = _log(lab, node, kind)
    log.parent.mkdir(parents=True, exist_ok=True)
    try:
        if kind == "frr":
            status, output = run_bounded(lab, node, [FRR_INIT, "start"], timeout=FRR_TIMEOUT)
            log.write_text(output)
            if status != 0 or not service_running(lab, node, kind):
                message = _last_line(output) or f"exit {status}"
                return {"state": "failed", "digest": digest, "message": f"frr: {message}"}
            _record(lab, node, kind, digest=digest, daemons=frr_enabled_daemons(software.files))
            return {"state": "running", "digest": digest, "message": ""}
        argv = sandbox.command(lab, node, service_argv(service, software.files))
        with log.open("wb") as out:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=sandbox.environment(),
                close_fds=True,
                start_new_session=True,  # the worker's signals are not the service's
            )
        _children[proc.pid] = proc
        _record(lab, node, kind, pid=proc.pid, started=sandbox.start_time(proc.pid), digest=digest)
        # A service that cannot start (a port taken, a bad option) exits at once.
        time.sleep(0.3)
        if proc.poll() is not None:
            message = _last_line(service_log(lab, node, kind)) or f"exit {proc.returncode}"
            return {"state": "failed", "digest": digest, "message": f"{kind}: {message}"}
        return {"state": "running", "digest": digest, "message": ""}
    except (sandbox.SandboxError, subprocess.TimeoutExpired, OSError) as exc:
        message = exc.message if isinstance(exc, sandbox.SandboxError) else str(exc)
        return {"state": "failed", "digest": digest, "message": f"{kind}: {message}"}


def stop_service(lab: str, node: str, kind: str) -> list[int]:
    """End node ``node``'s service ``kind`` by PID; return the PIDs ended.

    FRR: ``watchfrr`` first (so it restarts nothing), then the daemons, found by name
    among the node's own processes.
    """
    ended: list[int] = []
    if kind == "frr":
        procs = node_processes(lab, node)
        frr_record = _recorded(lab, node, kind) or {}
        names = set(FRR_PROCESSES) | set(frr_record.get("daemons", []))
        watch = [p for p, c in procs.items() if c == "watchfrr"]
        _end_pids(watch)
        rest = [p for p, c in procs.items() if c in names and p not in watch]
        _end_pids(rest)
        ended = watch + rest
    else:
        record = _recorded(lab, node, kind)
        if record is not None and service_running(lab, node, kind):
            pid = int(record["pid"])
            _end_pids([pid])
            proc = _children.pop(pid, None)
            if proc is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=STOP_TIMEOUT)
            ended = [pid]
    _pidfile(lab, node, kind).unlink(missing_ok=True)
    return ended


def service_action(lab: str, topology: Topology, node: str, kind: str, action: str) -> NodeReport:
    """``start``, ``stop`` or ``restart`` node ``node``'s service ``kind``; return the report.

    Raises:
        ValueError: the node has no such service, or the action is unknown.
    """
    found = topology.node(node)
    if found is None or found.service(kind) is None:
        raise ValueError(f"node {node} has no service {kind}")
    return node_service_action(lab, found, kind, action)


def node_service_action(lab: str, node: Node, kind: str, action: str) -> NodeReport:
    """``start``, ``stop`` or ``restart`` service ``kind`` of ``node``; return its report.

    One action at a time per node (a file lock), so two clicks on restart, or a click
    during an apply's service pass, do not start a service twice.

    Raises:
        ValueError: the node has no such service, or the action is unknown.
    """
    service = node.service(kind)
    if service is None:
        raise ValueError(f"node {node.name} has no service {kind}")
    if action not in SERVICE_ACTIONS:
        raise ValueError(f"unknown action {action!r} (start, stop or restart)")
    software = node_software(node)
    with _node_lock(lab, node.name):
        report = node_report(lab, node.name) or NodeReport(
            node=node.name, document=dict(software.document)
        )
        if action in ("stop", "restart"):
            stop_service(lab, node.name, kind)
            report.services[kind] = {"state": "stopped", "digest": "", "message": ""}
        if action in ("start", "restart") and not service_running(lab, node.name, kind):
            report.services[kind] = start_service(lab, software, service)
        _save(lab, report)
    return report


@contextlib.contextmanager
def _node_lock(lab: str, node: str) -> Iterator[None]:
    """Hold node ``node``'s lock (``flock`` on a file beside its records)."""
    path = nodes_dir(lab) / node / ".lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# -- one node's services, controlled from the CLI or the API -------------------------------


class NodeControlError(TopolabError):
    """A service control request this host refuses.

    ``code`` is stable for clients (``node.invalid``, ``node.not_running``,
    ``service.not_found``, ``service.bad_action``); ``field`` names the input at fault.
    """

    def __init__(self, code: str, message: str, field: str = "") -> None:
        super().__init__(message, code)
        self.field = field

    def to_json(self) -> dict[str, str]:
        """``{"code", "message", "field"}``: how a task hands the refusal back."""
        return {"code": self.code, "message": self.message, "field": self.field}


def parse_node(lab: str, node: str, node_json: Mapping[str, Any]) -> Node:
    """Node ``node``'s document ``node_json`` as a :class:`Node`.

    Raises:
        NodeControlError: ``node.invalid``: a lab key or node name that is not one, or
            a document that does not validate or names another node.
    """
    if not naming.is_lab_key(lab):
        raise NodeControlError("node.invalid", f"{lab!r} is not a lab key", "lab")
    try:
        parsed = Node.model_validate(node_json)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "$"
        raise NodeControlError(
            "node.invalid",
            f"node {node}'s document does not validate: {where}: {first['msg']}",
            "node",
        ) from None
    if parsed.name != node:
        raise NodeControlError(
            "node.invalid", f"the document given is node {parsed.name}'s, not {node}'s", "node"
        )
    return parsed


def service_status(lab: str, node: str, kind: str) -> dict[str, Any]:
    """One service of a node: ``{"kind", "state", "message", "log"}``.

    ``state``: ``running`` (read from the host's /proc), ``failed`` (its last start
    failed, or it ended by itself since) or ``stopped``; ``log``: the end of what it
    printed since it was last started.
    """
    report = node_report(lab, node)
    was = (report.services.get(kind) if report else None) or {}
    if service_running(lab, node, kind):
        state, message = "running", ""
    elif was.get("state") == "failed":
        state, message = "failed", str(was.get("message", ""))
    elif was.get("state") == "running":
        state, message = "failed", f"{kind}: it is no longer running"
    else:
        state, message = "stopped", ""
    return {"kind": kind, "state": state, "message": message, "log": service_log(lab, node, kind)}


def node_services_status(lab: str, node: str, node_json: Mapping[str, Any]) -> dict[str, Any]:
    """Every service of node ``node`` of running lab ``lab``, with its state and log.

    ``node_json``: the node's document (as the revision the lab runs stores it).
    Returns ``{"node", "error", "services": [service_status...]}``, plain JSON.

    Raises:
        NodeControlError: an invalid document (``node.invalid``), or the node is not
            running on this host (``node.not_running``).
    """
    found = parse_node(lab, node, node_json)
    _check_running(lab, node)
    report = node_report(lab, node)
    return {
        "node": node,
        "error": report.error if report else "",
        "services": [service_status(lab, node, s.kind) for s in found.services],
    }


def control_service(
    lab: str, node: str, node_json: Mapping[str, Any], service: str, action: str
) -> dict[str, Any]:
    """``start``, ``stop``, ``restart`` or read the ``status`` of one service of a node.

    ``node_json``: the node's document; returns the service's :func:`service_status`
    after the action, plain JSON.

    Raises:
        NodeControlError: an unknown action (``service.bad_action``), an invalid
            document (``node.invalid``), a service the node does not have
            (``service.not_found``), or the node is not running (``node.not_running``).
    """
    if action not in CONTROL_ACTIONS:
        raise NodeControlError(
            "service.bad_action",
            f"unknown action {action!r}: {', '.join(CONTROL_ACTIONS)}",
            "action",
        )
    found = parse_node(lab, node, node_json)
    if found.service(service) is None:
        raise NodeControlError(
            "service.not_found", f"node {node} has no service {service!r}", "service"
        )
    _check_running(lab, node)
    if action != "status":
        node_service_action(lab, found, service, action)
    return service_status(lab, node, service)


def recorded_node_document(lab: str, node: str) -> dict[str, Any] | None:
    """The document of node ``node`` as this host last deployed it (None: it has none)."""
    report = node_report(lab, node)
    return report.document if report is not None and report.document else None


def _check_running(lab: str, node: str) -> None:
    if sandbox.running_init(lab, node) is None:
        raise NodeControlError(
            "node.not_running", f"node {node} of lab {lab} is not running on this host", "node"
        )


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


# -- a node, a lab ------------------------------------------------------------------------


def _run_exec(lab: str, software: NodeSoftware, report: NodeReport) -> None:
    for number, argv in enumerate(software.exec, 1):
        try:
            status, output = run_bounded(lab, software.node, list(argv), timeout=EXEC_TIMEOUT)
        except subprocess.TimeoutExpired:
            report.exec.append(ExecResult(argv=list(argv), status=None, output="timed out"))
            report.error = f"exec line {number} ran longer than {EXEC_TIMEOUT:g}s"
            return
        except sandbox.SandboxError as exc:
            report.exec.append(ExecResult(argv=list(argv), status=None, output=exc.message))
            report.error = f"exec line {number} could not start: {exc.message}"
            return
        report.exec.append(ExecResult(argv=list(argv), status=status, output=output))
        if status != 0:
            # Later lines usually build on earlier ones: they do not run.
            why = _last_line(output) or "no output"
            report.error = f"exec line {number} ({argv[0]}) exited {status}: {why}"
            return


def prepare_node(lab: str, software: NodeSoftware, *, run_exec: bool) -> tuple[NodeReport, bool]:
    """Give a node its files and a running init; return its report and whether it is ready.

    Done one node at a time: a new set of paths restarts the node's init. A node that is
    not ready has the reason as its report's ``error``.
    """
    previous = node_report(lab, software.node)
    report = NodeReport(node=software.node, document=dict(software.document))
    if not run_exec and previous is not None:
        report.exec = previous.exec  # what the last deploy's lines did still holds
        failed = [e for e in previous.exec if e.status != 0]
        report.error = previous.error if failed else ""
    problems = [p for p in (host_dir_problem(path) for path in software.files) if p]
    if problems:
        report.error = problems[0]
        return report, False
    try:
        if sandbox.write_node_files(lab, software.node, software.files):
            # New paths are mounted by a fresh init; its processes (services) restart below.
            sandbox.restart_node(lab, software.node)
        sandbox.ensure_init(lab, software.node)
    except sandbox.SandboxError as exc:
        report.error = exc.message
        return report, False
    return report, True


def run_node(lab: str, software: NodeSoftware, report: NodeReport, *, run_exec: bool) -> None:
    """Run a prepared node's exec lines (when ``run_exec``) and start its services."""
    with _node_lock(lab, software.node):  # not while a service of it is being controlled
        _run_node(lab, software, report, run_exec=run_exec)


def _run_node(lab: str, software: NodeSoftware, report: NodeReport, *, run_exec: bool) -> None:
    previous = node_report(lab, software.node)
    if run_exec:
        _run_exec(lab, software, report)
    for service in software.services:
        kind = service.kind
        was = (previous.services.get(kind) if previous else None) or {}
        running = service_running(lab, software.node, kind)
        if running and was.get("digest") == software.service_digest(service):
            report.services[kind] = was
            continue
        if running:
            stop_service(lab, software.node, kind)  # its files or options changed
        report.services[kind] = start_service(lab, software, service)
        if report.services[kind]["state"] == "failed" and not report.error:
            report.error = str(report.services[kind]["message"])
    if previous is not None:
        for gone in set(previous.services) - {s.kind for s in software.services}:
            stop_service(lab, software.node, gone)


def start_node_software(lab: str, topology: Topology, *, run_exec: bool) -> list[NodeReport]:
    """Make lab ``lab``'s nodes' files, exec lines and services match ``topology``.

    ``run_exec``: a deploy (exec lines run); an apply or a reconcile leaves them.
    A node that lost all of its files and services gets them removed. Exec lines and
    services run a few nodes at once; a failing node marks only its own report (saved
    for :func:`node_report`). Returns the reports of the nodes that have something.
    """
    wanted = lab_software(topology)
    directory = nodes_dir(lab)
    if directory.is_dir():
        for path in directory.glob("*.json"):
            if path.stem not in wanted:
                _forget_node(lab, path.stem)
    prepared = {name: prepare_node(lab, sw, run_exec=run_exec) for name, sw in wanted.items()}
    reports = {name: report for name, (report, _ok) in prepared.items()}
    ready = [name for name, (_report, ok) in prepared.items() if ok]
    if ready:
        with ThreadPoolExecutor(max_workers=min(WORKERS, len(ready))) as pool:
            list(pool.map(lambda n: run_node(lab, wanted[n], reports[n], run_exec=run_exec), ready))
    for report in reports.values():
        _save(lab, report)
    return list(reports.values())


def _forget_node(lab: str, node: str) -> None:
    report = node_report(lab, node)
    for kind in report.services if report else ():
        stop_service(lab, node, kind)
    with contextlib.suppress(sandbox.SandboxError):
        if sandbox.write_node_files(lab, node, {}):
            sandbox.restart_node(lab, node)
    (nodes_dir(lab) / f"{node}.json").unlink(missing_ok=True)
    shutil.rmtree(nodes_dir(lab) / node, ignore_errors=True)


def stop_node_software(lab: str) -> list[int]:
    """End the services this module started for lab ``lab`` and remove its records.

    Safe for a lab without any, and twice. (The node inits' teardown ends FRR's daemons
    and every other process of the nodes.)
    """
    ended: list[int] = []
    directory = nodes_dir(lab)
    if not directory.is_dir():
        return ended
    for pidfile in directory.glob("*/*.pid"):
        node, kind = pidfile.parent.name, pidfile.stem
        if kind != "frr":
            ended += stop_service(lab, node, kind)
    shutil.rmtree(directory, ignore_errors=True)
    with contextlib.suppress(OSError):
        directory.parent.rmdir()  # labs/<lab>, when nothing else lives there
    return ended
