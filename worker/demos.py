"""Run a demo of the library (``lab/demos/catalog.py``) against its deployed lab.

A run is: every probe (a ping from the probe's node, as the unprivileged lab
user with only ``CAP_NET_RAW``, inside the node's namespace, argv lists only),
then the extra views the demo asks for (``fdb``: the MAC addresses each bridge
learned; ``matrix``: who reaches whom among macvlan children), then the packet
journey (``worker/telemetry/journey.py``) merged with the trace lines of the
lab's programs (``worker/programs.py``), so the user-space hops (the tunnel
program, the tap endpoint) appear between the kernel's. Everything returned is
JSON-able. Runs as root on the lab host (the journey's packet sockets).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from lab.demos.catalog import Demo, JourneySpec, Probe
from lab.topology import naming
from lab.topology.load import load_topology
from lab.topology.schema import (
    BondLink,
    IpvlanLink,
    MacsecLink,
    MacvlanLink,
    Topology,
    VcanLink,
    VethLink,
    VxcanLink,
    VxlanLink,
)
from worker import checks, programs, sandbox
from worker.state import LabState
from worker.telemetry.journey import JourneyError, run_journey

PING_COUNT = 3
PING_INTERVAL = "0.2"  # the shortest interval iputils allows an unprivileged user
PING_WAIT = "1"
PROBE_TIMEOUT = 15.0
JOURNEY_COUNT = 2

MODE_EXPLANATIONS = {
    "bridge": "siblings in bridge mode are switched to each other inside the kernel",
    "private": "a private child never talks to its siblings, only to the wire",
    "vepa": "every frame goes out to the wire; siblings meet only if the switch there "
    "sends frames back out of the port they came in on (hairpin)",
    "passthru": "the one child takes over the parent; there are no siblings",
    "source": "the child receives only frames from the listed source MACs",
}

_RTT = re.compile(r"= [\d.]+/([\d.]+)/")
_RECEIVED = re.compile(r"(\d+) (?:packets )?received")


@dataclass(frozen=True)
class ProbeResult:
    """The outcome of one probe."""

    label: str
    src: str
    dst: str
    expected: str  # "reach" or "refuse"
    reached: bool
    passed: bool
    rtt_ms: float | None
    why: str
    error: str = ""


@dataclass(frozen=True)
class DemoRun:
    """What a run of a demo showed; ``to_json()`` is what the API returns."""

    lab: str
    slug: str
    probes: list[ProbeResult]
    passed: bool
    journey: dict[str, Any] | None = None
    fdb: list[dict[str, Any]] | None = None
    matrix: dict[str, Any] | None = None
    # The device kinds' views (``KIND_VIEWS``): bond failover, MACsec captures, CAN, MACs.
    views: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict."""
        return asdict(self)


def ping_argv(address: str) -> list[str]:
    """Return ping's own argv toward ``address`` (run in the source node's sandbox). Pure."""
    return [
        "ping",
        "-n",
        "-c",
        str(PING_COUNT),
        "-i",
        PING_INTERVAL,
        "-W",
        PING_WAIT,
        "--",
        address,
    ]


@dataclass(frozen=True)
class PingResult:
    """Whether a ping got any answer, its average round trip, and an error line."""

    reached: bool
    rtt_ms: float | None
    error: str


def ping(lab: str, node: str, address: str) -> PingResult:
    """Ping ``address`` from ``node`` (PING_COUNT echoes); any reply counts as reached."""
    try:
        proc = sandbox.run(lab, node, ping_argv(address), timeout=PROBE_TIMEOUT)
    except subprocess.TimeoutExpired:
        return PingResult(False, None, "ping did not finish")
    except sandbox.SandboxError as exc:
        return PingResult(False, None, exc.message)
    received = _RECEIVED.search(proc.stdout)
    reached = received is not None and int(received.group(1)) > 0
    rtt = _RTT.search(proc.stdout)
    error = ""
    if received is None:  # ping itself failed (no namespace, bad address ...)
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        error = lines[-1] if lines else f"ping exited with status {proc.returncode}"
    return PingResult(reached, float(rtt.group(1)) if rtt and reached else None, error)


