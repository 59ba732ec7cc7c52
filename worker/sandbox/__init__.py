"""The node sandbox: every process that runs inside a lab node starts through here.

Consoles, captures, lab programs, demo traffic, checks and ``topolab exec`` all
get their argv from :func:`command`. What a process in a node is, and is not:

* root of the lab's own user namespace (``worker.kernel.userns``): a host uid of
  the lab's range, with capabilities over the lab's network namespaces only;
  no_new_privs; nothing kept in the initial user namespace;
* in the node's PID namespace: it sees the node's processes and no other; the
  node's init (``catatonit``) holds it, and ending that init ends them all;
* in the node's mount namespace: the system read-only, the checkout, ``var/``,
  ``/home`` and the host's ``/tmp``, ``/run`` and ``/dev/shm`` unseen, its own
  size-capped ``/tmp``, ``/var/tmp``, ``/dev/shm``, ``/run`` and home, the lab's
  ``/etc/hosts`` and the node's ``/etc/hostname``, a ``/dev/net/tun`` of its own;
* in the lab's cgroups (pids and memory, v1 or v2), or under rlimits where the
  host has no cgroups.

A node's init starts the first time something runs in the node (a deploy makes
namespaces only, so it stays as fast as ``ip -batch``) and lives until the lab's
:func:`teardown`. Its state is under ``/run/topolab/nodes/<lab>/``.

The root side (what must be done in a single-threaded process, with mounts and
``setns``) is ``helper.py``; this module only builds its command lines and keeps
its records.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from lab.topology import naming
from lab.wire import TopolabError
from worker.kernel import userns

HELPER = Path(__file__).with_name("helper.py")
ROOT = Path(__file__).resolve().parent.parent.parent
APPS_DIR = ROOT / "worker" / "apps"
NODES_DIR = Path(userns.RUN_DIR) / "nodes"
HOME = "/root"
SAFE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
NODE_PYTHON = "/usr/bin/python3"
# The helper is standard library only: the system Python starts it fastest.
HELPER_PYTHON = NODE_PYTHON if os.path.exists(NODE_PYTHON) else sys.executable
APPS_PATH = "/run/topolab-apps"
MACVTAP_DEVICE = "/proc/self/fd/99"  # see helper.MACVTAP_FD
INIT_TIMEOUT = 10.0
EXEC_TIMEOUT_MAX = float(os.environ.get("TOPOLAB_EXEC_TIMEOUT_MAX", "120"))
ARGV_MAX_ITEMS = 256
ARGV_MAX_CHARS = 64 * 1024
CGROUP_ROOT = Path("/sys/fs/cgroup")
CGROUP_NAME = "topolab"


class SandboxError(TopolabError):
    """A node's sandbox could not be made or entered. ``code`` is stable for clients."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message, code)


@dataclass(frozen=True, kw_only=True)
class Limits:
    """What one lab may use on this host (``TOPOLAB_LAB_*`` and ``TOPOLAB_NODE_TMP_SIZE``)."""

    pids: int
    memory_bytes: int
    tmp_size: str

    @classmethod
    def from_env(cls) -> Limits:
        """Read the limits from the environment (with defaults for a classroom)."""
        return cls(
            pids=int(os.environ.get("TOPOLAB_LAB_PIDS_MAX", "1024")),
            memory_bytes=int(os.environ.get("TOPOLAB_LAB_MEMORY_MAX", str(2 * 1024**3))),
            tmp_size=os.environ.get("TOPOLAB_NODE_TMP_SIZE", "64m"),
        )


@dataclass(frozen=True, kw_only=True)
class NodeInit:
    """A node's running init: the ``unshare`` holding it and its pid 1 (host PIDs)."""

    holder: int
    init: int
    started: str  # /proc/<init>/stat start time, so a recycled PID is never taken for it


def environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """A minimal environment for a node process: nothing of the worker's own."""
    env = {"PATH": SAFE_PATH, "HOME": HOME, "LANG": "C.UTF-8", "USER": "root"}
    env.update(extra or {})
    return env


