"""Packet captures: Debian's tcpdump inside a node namespace, pcap file + summary lines.

Why tcpdump and not our own AF_PACKET reader: tcpdump already uses TPACKET_V3 ring
buffers (libpcap 1.10), writes pcap the tools expect, and prints the summary line
people read (ICMP type/id/seq, TCP flags, VXLAN with the inner frame on port 4789)
without us writing a dissector for every protocol. One process does both: `-w FILE`
with `-U` (packet-buffered) and `--print -l` for the lines. `bench/telemetry.py`
measures it against tcpdump alone.

tcpdump runs in the node's sandbox (`worker.sandbox`: root of the lab's user
namespace, nothing of the host visible). It writes the pcap through a descriptor the
agent opened (the file is the lab's while the capture runs and root's after), so it
can neither name nor reach any other file of the host. The filter is passed after
`--`, so it can never be read as an option, and is compiled first (`tcpdump -d`)
so a bad one gets a clear error.
Limits: a size limit (checked every batch; the file may overshoot by one batch) and
a time limit. Lines are batched every 200 ms, at most 50 lines a batch, with a
"N more packets" line for the rest, so a flood cannot flood the page.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lab.topology import naming
from lab.wire import TopolabError
from worker import sandbox
from worker.kernel import userns

BATCH_SECONDS = 0.2
DRAIN_SECONDS = 1.1
BATCH_LINES = 50
MAX_FILTER_CHARS = 1024
DEFAULT_MAX_BYTES = 32 * 1024 * 1024  # downloads go through Redis (see lab/api/telemetry.py)
DEFAULT_MAX_SECONDS = 600.0
_IFNAME = re.compile(r"^[A-Za-z0-9_.:@-]{1,15}$")

logger = logging.getLogger(__name__)

LineSink = Callable[[str, list[str]], None]


class CaptureError(TopolabError):
    """A capture could not start or be found. `code` is stable for clients; `field` names
    the input at fault when there is one (node, interface, filter)."""

    def __init__(self, code: str, message: str, field: str = "") -> None:
        super().__init__(message, code)
        self.field = field


@dataclass(frozen=True)
class CaptureSpec:
    """What to capture: an interface of a lab's node, a BPF filter, limits."""

    lab: str
    node: str
    interface: str
    filter: str = ""
    max_bytes: int = DEFAULT_MAX_BYTES
    max_seconds: float = DEFAULT_MAX_SECONDS
    snaplen: int = 262144
    buffer_kib: int = 32768
    vxlan_ports: tuple[int, ...] = ()

    ns: str = ""  # the node's namespace as found by owner tag (default: the engine's name)

    @property
    def namespace(self) -> str:
        """The node's network namespace."""
        return self.ns or naming.namespace_name(self.lab, self.node)


@dataclass
class CaptureResult:
    """How a capture ended: counts from tcpdump's own report and why it stopped."""

    packets: int = 0
    kernel_drops: int = 0
    bytes: int = 0
    reason: str = ""


def take_batch(pending: list[str], limit: int = BATCH_LINES) -> list[str]:
    """Take one page batch from `pending` (emptied): at most `limit` lines, then a
    "... N more packets" line counting what was left out. Pure."""
    batch = pending[:limit]
    extra = len(pending) - limit
    pending.clear()
    if extra > 0:
        batch.append(f"... {extra} more packet{'s' if extra != 1 else ''} (not shown)")
    return batch


def parse_tcpdump_stats(stderr: str) -> tuple[int, int]:
    """(packets captured, packets dropped by kernel) from tcpdump's exit report. Pure."""
    captured = re.search(r"(\d+) packets? captured", stderr)
    dropped = re.search(r"(\d+) packets? dropped by kernel", stderr)
    return (int(captured.group(1)) if captured else 0, int(dropped.group(1)) if dropped else 0)


def _tcpdump_error(stderr: str) -> str:
    lines = [ln.removeprefix("tcpdump: ") for ln in stderr.splitlines() if ln.strip()]
    return lines[0] if lines else "tcpdump failed"