def _ping_all(pairs: Sequence[tuple[str, str, str]]) -> list[PingResult]:
    """Ping every (lab, node, address) at once: a refusal costs its full wait, so in parallel."""
    if not pairs:
        return []
    with ThreadPoolExecutor(max_workers=min(16, len(pairs))) as pool:
        return list(pool.map(lambda triple: ping(*triple), pairs))


def run_probes(lab: str, probes: Sequence[Probe]) -> list[ProbeResult]:
    """Run ``probes`` in lab ``lab``; each result says whether it went as the demo expects."""
    pings = _ping_all([(lab, p.src, p.dst) for p in probes])
    results = []
    for probe, outcome in zip(probes, pings, strict=True):
        want = probe.expect == "reach"
        results.append(
            ProbeResult(
                label=probe.label or f"{probe.src} pings {probe.dst}",
                src=probe.src,
                dst=probe.dst,
                expected=probe.expect,
                reached=outcome.reached,
                passed=outcome.reached == want and not outcome.error,
                rtt_ms=outcome.rtt_ms,
                why=probe.why,
                error=outcome.error,
            )
        )
    return results


# -- fdb ----------------------------------------------------------------------------------


def _owners(state: LabState) -> dict[str, str]:
    """MAC address -> ``node:interface`` of every interface of the lab."""
    owners = {}
    for ns in state.namespaces:
        for link in ns.links:
            if link.mac and ns.node:
                owners[link.mac.lower()] = f"{ns.node}:{link.name}"
    return owners


def learned_fdb(lab: str, topology: Topology, state: LabState) -> list[dict[str, Any]]:
    """Return the MAC addresses every bridge of the lab learned (no permanent entries).

    One entry per learned MAC: node, bridge, port, mac, and ``owner`` (the lab
    interface with that MAC, when it is one of the lab's).
    """
    owners = _owners(state)
    entries: list[dict[str, Any]] = []
    for node in topology.nodes:
        bridges = [b.name for b in node.all_bridges()]
        for bridge in bridges:
            argv = ["bridge", "-j", "fdb", "show", "br", bridge]
            try:
                proc = sandbox.run(lab, node.name, argv, timeout=10)
            except sandbox.SandboxError:
                continue
            try:
                rows = json.loads(proc.stdout or "[]")
            except ValueError:
                rows = []
            for row in rows:
                if row.get("master") != bridge or "self" in row.get("flags", []):
                    continue
                if row.get("state") in ("permanent", "static"):
                    continue  # the bridge's own ports, not learned
                mac = str(row.get("mac", "")).lower()
                entries.append(
                    {
                        "node": node.name,
                        "bridge": bridge,
                        "port": row.get("ifname"),
                        "mac": mac,
                        "owner": owners.get(mac),
                    }
                )
    return entries


# -- macvlan matrix -------------------------------------------------------------------------


def _ipv4_of(topology: Topology, node: str, interface: str) -> str | None:
    n = topology.node(node)
    iface = n.interface(interface) if n is not None else None
    if iface is None:
        return None
    for address in iface.addresses:
        text = str(address)
        if ":" not in text:
            return text.split("/")[0]
    return None


def macvlan_matrix(lab: str, topology: Topology) -> dict[str, Any]:
    """Who reaches whom among the macvlan children of each parent, and the wire's host.

    Returns ``{"modes": {mode: explanation}, "groups": [{"parent", "mode", "rows",
    "cols", "cells": [{"src", "dst", "address", "reached"}]}]}``: rows are the
    children, columns the children and the host on the parent's wire.
    """
    by_parent: dict[str, list[MacvlanLink]] = {}
    for link in topology.links:
        if isinstance(link, MacvlanLink):
            by_parent.setdefault(str(link.parent), []).append(link)
    groups: list[dict[str, Any]] = []
    pairs: list[tuple[str, str, str]] = []
    where: list[tuple[int, str, str, str]] = []
    for parent, children in by_parent.items():
        rows = [c.endpoint.node for c in children]
        addresses = {
            c.endpoint.node: _ipv4_of(topology, c.endpoint.node, c.endpoint.interface)
            for c in children
        }
        cols = list(rows)
        for link in topology.links:  # the host at the other end of the parent's wire
            if isinstance(link, VethLink) and str(parent) in (str(link.a), str(link.b)):
                other = link.b if str(link.a) == str(parent) else link.a
                cols.append(other.node)
                addresses[other.node] = _ipv4_of(topology, other.node, other.interface)
        mode = "/".join(sorted({c.mode for c in children}))
        groups.append({"parent": parent, "mode": mode, "rows": rows, "cols": cols, "cells": []})
        for src in rows:
            for dst in cols:
                address = addresses.get(dst)
                if dst == src or address is None:
                    continue
                pairs.append((lab, src, address))
                where.append((len(groups) - 1, src, dst, address))
    for (index, src, dst, address), outcome in zip(where, _ping_all(pairs), strict=True):
        groups[index]["cells"].append(
            {"src": src, "dst": dst, "address": address, "reached": outcome.reached}
        )
    used = {m for g in groups for m in g["mode"].split("/")}
    modes = {m: text for m, text in MODE_EXPLANATIONS.items() if m in used}
    return {"modes": modes, "groups": groups}