def app_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """:func:`environment` plus what runs ``worker.apps`` with the node's system Python."""
    return environment({"PYTHONPATH": APPS_PATH, **(extra or {})})


# -- cgroups -----------------------------------------------------------------------------


def _cgroup_mode() -> str | None:
    if (CGROUP_ROOT / "cgroup.controllers").exists():
        return "v2"
    if (CGROUP_ROOT / "pids" / "cgroup.procs").exists():
        return "v1"
    return None


def _cgroup_parents() -> list[Path]:
    """The directories that hold every lab's cgroup (one per v1 hierarchy, or the v2 one)."""
    mode = _cgroup_mode()
    if mode == "v2":
        return [CGROUP_ROOT / CGROUP_NAME]
    if mode == "v1":
        return [
            CGROUP_ROOT / c / CGROUP_NAME
            for c in ("pids", "memory")
            if (CGROUP_ROOT / c / "cgroup.procs").exists()
        ]
    return []


def cgroup_dirs(lab: str) -> list[Path]:
    """Return lab ``lab``'s cgroup directories (none where the host has no cgroups)."""
    return [parent / lab for parent in _cgroup_parents()]


def _write(path: Path, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)


def ensure_cgroups(lab: str, limits: Limits) -> list[str]:
    """Make lab ``lab``'s cgroups with ``limits``; return their ``cgroup.procs`` files.

    Raises:
        SandboxError: a cgroup could not be made.
    """
    mode = _cgroup_mode()
    dirs = cgroup_dirs(lab)
    try:
        if mode == "v2":
            parent = CGROUP_ROOT / CGROUP_NAME
            parent.mkdir(exist_ok=True)
            for directory in (CGROUP_ROOT, parent):
                with contextlib.suppress(OSError):
                    _write(directory / "cgroup.subtree_control", "+pids +memory")
        for directory in dirs:
            directory.mkdir(parents=True, exist_ok=True)
            if (directory / "pids.max").exists():
                _write(directory / "pids.max", str(limits.pids))
            if mode == "v2" and (directory / "memory.max").exists():
                _write(directory / "memory.max", str(limits.memory_bytes))
            if (directory / "memory.limit_in_bytes").exists():
                _write(directory / "memory.limit_in_bytes", str(limits.memory_bytes))
    except OSError as exc:
        raise SandboxError("sandbox.cgroup", f"cannot set up the lab's cgroups: {exc}") from exc
    return [str(d / "cgroup.procs") for d in dirs]


def _limit_args(lab: str, limits: Limits) -> list[str]:
    """The helper's options that put a process under the lab's limits: its cgroups, or
    rlimits where the host has none (processes of the lab's uid; memory per process)."""
    procs = ensure_cgroups(lab, limits)
    if not procs:
        return ["--nproc", str(limits.pids), "--memory", str(limits.memory_bytes)]
    return [arg for p in procs for arg in ("--cgroup", p)]


def cgroup_pids(lab: str) -> list[int]:
    """Return the PIDs in lab ``lab``'s cgroups."""
    pids: set[int] = set()
    for directory in cgroup_dirs(lab):
        with contextlib.suppress(OSError):
            pids.update(int(p) for p in (directory / "cgroup.procs").read_text().split())
    return sorted(pids)


# -- node inits --------------------------------------------------------------------------


def _lab_dir(lab: str) -> Path:
    path = NODES_DIR / lab
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