def link_info(namespace: str, interface: str) -> dict[str, Any]:
    """`ip -d -j link show dev IF` inside the namespace, as a dict.

    Raises:
        CaptureError: no such node namespace or interface.
    """
    if not _IFNAME.match(interface):
        raise CaptureError(
            "capture.bad_interface", f"{interface!r} is not an interface name", "interface"
        )
    if not os.path.exists(f"/run/netns/{namespace}"):
        raise CaptureError(
            "capture.no_node", f"node namespace {namespace!r} does not exist", "node"
        )
    proc = subprocess.run(
        ["ip", "-n", namespace, "-d", "-j", "link", "show", "dev", interface],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise CaptureError(
            "capture.no_interface",
            f"interface {interface!r} does not exist on this node",
            "interface",
        )
    data = json.loads(proc.stdout or "[]")
    return dict(data[0]) if data else {}


def capture_warnings(info: dict[str, Any]) -> list[str]:
    """Warnings about where the capture looks, from the link's details. Pure."""
    kind = (info.get("linkinfo") or {}).get("info_kind")
    name = info.get("ifname", "")
    out: list[str] = []
    if kind == "bridge":
        out.append(
            f"{name} is a bridge device: it sees traffic to and from the bridge itself and "
            "floods, but not unicast forwarded between two ports; capture on a port instead"
        )
    if "UP" not in info.get("flags", []):
        out.append(f"{name} is down: nothing will be captured until it comes up")
    return out


def check_filter(spec: CaptureSpec) -> None:
    """Compile the filter for the interface (`tcpdump -d`) inside the sandbox.

    Raises:
        CaptureError: code `capture.bad_filter` naming tcpdump's complaint.
    """
    if len(spec.filter) > MAX_FILTER_CHARS:
        raise CaptureError(
            "capture.bad_filter",
            f"the filter is longer than {MAX_FILTER_CHARS} characters",
            "filter",
        )
    if any(ord(ch) < 32 for ch in spec.filter):
        raise CaptureError("capture.bad_filter", "the filter contains control characters", "filter")
    argv = ["tcpdump", "-d", "-i", spec.interface, "--"]
    if spec.filter.strip():
        argv.append(spec.filter)
    try:
        proc = sandbox.run(spec.lab, spec.node, argv, timeout=30, namespace=spec.namespace)
    except sandbox.SandboxError as exc:
        raise CaptureError("capture.start_failed", exc.message, "node") from exc
    if proc.returncode != 0:
        raise CaptureError(
            "capture.bad_filter",
            f"bad capture filter {spec.filter!r}: {_tcpdump_error(proc.stderr)}",
            "filter",
        )


def tcpdump_argv(spec: CaptureSpec, pcap: Path) -> list[str]:
    """tcpdump's own argv for a capture into `pcap` that also prints lines. Pure.

    The agent passes the pcap as an open descriptor, so `pcap` is `/proc/self/fd/N`.
    """
    argv = [
        "tcpdump",
        "-i",
        spec.interface,
        "-n",  # no DNS: lookups would leave the lab and stall lines
        "-l",
        "-U",
        "-s",
        str(spec.snaplen),
        # No --immediate-mode: it wakes tcpdump per packet and halves the rate it keeps
        # up with (bench/telemetry.py); libpcap's 1 s block timeout bounds line latency.
        # A 32 MiB kernel ring absorbs bursts while the disk or the line reader lag.
        "-B",
        str(spec.buffer_kib),
        "-Z",  # stay root of the lab's namespace: a drop would lose access to descriptor 3
        "root",
        "-w",
        str(pcap),
        "--print",
    ]
    for port in spec.vxlan_ports:
        if port != 4789 and re.search(rf"\bport {port}\b", spec.filter):
            # tcpdump decodes VXLAN by itself only on 4789; another port needs -T vxlan,
            # which reads every packet the filter selects as VXLAN, so only when the
            # filter names that port (checked: the inner ICMP is printed on 8472).
            argv += ["-T", "vxlan"]
            break
    argv.append("--")
    if spec.filter.strip():
        argv.append(spec.filter)
    return argv


class Capture:
    """One running tcpdump. Created by `CaptureManager.start`."""

    def __init__(
        self,
        capture_id: str,
        spec: CaptureSpec,
        directory: Path,
        sink: LineSink | None,
        warnings: list[str],
        lab: str = "",
    ) -> None:
        self.id = capture_id
        self.spec = spec
        self.lab = lab
        self.directory = directory
        self.pcap_path = directory / "capture.pcap"
        self.warnings = warnings
        self.started = time.time()
        self.result: CaptureResult | None = None  # set by stop(): counts read, pcap root's
        self._reason = ""  # why it ended, first cause wins (a limit, a stop request)
        self._sink = sink
        self._pending: list[str] = []
        self._lines_seen = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._stderr: list[str] = []
        fd = os.open(self.pcap_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            # The lab's root opens it again through /proc/self/fd: it must own it meanwhile.
            os.fchown(fd, userns.ensure_identity(spec.lab).uid, -1)
            argv = sandbox.command(
                spec.lab,
                spec.node,
                tcpdump_argv(spec, Path(f"/proc/self/fd/{fd}")),
                namespace=spec.namespace,
            )
            self._proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=sandbox.environment(),
                start_new_session=True,
                text=True,
                bufsize=1,
                pass_fds=(fd,),
            )
        finally:
            os.close(fd)
        self._threads = [
            threading.Thread(target=self._read_stdout, daemon=True, name=f"cap-out-{capture_id}"),
            threading.Thread(target=self._read_stderr, daemon=True, name=f"cap-err-{capture_id}"),
            threading.Thread(target=self._pump, daemon=True, name=f"cap-pump-{capture_id}"),
        ]
        for thread in self._threads:
            thread.start()

    @property
    def pid(self) -> int:
        """PID of tcpdump (the sandbox helper and setpriv exec into it)."""
        return self._proc.pid

    @property
    def running(self) -> bool:
        """True while tcpdump runs."""
        return self._proc.poll() is None

    def wait_listening(self, timeout: float = 10.0) -> None:
        """Block until tcpdump says it is listening (so traffic sent next is caught).

        Raises:
            CaptureError: tcpdump exited or did not start in time.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if any("listening on" in line for line in self._stderr):
                    return
            if self._proc.poll() is not None:
                break
            time.sleep(0.02)
        raise CaptureError("capture.start_failed", f"tcpdump did not start: {self.stderr_text()}")

    def stderr_text(self) -> str:
        """What tcpdump printed on stderr so far."""
        with self._lock:
            return "\n".join(self._stderr)

    def _read_stdout(self) -> None:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            with self._lock:
                self._pending.append(line.rstrip("\n"))
                self._lines_seen += 1

    def _read_stderr(self) -> None:
        assert self._proc.stderr is not None
        for line in self._proc.stderr:
            with self._lock:
                if len(self._stderr) < 200:
                    self._stderr.append(line.rstrip("\n"))

    def _flush(self) -> None:
        with self._lock:
            batch = take_batch(self._pending) if self._pending else []
        if batch and self._sink is not None:
            try:
                self._sink(self.id, batch)
            except Exception:  # a failing page (Redis down) must not kill the capture
                logger.exception("capture %s: cannot deliver lines", self.id)

    def _pump(self) -> None:
        deadline = self.started + self.spec.max_seconds
        while not self._stopping.wait(BATCH_SECONDS):
            self._flush()
            if self._proc.poll() is not None:
                break
            if time.time() >= deadline:
                self._end("time limit reached")
                break
            try:
                if self.pcap_path.stat().st_size >= self.spec.max_bytes:
                    self._end("size limit reached")
                    break
            except FileNotFoundError:
                pass
        self._flush()

    def _end(self, reason: str) -> None:
        with self._lock:
            self._reason = self._reason or reason
        if self._proc.poll() is None:
            # libpcap hands over a TPACKET_V3 block when it is full or 1 s old; packets
            # in the last block would be lost by an immediate SIGINT. Wait it out.
            time.sleep(DRAIN_SECONDS)
            # SIGINT lets tcpdump flush the pcap and print its packet/drop report.
            for sig, wait in ((signal.SIGINT, 5.0), (signal.SIGKILL, 5.0)):
                try:
                    os.kill(self._proc.pid, sig)
                    self._proc.wait(timeout=wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
                except ProcessLookupError:
                    break

    def stop(self, reason: str = "stopped") -> CaptureResult:
        """End tcpdump by PID, flush the last lines, and hand the pcap to root.

        Returns the packet and kernel-drop counts tcpdump reported. Idempotent.
        """
        self._end(reason)
        self._proc.wait()
        self._stopping.set()
        for thread in self._threads:
            thread.join(timeout=5)
        packets, drops = parse_tcpdump_stats(self.stderr_text())
        result = self.result or CaptureResult(reason=self._reason or reason)
        result.packets, result.kernel_drops = packets, drops
        result.bytes = self.pcap_path.stat().st_size if self.pcap_path.exists() else 0
        self.result = result
        for path in (self.directory, self.pcap_path):
            if path.exists():
                os.chown(path, 0, 0)
        return result

    def describe(self) -> dict[str, Any]:
        """A JSON-able description for the API."""
        result = self.result
        return {
            "id": self.id,
            "lab": self.lab,
            "namespace": self.spec.namespace,
            "interface": self.spec.interface,
            "filter": self.spec.filter,
            "started": self.started,
            "running": self.running,
            "warnings": self.warnings,
            "lines_seen": self._lines_seen,
            "pcap_path": str(self.pcap_path),
            "result": None
            if result is None
            else {
                "packets": result.packets,
                "kernel_drops": result.kernel_drops,
                "bytes": result.bytes,
                "reason": result.reason,
            },
        }


@dataclass
class CaptureManager:
    """The captures of one agent: pcap directories under `base_dir`, ended with their lab."""

    base_dir: Path
    captures: dict[str, Capture] = field(default_factory=dict)

    def start(
        self,
        spec: CaptureSpec,
        sink: LineSink | None = None,
        lab: str = "",
        capture_id: str | None = None,
    ) -> Capture:
        """Validate, then start a capture; return it once tcpdump is listening.

        Raises:
            CaptureError: unknown node or interface, bad filter, bad limits, or tcpdump
                failed to start (nothing is left running or on disk then).
        """
        if spec.max_bytes <= 0 or spec.max_seconds <= 0:
            raise CaptureError(
                "capture.bad_limits", "size and time limits must be positive", "limits"
            )
        info = link_info(spec.namespace, spec.interface)
        warnings = capture_warnings(info)
        check_filter(spec)
        cid = capture_id or secrets.token_hex(8)
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", cid) or cid in self.captures:
            raise CaptureError("capture.bad_id", f"capture id {cid!r} is invalid or in use", "id")
        directory = self.base_dir / cid
        self.base_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.base_dir, 0o711)  # noqa: S103  # traverse only: names of others' captures stay hidden
        directory.mkdir(mode=0o700)
        try:
            capture = Capture(cid, spec, directory, sink, warnings, lab)
        except (OSError, sandbox.SandboxError) as exc:
            shutil.rmtree(directory, ignore_errors=True)
            raise CaptureError("capture.start_failed", f"cannot run tcpdump: {exc}") from exc
        try:
            capture.wait_listening()
        except CaptureError:
            capture.stop("failed")
            shutil.rmtree(directory, ignore_errors=True)
            raise
        self.captures[cid] = capture
        return capture

    def get(self, capture_id: str) -> Capture:
        """The capture with this id.

        Raises:
            CaptureError: code `capture.not_found`.
        """
        try:
            return self.captures[capture_id]
        except KeyError:
            raise CaptureError("capture.not_found", f"no capture {capture_id!r}") from None

    def stop(self, capture_id: str) -> CaptureResult:
        """Stop one capture (the pcap stays for download).

        Raises:
            CaptureError: code `capture.not_found`.
        """
        return self.get(capture_id).stop()

    def stop_lab(self, lab: str) -> list[str]:
        """Stop every running capture of a lab (the lab is going); return their ids."""
        ids = [cid for cid, cap in self.captures.items() if cap.lab == lab and cap.running]
        for cid in ids:
            self.captures[cid].stop("lab destroyed")
        return ids

    def reap(self) -> list[str]:
        """Finish captures whose tcpdump ended by itself (limit, interface gone)."""
        done = [cid for cid, cap in self.captures.items() if not cap.running and cap.result is None]
        for cid in done:
            self.captures[cid].stop("ended")
        return done

    def stop_all(self) -> None:
        """Stop every running capture."""
        for cap in self.captures.values():
            if cap.running:
                cap.stop("agent stopping")

    def forget(self, capture_id: str) -> None:
        """Stop a capture and delete its pcap."""
        cap = self.captures.pop(capture_id, None)
        if cap is not None:
            cap.stop()
            shutil.rmtree(cap.directory, ignore_errors=True)

    def prune(self, max_age: float = 24 * 3600.0) -> list[str]:
        """Delete finished captures (and their pcaps) older than `max_age` seconds."""
        cutoff = time.time() - max_age
        old = [
            cid
            for cid, cap in self.captures.items()
            if cap.result is not None and not cap.running and cap.started < cutoff
        ]
        for cid in old:
            self.forget(cid)
        return old

    def running_ids(self) -> Sequence[str]:
        """Ids of captures still running."""
        return [cid for cid, cap in self.captures.items() if cap.running]