# -- journey ------------------------------------------------------------------------------


def _hop_text(hop: dict[str, Any]) -> str:
    """A one-line, searchable description of a hop (what ``must_show`` tokens match)."""
    where = f"{hop['node']}:{hop['interface']}"
    parts = [where, str(hop.get("direction", "")), str(hop.get("packet", ""))]
    if hop.get("kind") == "program":
        parts.append(f"program {hop.get('app', '')} {hop.get('action', '')}")
    parts.extend(str(e) for e in hop.get("encapsulation", []))
    if hop.get("vni") is not None:
        parts.append(f"vni {hop['vni']}")
    if hop.get("ttl") is not None:
        parts.append(f"ttl {hop['ttl']}")
    parts.extend(str(c) for c in hop.get("changes", []))
    return " ".join(p for p in parts if p).strip()


def journey_shows(hops: Sequence[dict[str, Any]], token: str) -> bool:
    """Whether a hop shows ``token``: ``node:iface`` names a hop's place, anything else
    must appear in a hop's text; ``ttl`` needs a TTL change."""
    if token == "ttl":  # noqa: S105 - a journey token, not a secret
        return any(str(c).startswith("ttl ") for h in hops for c in h.get("changes", []))
    if ":" in token and " " not in token:
        node, _, interface = token.partition(":")
        return any(h["node"] == node and h["interface"] == interface for h in hops)
    return any(token.lower() in str(h.get("text", "")).lower() for h in hops)


def _program_hops(lab: str, since: float, until: float, ident: int) -> list[dict[str, Any]]:
    """The lab programs' trace lines about the journey's echo packets, as hops."""
    hops = []
    for event in programs.read_trace(lab, since):
        ts = float(event.get("ts", 0))
        if ts > until or event.get("icmp_id") != ident or event.get("icmp_type") not in (0, 8):
            continue
        hops.append(
            {
                "kind": "program",
                "ts": ts,
                "node": event["node"],
                "interface": event["interface"],
                "direction": str(event.get("dir", "")),
                "packet": "request" if event.get("icmp_type") == 8 else "reply",
                "seq": event.get("icmp_seq"),
                "src": event.get("src"),
                "dst": event.get("dst"),
                "ttl": event.get("ttl"),
                "app": event.get("app"),
                "action": event.get("action", ""),
                "encapsulation": [],
                "changes": [],
            }
        )
    return hops