@contextlib.contextmanager
def _node_lock(lab: str, node: str) -> Iterator[None]:
    fd = os.open(_lab_dir(lab) / f"{node}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def start_time(pid: int) -> str | None:
    """Process ``pid``'s start time (field 22 of /proc/<pid>/stat), None if gone or a
    zombie: with the PID it names one process, never a later one that reuses the PID."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return None if fields[0] == "Z" else fields[19]


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def running_init(lab: str, node: str) -> NodeInit | None:
    """Return the node's init if it is running (and is the one recorded)."""
    try:
        data = json.loads((NODES_DIR / lab / f"{node}.json").read_text())
        found = NodeInit(
            holder=int(data["holder"]), init=int(data["init"]), started=data["started"]
        )
    except (OSError, ValueError, KeyError):
        return None
    return found if start_time(found.init) == found.started else None


def hosts_path(lab: str) -> Path:
    """Return the lab's hosts file (bound at ``/etc/hosts`` in every node)."""
    return NODES_DIR / lab / "hosts"


def hide_paths() -> list[str]:
    """The host paths no node may see: the checkout, ``var/``, homes, and settings' extras."""
    var = os.environ.get("TOPOLAB_VAR_DIR") or str(ROOT / "var")
    extra = [p for p in os.environ.get("TOPOLAB_SANDBOX_HIDE", "").split(":") if p]
    return [str(ROOT), var, "/root", "/home", "/srv", "/mnt", "/media", *extra]


def _start_init(
    lab: str, node: str, namespace: str, identity: userns.LabIdentity, limits: Limits
) -> NodeInit:
    netns_file = f"/run/netns/{namespace}"
    if not os.path.exists(netns_file):
        raise SandboxError("sandbox.no_node", f"node {node} is not running (no namespace)")
    directory = _lab_dir(lab)
    hosts = hosts_path(lab)
    if not hosts.exists():
        write_hosts(lab, {node: []})
    hostname = directory / f"{node}.hostname"
    hostname.write_text(node + "\n")
    os.chmod(hostname, 0o644)
    argv = [HELPER_PYTHON, "-I", str(HELPER), "init", "--netns", netns_file]
    argv += ["--userns", identity.userns, "--uid", str(identity.uid), "--hostname", node]
    argv += ["--hosts", str(hosts), "--hostname-file", str(hostname), "--home", HOME]
    argv += ["--tmp-size", limits.tmp_size, "--apps", str(APPS_DIR)]
    for path in hide_paths():
        argv += ["--hide", path]
    argv += _limit_args(lab, limits)
    for target, source in _file_manifest(lab, node).items():
        argv += ["--file", f"{source}:{target}"]
    log = directory / f"{node}.log"
    with open(log, "wb") as err:
        holder = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
            env={"PATH": SAFE_PATH},
            start_new_session=True,
            close_fds=True,
        )
    _holders[holder.pid] = holder
    deadline = time.monotonic() + INIT_TIMEOUT
    while time.monotonic() < deadline:
        if holder.poll() is not None:
            message = log.read_text(errors="replace").strip() or f"exit {holder.returncode}"
            raise SandboxError("sandbox.start_failed", f"node {node}: {message}")
        for child in _children(holder.pid):
            with contextlib.suppress(OSError):
                if Path(f"/proc/{child}/comm").read_text().strip() == "catatonit":
                    started = start_time(child)
                    if started is not None:
                        found = NodeInit(holder=holder.pid, init=child, started=started)
                        record = {"holder": holder.pid, "init": child, "started": started}
                        (directory / f"{node}.json").write_text(json.dumps(record))
                        return found
        time.sleep(0.002)
    _end([holder.pid])
    raise SandboxError("sandbox.start_failed", f"node {node}: its init did not start in time")


# Inits this process started, so their exit statuses are collected (no zombies).
_holders: dict[int, subprocess.Popen[bytes]] = {}


def ensure_init(
    lab: str, node: str, limits: Limits | None = None, namespace: str | None = None
) -> NodeInit:
    """Return node ``node``'s running init, starting it first if needed.

    ``namespace``: the node's network namespace when the caller found it by owner tag
    (default: the name the engine gives it).

    Raises:
        SandboxError: the node has no namespace, or its init could not start.
    """
    for pid, proc in list(_holders.items()):
        if proc.poll() is not None:
            _holders.pop(pid, None)
    found = running_init(lab, node)
    if found is not None:
        return found
    identity = userns.ensure_identity(lab)
    with _node_lock(lab, node):
        found = running_init(lab, node)
        if found is not None:
            return found
        namespace = namespace or naming.namespace_name(lab, node)
        return _start_init(lab, node, namespace, identity, limits or Limits.from_env())


def command(
    lab: str,
    node: str,
    argv: Sequence[str],
    *,
    tty: bool = False,
    macvtap: str = "",
    cwd: str = HOME,
    namespace: str | None = None,
) -> list[str]:
    """Return the argv that runs ``argv`` inside node ``node`` of lab ``lab`` (for Popen).

    Starts the node's init first if it is not running. ``namespace``: the node's network
    namespace when the caller found it by owner tag (default: the engine's name for it).
    ``tty``: the program's stdin is a pty that becomes its controlling terminal.
    ``macvtap``: an interface of the node whose character device the program gets
    open as ``/proc/self/fd/99``.
    Run it with :func:`environment` (or :func:`app_environment`) as the environment.

    Raises:
        SandboxError: the node is not running, or its sandbox could not be made.
    """
    if not argv:
        raise SandboxError("sandbox.no_program", "no program given")
    identity = userns.ensure_identity(lab)
    init = ensure_init(lab, node, namespace=namespace)
    out = [HELPER_PYTHON, "-I", str(HELPER), "join", "--init", str(init.init)]
    out += ["--init-started", init.started, "--userns", identity.userns]
    out += ["--uid", str(identity.uid), "--cwd", cwd]
    out += _limit_args(lab, Limits.from_env())
    if macvtap:
        out += ["--macvtap", macvtap]
    if tty:
        out.append("--ctty")
    return [*out, "--", *argv]


def check_argv(argv: object) -> list[str]:
    """Return ``argv`` as a list of strings fit to exec, or refuse it.

    Raises:
        SandboxError: ``exec.bad_argv``: not a non-empty list of strings, too long, or
            holding a NUL character.
    """
    if not isinstance(argv, list | tuple) or not argv:
        raise SandboxError("exec.bad_argv", "argv must be a non-empty list of strings")
    if len(argv) > ARGV_MAX_ITEMS or sum(len(str(a)) for a in argv) > ARGV_MAX_CHARS:
        raise SandboxError("exec.bad_argv", f"argv is longer than {ARGV_MAX_ITEMS} items / 64 KiB")
    if not all(isinstance(a, str) and "\0" not in a for a in argv):
        raise SandboxError("exec.bad_argv", "every argv item must be a string without NUL")
    if not argv[0]:
        raise SandboxError("exec.bad_argv", "argv[0] must name a program")
    return [str(a) for a in argv]


def app_command(lab: str, node: str, module: str, args: Sequence[str], **kw: object) -> list[str]:
    """:func:`command` for a ``worker.apps`` module, run by the node's system Python."""
    argv = [os.environ.get("TOPOLAB_NODE_PYTHON", NODE_PYTHON), "-P", "-s", "-m", module, *args]
    return command(lab, node, argv, **kw)  # type: ignore[arg-type]