def _anchor(
    kernel_hops: Sequence[dict[str, Any]], program_hops: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Place each program hop next to the kernel's sighting of the same packet on its device.

    A program stamps its trace line after it read or wrote the packet, so by raw
    time a read shows up after the packet already went on (the tunnel's UDP on
    the underlay). A read happens right after the kernel sent the packet into the
    device (direction ``out`` there), a write right before the kernel received it
    (``in``); the program's own time is kept as ``trace_ts``.
    """
    for hop in program_hops:
        reads = hop["direction"] in ("tun->udp", "in")
        want = "out" if reads else "in"
        if hop.get("app") == "macvtap-reader":  # a macvtap receives what its program reads
            want = "in" if reads else "out"
        for seen in kernel_hops:
            if (
                seen["node"] == hop["node"]
                and seen["interface"] == hop["interface"]
                and seen["direction"] == want
                and seen["packet"] == hop["packet"]
                and seen["seq"] == hop["seq"]
            ):
                hop["trace_ts"] = hop["ts"]
                hop["ts"] = float(seen["ts"]) + (1e-6 if reads else -1e-6)
                break
    return program_hops


def run_demo_journey(lab: str, topology: Topology, spec: JourneySpec) -> dict[str, Any]:
    """Trace ``spec`` in lab ``lab``: kernel hops and program hops, in time order.

    Returns the journey's dict with ``hops`` (each with ``kind``, ``text``),
    ``must_show`` and ``missing`` (the tokens no hop shows).

    Raises:
        JourneyError: the journey could not run (bad address, node gone).
    """
    nodes = {n.name: naming.namespace_name(lab, n.name) for n in topology.nodes}
    ports = tuple(sorted({link.dstport for link in topology.links if isinstance(link, VxlanLink)}))
    since = time.time()
    result = run_journey(
        nodes, spec.src, spec.dst, count=JOURNEY_COUNT, vxlan_ports=ports or (4789,)
    )
    until = time.time()
    hops = [{"kind": "interface", **hop} for hop in result["hops"]]
    hops += _anchor(hops, _program_hops(lab, since, until, int(result["icmp_id"])))
    hops.sort(key=lambda h: float(h["ts"]))
    start = float(hops[0]["ts"]) if hops else 0.0
    for hop in hops:
        hop["t_us"] = round((float(hop["ts"]) - start) * 1e6)
        hop["text"] = _hop_text(hop)
    result["hops"] = hops
    result["must_show"] = list(spec.must_show)
    result["missing"] = [t for t in spec.must_show if not journey_shows(hops, t)]
    return result


# -- views of the device kinds' demos (lab/demos/catalog_kinds.py) ----------------------

KIND_VIEWS = ("bond", "macsec", "can", "macs")
FAILOVER_PINGS = 15
ETH_P_MACSEC = b"\x88\xe5"  # MACsec's EtherType, as it sits in a frame
_PING_COUNTS = re.compile(r"(\d+) packets transmitted, (\d+) (?:packets )?received")


def _node_json(lab: str, node: str, argv: Sequence[str]) -> Any:
    """Run an ``ip -j``-style command in the node; its JSON output, or None."""
    try:
        proc = sandbox.run(lab, node, argv, timeout=PROBE_TIMEOUT)
    except (sandbox.SandboxError, subprocess.TimeoutExpired):
        return None
    try:
        return json.loads(proc.stdout or "null")
    except ValueError:
        return None


def active_member(lab: str, node: str, bond: str) -> str | None:
    """The member an active-backup bond sends through now, as the kernel reports it."""
    rows = _node_json(lab, node, ["ip", "-j", "-d", "link", "show", "dev", bond])
    if not isinstance(rows, list) or not rows:
        return None
    data = rows[0].get("linkinfo", {}).get("info_data", {})
    active = data.get("active_slave")
    return str(active) if active else None


def ping_counts(text: str) -> tuple[int, int]:
    """(sent, received) from ping's summary line; (0, 0) without one. Pure."""
    found = _PING_COUNTS.search(text)
    return (int(found.group(1)), int(found.group(2))) if found else (0, 0)


def bond_failover(lab: str, topology: Topology, probe: Probe) -> dict[str, Any]:
    """Take the bond's active member down while ``probe``'s ping runs; bring it back.

    Returns ``{"node", "bond", "mode", "active_before", "active_after", "member_down",
    "sent", "received", "passed"}``: passed when another member took over and the
    ping kept getting answers (at most a few lost while the bond noticed).
    """
    bond = next(link for link in topology.links if isinstance(link, BondLink))
    node, dev = bond.endpoint.node, bond.endpoint.interface
    before = active_member(lab, node, dev)
    argv = ["ping", "-n", "-c", str(FAILOVER_PINGS), "-i", PING_INTERVAL, "-W", PING_WAIT]
    proc = subprocess.Popen(
        sandbox.command(lab, probe.src, [*argv, "--", probe.dst]),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=sandbox.environment(),
        text=True,
    )
    lines: list[str] = []
    after = None
    try:
        assert proc.stdout is not None
        # Fail over once the ping is answered through the active member, not before.
        for line in proc.stdout:
            lines.append(line)
            if "bytes from" in line:
                break
        if before is not None:
            sandbox.run(lab, node, ["ip", "link", "set", "dev", before, "down"], timeout=10)
        lines.extend(proc.stdout)
        proc.wait(timeout=PROBE_TIMEOUT + FAILOVER_PINGS)
        after = active_member(lab, node, dev)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if before is not None:
            sandbox.run(lab, node, ["ip", "link", "set", "dev", before, "up"], timeout=10)
    sent, received = ping_counts("".join(lines))
    return {
        "node": node,
        "bond": dev,
        "mode": bond.mode,
        "active_before": before,
        "active_after": after,
        "member_down": before,
        "sent": sent,
        "received": received,
        "passed": after is not None and after != before and sent > 0 and received >= sent - 3,
    }


def frame_kinds(packets: Sequence[tuple[int, bytes]]) -> dict[str, int]:
    """Count a capture's frames (``checks.read_pcap``'s): MACsec, readable ICMP, all. Pure.

    ``icmp`` counts IPv4 ICMP (the pings): a MACsec parent's own IPv6 neighbour
    discovery goes out in the clear, and is not the traffic MACsec carries.
    """
    counts = {"frames": len(packets), "macsec": 0, "icmp": 0}
    for linktype, frame in packets:
        if linktype == 1 and len(frame) >= 14 and frame[12:14] == ETH_P_MACSEC:
            counts["macsec"] += 1
        summary = checks.describe_packet((linktype, frame))
        if summary is not None and summary.get("proto") == "icmp" and ":" not in summary["src"]:
            counts["icmp"] += 1
    return counts


def _collect_into(store: list[str]) -> Callable[[str, list[str]], None]:
    """A capture's line sink that keeps the lines in ``store``."""

    def sink(_capture_id: str, batch: list[str]) -> None:
        store.extend(batch)

    return sink


def macsec_capture(lab: str, topology: Topology, probe: Probe) -> dict[str, Any]:
    """Capture the receiver's wire and MACsec device while ``probe`` pings through them.

    Returns ``{"node", "wire", "device", "wire_counts", "device_counts", "wire_lines",
    "device_lines", "passed"}``: passed when the wire carried MACsec frames and no
    readable ICMP while the device showed the ICMP in plaintext.
    """
    from worker.telemetry.capture import CaptureError, CaptureManager, CaptureSpec

    receiver = next(
        link
        for link in topology.links
        if isinstance(link, MacsecLink) and link.endpoint.node != probe.src
    )
    node = receiver.endpoint.node
    places = {"wire": receiver.parent, "device": receiver.endpoint.interface}
    lines: dict[str, list[str]] = {k: [] for k in places}
    names: dict[str, str] = {}
    base = Path(tempfile.mkdtemp(prefix="topolab-demo-capture-"))
    manager = CaptureManager(base)
    try:
        for role, iface in places.items():
            spec = CaptureSpec(lab=lab, node=node, interface=iface, max_seconds=60)
            names[role] = manager.start(spec, sink=_collect_into(lines[role])).id
        outcome = ping(lab, probe.src, probe.dst)
        counts: dict[str, dict[str, int]] = {}
        for role, cid in names.items():
            manager.stop(cid)
            counts[role] = frame_kinds(checks.read_pcap(manager.get(cid).pcap_path.read_bytes()))
    except (CaptureError, ValueError, OSError) as exc:
        return {"node": node, "error": str(exc), "passed": False}
    finally:
        manager.stop_all()
        shutil.rmtree(base, ignore_errors=True)
    wire, device = counts["wire"], counts["device"]
    return {
        "node": node,
        "wire": places["wire"],
        "device": places["device"],
        "wire_counts": wire,
        "device_counts": device,
        "wire_lines": lines["wire"][:20],
        "device_lines": lines["device"][:20],
        "passed": outcome.reached
        and wire["macsec"] > 0
        and wire["icmp"] == 0
        and device["icmp"] > 0,
    }


# One CAN frame (struct can_frame): id, length, 3 bytes of padding, 8 data bytes.
_CAN_SCRIPT = r"""
import json, socket, struct, sys
role, iface = sys.argv[1], sys.argv[2]
can_id, data = int(sys.argv[3], 16), bytes.fromhex(sys.argv[4])
def sock():
    s = socket.socket(socket.AF_CAN, socket.SOCK_RAW, socket.CAN_RAW)
    s.bind((iface,))
    s.settimeout(10)
    return s
def frame(s):
    cid, n, payload = struct.unpack("=IB3x8s", s.recv(16))
    return {"id": cid & 0x1FFFFFFF, "data": payload[:n].hex()}
if role == "send":
    sock().send(struct.pack("=IB3x8s", can_id, len(data), data))
elif role == "loop":
    tx, rx = sock(), sock()
    tx.send(struct.pack("=IB3x8s", can_id, len(data), data))
    print(json.dumps(frame(rx)), flush=True)
else:
    rx = sock()
    print("ready", flush=True)
    print(json.dumps(frame(rx)), flush=True)
"""


def can_argv(role: str, interface: str, can_id: int, data: bytes) -> list[str]:
    """The node's own Python running the CAN script (``send``, ``loop`` or ``receive``). Pure."""
    python = os.environ.get("TOPOLAB_NODE_PYTHON", sandbox.NODE_PYTHON)
    return [python, "-I", "-c", _CAN_SCRIPT, role, interface, f"{can_id:x}", data.hex()]


def _can_loop(lab: str, link: VcanLink) -> dict[str, Any]:
    node, iface = link.endpoint.node, link.endpoint.interface
    sent = {"id": 0x123, "data": "0102"}
    try:
        proc = sandbox.run(lab, node, can_argv("loop", iface, 0x123, b"\x01\x02"), timeout=20)
        got = json.loads(proc.stdout.strip().splitlines()[-1]) if proc.stdout.strip() else None
        error = "" if got else (proc.stderr.strip().splitlines() or ["no frame"])[-1]
    except (sandbox.SandboxError, subprocess.TimeoutExpired, ValueError) as exc:
        got, error = None, str(exc)
    return {
        "kind": "vcan",
        "from": f"{node}:{iface}",
        "to": f"{node}:{iface}",
        "sent": sent,
        "received": got,
        "error": error,
        "passed": got == sent,
    }


def _can_pair(lab: str, link: VxcanLink) -> dict[str, Any]:
    sent = {"id": 0x42, "data": b"topolab".hex()}
    argv = can_argv("receive", link.b.interface, 0x42, b"topolab")
    got, error = None, ""
    receiver = subprocess.Popen(
        sandbox.command(lab, link.b.node, argv),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=sandbox.environment(),
        text=True,
    )
    try:
        assert receiver.stdout is not None
        if receiver.stdout.readline().strip() == "ready":  # bound: what is sent now arrives
            send = can_argv("send", link.a.interface, 0x42, b"topolab")
            sandbox.run(lab, link.a.node, send, timeout=20)
            receiver.wait(timeout=20)
            out = receiver.stdout.read().strip()
            got = json.loads(out.splitlines()[-1]) if out else None
        if got is None:
            error = (receiver.stderr.read() if receiver.stderr else "").strip() or "no frame"
    except (sandbox.SandboxError, subprocess.TimeoutExpired, ValueError) as exc:
        error = str(exc)
    finally:
        if receiver.poll() is None:
            receiver.kill()
        receiver.wait()
    return {
        "kind": "vxcan",
        "from": str(link.a),
        "to": str(link.b),
        "sent": sent,
        "received": got,
        "error": error,
        "passed": got == sent,
    }


def can_frames(lab: str, topology: Topology) -> dict[str, Any]:
    """Send a CAN frame over every vcan bus and vxcan pair and read it where it arrives.

    Returns ``{"frames": [{"kind", "from", "to", "sent", "received", "error",
    "passed"}], "passed"}``: Python's ``AF_CAN`` raw sockets in the nodes' sandboxes.
    """
    frames = [
        _can_loop(lab, link) if isinstance(link, VcanLink) else _can_pair(lab, link)
        for link in topology.links
        if isinstance(link, VcanLink | VxcanLink)
    ]
    return {"frames": frames, "passed": bool(frames) and all(f["passed"] for f in frames)}


def _peer_of(topology: Topology, endpoint: str) -> tuple[str, str] | None:
    for link in topology.links:
        if isinstance(link, VethLink) and endpoint in (str(link.a), str(link.b)):
            other = link.b if str(link.a) == endpoint else link.a
            return other.node, other.interface
    return None


def child_macs(lab: str, topology: Topology, state: LabState) -> dict[str, Any]:
    """Each ipvlan and macvlan child's MAC beside its parent's, and the ARP tables of the
    hosts on the parents' wires.

    Returns ``{"children": [{"kind", "child", "mac", "parent", "parent_mac",
    "same_as_parent"}], "neighbours": [{"node", "interface", "entries": [{"address",
    "mac"}]}], "passed"}``: passed when every ipvlan child has its parent's MAC and
    every macvlan child one of its own.
    """

    def mac(node: str, name: str) -> str | None:
        ns = state.node(node)
        link = ns.link(name) if ns is not None else None
        return link.mac.lower() if link is not None and link.mac else None

    children = []
    parents: set[str] = set()
    for link in topology.links:
        if not isinstance(link, IpvlanLink | MacvlanLink):
            continue
        child = mac(link.endpoint.node, link.endpoint.interface)
        parent = mac(link.parent.node, link.parent.interface)
        parents.add(str(link.parent))
        children.append(
            {
                "kind": link.kind,
                "child": str(link.endpoint),
                "mac": child,
                "parent": str(link.parent),
                "parent_mac": parent,
                "same_as_parent": child is not None and child == parent,
            }
        )
    neighbours = []
    for parent in sorted(parents):
        peer = _peer_of(topology, parent)
        if peer is None:
            continue
        rows = _node_json(lab, peer[0], ["ip", "-j", "neigh", "show", "dev", peer[1]])
        entries = [
            {"address": r.get("dst"), "mac": str(r.get("lladdr", "")).lower()}
            for r in (rows if isinstance(rows, list) else [])
            if r.get("lladdr")
        ]
        neighbours.append({"node": peer[0], "interface": peer[1], "entries": entries})
    macvlan = [c["mac"] for c in children if c["kind"] == "macvlan"]
    passed = (
        bool(children)
        and all(c["same_as_parent"] for c in children if c["kind"] == "ipvlan")
        and all(
            m is not None and not c["same_as_parent"]
            for c in children
            if c["kind"] == "macvlan"
            for m in [c["mac"]]
        )
        and len(set(macvlan)) == len(macvlan)
    )
    return {"children": children, "neighbours": neighbours, "passed": passed}


def kind_views(lab: str, demo: Demo, topology: Topology) -> dict[str, Any]:
    """Run the views of ``KIND_VIEWS`` that ``demo`` shows; each carries ``passed``."""
    views: dict[str, Any] = {}
    first = demo.probes[0] if demo.probes else None
    if "bond" in demo.show and first is not None:
        views["bond"] = bond_failover(lab, topology, first)
    if "macsec" in demo.show and first is not None:
        views["macsec"] = macsec_capture(lab, topology, first)
    if "can" in demo.show:
        views["can"] = can_frames(lab, topology)
    if "macs" in demo.show:
        from worker import engine

        views["macs"] = child_macs(lab, topology, engine.discover(lab))
    return views


# -- the run --------------------------------------------------------------------------------


def run_demo(lab: str, demo: Demo, topology: Topology | None = None) -> DemoRun:
    """Run ``demo``'s probes, extra views and journey against lab ``lab`` (deployed).

    ``topology`` is the lab's deployed topology (default: the demo's own). Starts
    the lab's programs first if they are not running (idempotent). A run that
    cannot do a part records it in ``errors`` rather than raising.
    """
    began = time.monotonic()
    topo = topology if topology is not None else load_topology(demo.topology)
    errors: list[str] = []
    try:
        programs.start_programs(lab, topo)
    except programs.ProgramError as exc:
        errors.append(exc.message)
    probes = run_probes(lab, demo.probes)
    fdb = None
    matrix = None
    if "fdb" in demo.show:
        from worker import engine

        fdb = learned_fdb(lab, topo, engine.discover(lab))
    if "matrix" in demo.show:
        matrix = macvlan_matrix(lab, topo)
    views = kind_views(lab, demo, topo)
    journey = None
    if demo.journey is not None:
        try:
            journey = run_demo_journey(lab, topo, demo.journey)
        except JourneyError as exc:
            errors.append(f"journey: {exc.message}")
    passed = all(p.passed for p in probes) and not errors
    passed = passed and all(view.get("passed") for view in views.values())
    if journey is not None and journey["missing"]:
        passed = False
    return DemoRun(
        lab=lab,
        slug=demo.slug,
        probes=probes,
        passed=passed,
        journey=journey,
        fdb=fdb,
        matrix=matrix,
        views=views,
        seconds=round(time.monotonic() - began, 3),
        errors=errors,
    )