def run(
    lab: str,
    node: str,
    argv: Sequence[str],
    *,
    timeout: float = 30,
    input_text: str | None = None,
    namespace: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` in the node and wait for it: output captured, status returned.

    ``namespace`` as for :func:`command`.

    Raises:
        SandboxError: the node is not running, or its sandbox could not be made.
        subprocess.TimeoutExpired: it ran longer than ``timeout`` (it is killed).
    """
    return subprocess.run(
        command(lab, node, argv, namespace=namespace),
        capture_output=True,
        text=True,
        env=environment(),
        timeout=timeout,
        input=input_text,
        check=False,
    )


NODE_FILE_MAX = 1024 * 1024  # bytes of one node file


def _files_dir(lab: str, node: str) -> Path:
    path = _lab_dir(lab) / "files" / node
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def _file_manifest(lab: str, node: str) -> dict[str, str]:
    """{path in the node: host file} of the node's files (empty when it has none)."""
    try:
        data = json.loads((NODES_DIR / lab / "files" / node / "manifest.json").read_text())
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def write_node_files(lab: str, node: str, files: Mapping[str, str]) -> bool:
    """Give node ``node`` the files ``{path in the node: text}`` (rewritten in place).

    A file's content changes at once in a running node (a service that reads it can
    then be reloaded). A new path, or one that went, needs the node's init to start
    again (:func:`restart_node`): returns True then. In the node the files are
    read-only: they live on the host, so a node writing them could fill the host's
    disk; the topology is where they are edited.

    Raises:
        SandboxError: ``sandbox.bad_file``: a path is not absolute, holds ``..``, or a
            file is larger than 1 MiB.
    """
    for path, text in files.items():
        if not path.startswith("/") or ".." in path.split("/") or "\0" in path or ":" in path:
            raise SandboxError("sandbox.bad_file", f"a node file cannot live at {path!r}")
        if len(text.encode()) > NODE_FILE_MAX:
            raise SandboxError("sandbox.bad_file", f"{path} is larger than 1 MiB")
    uid = userns.ensure_identity(lab).uid
    directory = _files_dir(lab, node)
    old = _file_manifest(lab, node)
    manifest: dict[str, str] = {}
    for index, (path, text) in enumerate(sorted(files.items())):
        host = old.get(path) or str(directory / f"f{index}-{secrets.token_hex(4)}")
        fd = os.open(host, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        with os.fdopen(fd, "w") as f:
            f.truncate(0)
            f.write(text)
        os.chown(host, uid, uid)
        manifest[path] = host
    for path, host in old.items():
        if path not in manifest:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(host)
    (directory / "manifest.json").write_text(json.dumps(manifest))
    return set(manifest) != set(old)


def read_node_file(lab: str, node: str, path: str) -> str | None:
    """The current text of a node file as the node sees it, or None."""
    host = _file_manifest(lab, node).get(path)
    if host is None:
        return None
    try:
        with open(host, "rb") as f:
            return f.read(NODE_FILE_MAX).decode(errors="replace")
    except OSError:
        return None


def restart_node(lab: str, node: str) -> list[int]:
    """End node ``node``'s init, and so every process of the node; return the PIDs.

    The next program run there starts a fresh init (with the node's current files).
    """
    found = running_init(lab, node)
    if found is None:
        return []
    pids = [found.holder, found.init]
    _end(pids)
    return pids


def write_hosts(lab: str, addresses: Mapping[str, Sequence[str]]) -> None:
    """Write the lab's ``/etc/hosts``: each node name with its addresses (in place).

    Rewritten in place (same inode), so nodes already running see the change.
    """
    lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"]
    for node, addrs in sorted(addresses.items()):
        for addr in addrs:
            with contextlib.suppress(ValueError):
                lines.append(f"{ipaddress.ip_address(addr)}\t{node}")
    path = hosts_path(lab)
    _lab_dir(lab)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    with os.fdopen(fd, "w") as f:
        f.truncate(0)
        f.write("\n".join(lines) + "\n")
    os.chmod(path, 0o644)


def _alive(pid: int) -> bool:
    return start_time(pid) is not None


def _end(pids: Sequence[int], grace: float = 2.0) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        for pid, proc in list(_holders.items()):
            if proc.poll() is not None:
                _holders.pop(pid, None)
        time.sleep(0.01)


def teardown(lab: str) -> list[int]:
    """End every process of lab ``lab``'s nodes, remove its cgroups and node records.

    By PID only: the PIDs in the lab's cgroups and the recorded inits. Returns them.
    """
    pids = set(cgroup_pids(lab))
    directory = NODES_DIR / lab
    if directory.is_dir():
        for record in directory.glob("*.json"):
            found = running_init(lab, record.stem)
            if found is not None:
                pids.update((found.holder, found.init))
    ended = sorted(pids)
    _end(ended)
    for cgroup in cgroup_dirs(lab):
        for _ in range(100):
            try:
                cgroup.rmdir()
                break
            except FileNotFoundError:
                break
            except OSError:
                _end(cgroup_pids(lab), grace=0.05)
    shutil.rmtree(directory, ignore_errors=True)
    return ended


def labs_with_state() -> list[str]:
    """Lab keys that have node records or cgroups on this host (for the orphan sweep)."""
    found: set[str] = set()
    if NODES_DIR.is_dir():
        found.update(p.name for p in NODES_DIR.iterdir() if p.is_dir())
    for parent in _cgroup_parents():
        if parent.is_dir():
            found.update(p.name for p in parent.iterdir() if p.is_dir())
    return sorted(found)
