"""Run exercise checks inside a lab's namespaces, with Topolab's own tools only.

A student controls what runs inside their nodes, so nothing here asks the
student's programs anything: every probe is one of our argv-list commands run
as root in the node's namespace (``ip netns exec NS ping ...``, ``ip -j -n NS
addr``), sysctls are read from ``/proc/sys`` by a short-lived thread that
entered the namespace, and captures are decoded by the tiny pcap reader below.
Before a node is trusted to be the lab's, its ``lo`` must carry the owner alias
``topolab:<lab>:<node>`` (the ownership rule), so a check never probes a
namespace somebody else made with the same name.
"""

from __future__ import annotations

import ctypes
import json
import os
import select
import struct
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from ipaddress import ip_address, ip_interface, ip_network
from pathlib import Path
from typing import Any

from lab.classroom.checks import (
    AddressCheck,
    CaptureCheck,
    CheckResult,
    DhcpCheck,
    ForwardingCheck,
    LearnedRouteCheck,
    MtuCheck,
    ReachCheck,
    RouteCheck,
)
from lab.topology.naming import namespace_name, owner_alias
from lab.topology.schema import Topology
from worker import sandbox

NETNS_DIR = Path("/run/netns")
CLONE_NEWNET = 0x40000000
# How long tcpdump may take to say it is listening before the probe runs.
CAPTURE_START_TIMEOUT = 5.0

_libc = ctypes.CDLL(None, use_errno=True)


class CheckError(Exception):
    """A check could not be carried out (not the same as failing): the node is not there."""


def _ip(*args: str, timeout: float = 10) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["ip", *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def _ip_json(ns: str, *args: str) -> Any:
    out = _ip("-j", "-n", ns, *args)
    if out.returncode != 0:
        raise CheckError(out.stderr.strip() or f"ip {' '.join(args)} failed in {ns}")
    return json.loads(out.stdout or "[]")


class _Nodes:
    """Namespaces of one lab, each verified by its owner tag once per run."""

    def __init__(self, lab_key: str) -> None:
        self.lab_key = lab_key
        self._ok: dict[str, str] = {}

    def ns(self, node: str) -> str:
        """Return the namespace of ``node`` after checking it is the lab's.

        Raises:
            CheckError: the namespace is missing or not tagged as this lab's node.
        """
        if node in self._ok:
            return self._ok[node]
        ns = namespace_name(self.lab_key, node)
        if not (NETNS_DIR / ns).exists():
            raise CheckError(f"node {node} is not running (no namespace {ns}): deploy the lab")
        links = _ip_json(ns, "link", "show", "dev", "lo")
        alias = links[0].get("ifalias") if links else None
        if alias != owner_alias(self.lab_key, node):
            raise CheckError(f"namespace {ns} is not node {node} of this lab (owner tag {alias!r})")
        self._ok[node] = ns
        return ns


def read_sysctl(ns: str, key: str) -> str:
    """Read ``/proc/sys/<key>`` as seen from namespace ``ns`` (``net/ipv4/ip_forward``).

    A fresh thread enters the namespace (setns only moves the calling thread) and
    ends afterwards, so no thread of this process is left in a lab's namespace.

    Raises:
        OSError: the namespace or the sysctl does not exist.
    """
    box: dict[str, Any] = {}

    def enter_and_read() -> None:
        try:
            fd = os.open(NETNS_DIR / ns, os.O_RDONLY | os.O_CLOEXEC)
            try:
                if _libc.setns(fd, CLONE_NEWNET) != 0:
                    err = ctypes.get_errno()
                    raise OSError(err, f"setns into {ns}: {os.strerror(err)}")
            finally:
                os.close(fd)
            box["value"] = (Path("/proc/sys") / key).read_text().strip()
        except OSError as exc:
            box["error"] = exc

    thread = threading.Thread(target=enter_and_read, name=f"sysctl-{ns}", daemon=True)
    thread.start()
    thread.join(10)
    if "error" in box:
        raise box["error"]
    if "value" not in box:
        raise OSError(f"reading {key} in {ns} did not finish")
    return str(box["value"])


def _ping(lab: str, node: str, dst: str, count: int, timeout: int) -> tuple[bool, str]:
    argv = ["ping", "-n", "-q", "-c", str(count), "-W", str(timeout), "--", dst]
    try:
        out = sandbox.run(lab, node, argv, timeout=count * (timeout + 1) + 5)
    except subprocess.TimeoutExpired:
        return False, "no answer"
    except sandbox.SandboxError as exc:
        raise CheckError(exc.message) from exc
    summary = next((line for line in out.stdout.splitlines() if "received" in line), "")
    received = summary.split(",")[1].replace("received", "").strip() if "," in summary else "0"
    return out.returncode == 0, f"{received} of {count}"


# -- the checks --------------------------------------------------------------------------


def _check_reach(spec: ReachCheck, nodes: _Nodes, topology: Topology) -> CheckResult:
    nodes.ns(spec.src)
    ok, seen = _ping(nodes.lab_key, spec.src, str(spec.dst), spec.count, spec.timeout)
    if spec.expect == "reach":
        if ok:
            return CheckResult(True, f"{spec.src} reaches {spec.dst} ({seen} replies)")
        return CheckResult(
            False,
            f"{spec.src} does not reach {spec.dst} ({seen} replies)",
            spec.hint or f"check the addresses and routes on the way from {spec.src} to {spec.dst}",
        )
    if ok:
        return CheckResult(
            False,
            f"{spec.src} still reaches {spec.dst} ({seen} replies)",
            spec.hint or f"traffic from {spec.src} to {spec.dst} must be blocked",
        )
    return CheckResult(True, f"{spec.src} does not reach {spec.dst}, as wanted")


def _link(nodes: _Nodes, node: str, interface: str) -> dict[str, Any]:
    try:
        data = _ip_json(nodes.ns(node), "addr", "show", "dev", interface)
    except CheckError as exc:
        if "does not exist" in str(exc):
            raise CheckError(f"{node} has no interface {interface}") from None
        raise
    if not data:
        raise CheckError(f"{node} has no interface {interface}")
    return dict(data[0])


def _check_address(spec: AddressCheck, nodes: _Nodes, topology: Topology) -> CheckResult:
    link = _link(nodes, spec.node, spec.interface)
    have = [
        ip_interface(f"{a['local']}/{a['prefixlen']}")
        for a in link.get("addr_info", [])
        if "local" in a and a.get("family") in ("inet", "inet6")
    ]
    where = f"{spec.node}:{spec.interface}"
    if spec.address in have:
        return CheckResult(True, f"{where} has {spec.address}")
    shown = ", ".join(str(a) for a in have if not a.ip.is_link_local) or "no address"
    return CheckResult(
        False,
        f"{where} lacks {spec.address} (it has {shown})",
        spec.hint or f"add {spec.address} to {spec.interface} on {spec.node}",
    )


def _check_mtu(spec: MtuCheck, nodes: _Nodes, topology: Topology) -> CheckResult:
    link = _link(nodes, spec.node, spec.interface)
    mtu = int(link.get("mtu", 0))
    where = f"{spec.node}:{spec.interface}"
    if mtu == spec.mtu:
        return CheckResult(True, f"{where} has MTU {mtu}")
    return CheckResult(
        False,
        f"{where} has MTU {mtu}, not {spec.mtu}",
        spec.hint or f"set the MTU of {spec.interface} on {spec.node} to {spec.mtu}",
    )


def _check_route(spec: RouteCheck, nodes: _Nodes, topology: Topology) -> CheckResult:
    ns = nodes.ns(spec.node)
    if spec.dst in ("default", "default6"):
        family = "-6" if spec.dst == "default6" else "-4"
    else:
        family = "-6" if spec.dst.version == 6 else "-4"  # type: ignore[union-attr]
    routes = _ip_json(ns, family, "route", "show", "table", "main")
    want_default = spec.dst in ("default", "default6")
    found: list[str] = []
    for route in routes:
        dst = str(route.get("dst", ""))
        if want_default:
            match = dst == "default"
        else:
            try:
                match = dst != "default" and ip_network(dst, strict=False) == spec.dst
            except ValueError:
                match = False
        if not match:
            continue
        gateway = route.get("gateway")
        found.append(f"{dst} via {gateway}" if gateway else f"{dst} dev {route.get('dev')}")
        if spec.via is None or (gateway is not None and ip_address(gateway) == spec.via):
            return CheckResult(True, f"{spec.node} has a route {found[-1]}")
    via = f" via {spec.via}" if spec.via else ""
    seen = f" (it has {', '.join(found)})" if found else ""
    return CheckResult(
        False,
        f"{spec.node} has no route to {spec.dst}{via}{seen}",
        spec.hint or f"add a route to {spec.dst}{via} on {spec.node}",
    )


def _check_forwarding(spec: ForwardingCheck, nodes: _Nodes, topology: Topology) -> CheckResult:
    value = read_sysctl(nodes.ns(spec.node), "net/ipv4/ip_forward")
    on = value == "1"
    state = "forwards" if on else "does not forward"
    if on == spec.enabled:
        return CheckResult(True, f"{spec.node} {state} IPv4")
    verb = "enable" if spec.enabled else "disable"
    return CheckResult(
        False,
        f"{spec.node} {state} IPv4 (net.ipv4.ip_forward={value})",
        spec.hint or f"{verb} forwarding on {spec.node} (a router forwards)",
    )


# The protocols whose routes FRR's zebra installs, by the kernel's number for them
# (iproute2's rt_protos; ``ip -j`` prints the name where the host's table has one).
LEARNED_PROTOCOLS = {"186": "bgp", "187": "isis", "188": "ospf", "189": "rip"}
FOREVER = 2**32 - 1  # an address's lifetime when nothing (no DHCP lease) limits it


def _route_net(dst: str, version: int) -> Any:
    if dst == "default":
        return ip_network("0.0.0.0/0" if version == 4 else "::/0")
    return ip_network(dst, strict=False)


def _check_learned_route(spec: LearnedRouteCheck, nodes: _Nodes, topology: Topology) -> CheckResult:
    # The kernel's table, read by root with our own ``ip``: what the node forwards with,
    # and not what a daemon in the student's node says about itself (vtysh's answer).
    ns = nodes.ns(spec.node)
    version = spec.dst.version
    routes = _ip_json(ns, f"-{version}", "route", "show", "table", "main")
    found: list[str] = []
    for route in routes:
        dst = str(route.get("dst", ""))
        try:
            if _route_net(dst, version) != spec.dst:
                continue
        except ValueError:
            continue
        # ``ip`` prints no protocol for "boot", what ``ip route add`` sets by default.
        proto = str(route.get("protocol", "boot"))
        proto = LEARNED_PROTOCOLS.get(proto, proto)
        gateways = [route.get("gateway")] + [h.get("gateway") for h in route.get("nexthops", [])]
        gateways = [g for g in gateways if g]
        via = f" via {', '.join(gateways)}" if gateways else f" dev {route.get('dev')}"
        found.append(f"{dst} proto {proto}{via}")
        learned = (
            proto in LEARNED_PROTOCOLS.values()
            if spec.protocol == "any"
            else proto == spec.protocol
        )
        if learned and (spec.via is None or any(ip_address(g) == spec.via for g in gateways)):
            return CheckResult(True, f"{spec.node} has a route {found[-1]}")
    how = spec.describe().split(" has ", 1)[1]
    seen = f" (it has {'; '.join(found)})" if found else ""
    protocol = "the routing protocol" if spec.protocol == "any" else spec.protocol.upper()
    return CheckResult(
        False,
        f"{spec.node} does not have {how}{seen}",
        spec.hint
        or f"is {protocol} running on {spec.node}, and do its neighbours come up? "
        "(vtysh -c 'show ip route' in its console)",
    )


def _check_dhcp(spec: DhcpCheck, nodes: _Nodes, topology: Topology) -> CheckResult:
    link = _link(nodes, spec.node, spec.interface)
    node = topology.node(spec.node)
    given = {
        a
        for iface in (node.interfaces if node else ())
        if iface.name == spec.interface
        for a in iface.addresses
    }
    where = f"{spec.node}:{spec.interface}"
    others: list[str] = []
    for info in link.get("addr_info", []):
        if info.get("family") != "inet" or "local" not in info:
            continue
        address = ip_interface(f"{info['local']}/{info['prefixlen']}")
        leased = int(info.get("valid_life_time", FOREVER)) < FOREVER
        if address in given:
            continue  # the topology's own address, not the DHCP server's
        if leased and (spec.within is None or address.ip in spec.within):
            lifetime = info.get("valid_life_time")
            return CheckResult(True, f"{where} has {address} from DHCP (lease {lifetime}s left)")
        others.append(f"{address}{'' if leased else ' (set by hand)'}")
    seen = f" (it has {', '.join(others)})" if others else " (it has no other IPv4 address)"
    return CheckResult(
        False,
        f"{where} has no address{f' in {spec.within}' if spec.within else ''} from DHCP{seen}",
        spec.hint or f"run a DHCP client on {spec.node} and a DHCP server on its segment",
    )


def capture_filter(spec: CaptureCheck) -> list[str]:
    """Return the tcpdump filter (as argv words) for the protocol a capture check wants."""
    if spec.protocol == "vxlan":
        words = ["udp", "dst", "port", str(spec.port)]
        if spec.vni is not None:
            # VXLAN header after the 8-byte UDP header: flags(1) reserved(3) VNI(3) reserved(1).
            words += ["and", f"(udp[12:4] >> 8) = {spec.vni}"]
        return words
    return [spec.protocol]


def _read_until_listening(proc: subprocess.Popen[bytes], deadline: float) -> bool:
    assert proc.stderr is not None
    seen = b""
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stderr], [], [], 0.1)
        if ready:
            chunk = os.read(proc.stderr.fileno(), 4096)
            if not chunk:
                return False
            seen += chunk
            if b"listening on" in seen:
                return True
        elif proc.poll() is not None:
            return False
    return False


def _check_capture(spec: CaptureCheck, nodes: _Nodes, topology: Topology) -> CheckResult:
    ns = nodes.ns(spec.node)
    nodes.ns(spec.probe_src)  # the probe's source must be the lab's too
    if not _link_exists(ns, spec.interface):
        raise CheckError(f"{spec.node} has no interface {spec.interface}")
    argv = ["tcpdump", "-i", spec.interface, "-n", "-p", "-U", "-Z", "root"]
    argv += ["--immediate-mode", "-c", "1", "-s", "256", "-w", "-", "--", *capture_filter(spec)]
    try:
        full = sandbox.command(nodes.lab_key, spec.node, argv)
    except sandbox.SandboxError as exc:
        raise CheckError(exc.message) from exc
    proc = subprocess.Popen(
        full, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=sandbox.environment()
    )
    try:
        if not _read_until_listening(proc, time.monotonic() + CAPTURE_START_TIMEOUT):
            raise CheckError(f"tcpdump did not start on {spec.node}:{spec.interface}")
        _ping(nodes.lab_key, spec.probe_src, str(spec.probe_dst), spec.count, 1)
        try:
            pcap, _ = proc.communicate(timeout=spec.timeout)
        except subprocess.TimeoutExpired:
            pcap = b""
    finally:
        if proc.poll() is None:
            proc.kill()  # our own tcpdump, by its PID
        proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    what = spec.describe().split(" sees ", 1)[1].split(" while ", 1)[0]
    where = f"{spec.node}:{spec.interface}"
    for packet in read_pcap(pcap):
        summary = describe_packet(packet)
        if summary is not None and _matches(spec, summary):
            return CheckResult(True, f"{where} saw {summary['text']}")
    return CheckResult(
        False,
        f"{where} saw no {what} while {spec.probe_src} pinged {spec.probe_dst}",
        spec.hint or f"traffic from {spec.probe_src} to {spec.probe_dst} should pass {where}",
    )


def _link_exists(ns: str, interface: str) -> bool:
    return _ip("-n", ns, "link", "show", "dev", interface).returncode == 0


def _matches(spec: CaptureCheck, summary: dict[str, Any]) -> bool:
    if spec.protocol == "vxlan":
        return summary.get("vni") is not None and (spec.vni is None or summary["vni"] == spec.vni)
    return bool(summary.get("proto") == spec.protocol or summary.get("inner") == spec.protocol)


# -- a tiny pcap decoder: enough to tell what a capture check saw ---------------------


def read_pcap(data: bytes) -> list[tuple[int, bytes]]:
    """Return ``(linktype, frame)`` for every record of a classic pcap file.

    Raises:
        ValueError: the data is not a pcap file.
    """
    if len(data) < 24:
        return []
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        endian = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        endian = ">"
    else:
        raise ValueError("not a pcap file")
    linktype = struct.unpack(endian + "I", data[20:24])[0]
    frames: list[tuple[int, bytes]] = []
    offset = 24
    while offset + 16 <= len(data):
        incl = struct.unpack(endian + "I", data[offset + 8 : offset + 12])[0]
        offset += 16
        frames.append((int(linktype), data[offset : offset + incl]))
        offset += incl
    return frames


ETH_P_IP, ETH_P_ARP, ETH_P_IPV6, ETH_P_8021Q = 0x0800, 0x0806, 0x86DD, 0x8100
_IP_PROTOS = {1: "icmp", 6: "tcp", 17: "udp", 58: "icmp"}


def describe_packet(packet: tuple[int, bytes]) -> dict[str, Any] | None:
    """Return what an Ethernet (linktype 1) or cooked (113) frame holds, or None.

    Keys: ``proto`` (arp, icmp, tcp, udp), ``src``/``dst``, ``dport``, ``vni`` and
    ``inner`` for VXLAN, and ``text``, a phrase for people.
    """
    linktype, frame = packet
    if linktype == 1 and len(frame) >= 14:
        ethertype, payload = struct.unpack("!H", frame[12:14])[0], frame[14:]
        if ethertype == ETH_P_8021Q and len(payload) >= 4:  # a VLAN trunk's tagged frame
            ethertype, payload = struct.unpack("!H", payload[2:4])[0], payload[4:]
    elif linktype == 113 and len(frame) >= 16:
        ethertype, payload = struct.unpack("!H", frame[14:16])[0], frame[16:]
    else:
        return None
    return _describe_l3(ethertype, payload, depth=0)


def _describe_l3(ethertype: int, payload: bytes, depth: int) -> dict[str, Any] | None:
    if ethertype == ETH_P_ARP:
        return {"proto": "arp", "text": "an ARP packet"}
    if ethertype == ETH_P_IP and len(payload) >= 20:
        ihl = (payload[0] & 0x0F) * 4
        proto_num, src, dst = payload[9], ip_address(payload[12:16]), ip_address(payload[16:20])
        l4 = payload[ihl:]
    elif ethertype == ETH_P_IPV6 and len(payload) >= 40:
        proto_num, src, dst = payload[6], ip_address(payload[8:24]), ip_address(payload[24:40])
        l4 = payload[40:]
    else:
        return None
    proto = _IP_PROTOS.get(proto_num, str(proto_num))
    info: dict[str, Any] = {"proto": proto, "src": str(src), "dst": str(dst)}
    info["text"] = f"{proto.upper()} {src} > {dst}"
    if proto == "udp" and len(l4) >= 16:
        dport = struct.unpack("!H", l4[2:4])[0]
        info["dport"] = dport
        flags = l4[8]
        if flags & 0x08 and depth == 0:
            vni = struct.unpack("!I", l4[12:16])[0] >> 8
            inner = l4[16:]
            info["vni"] = vni
            inner_info = (
                _describe_l3(struct.unpack("!H", inner[12:14])[0], inner[14:], depth + 1)
                if len(inner) >= 14
                else None
            )
            info["inner"] = inner_info["proto"] if inner_info else None
            carried = f" carrying {inner_info['text']}" if inner_info else ""
            info["text"] = f"VXLAN VNI {vni} {src} > {dst}:{dport}{carried}"
    return info


CheckRunner = Callable[[Any, _Nodes, Topology], CheckResult]

_RUNNERS: dict[str, CheckRunner] = {
    "reach": _check_reach,  # type: ignore[dict-item]
    "address": _check_address,  # type: ignore[dict-item]
    "mtu": _check_mtu,  # type: ignore[dict-item]
    "route": _check_route,  # type: ignore[dict-item]
    "forwarding": _check_forwarding,  # type: ignore[dict-item]
    "capture": _check_capture,  # type: ignore[dict-item]
    "learned_route": _check_learned_route,  # type: ignore[dict-item]
    "dhcp": _check_dhcp,  # type: ignore[dict-item]
}


def run_checks(lab_key: str, topology: Topology, checks: Sequence[Any]) -> list[CheckResult]:
    """Run every check of an exercise against lab ``lab_key``; one result per check, in order.

    A check that cannot run (the node is not deployed, the interface is missing)
    fails with a message saying so; it never raises.

    Raises:
        ValueError: a check of a kind this runner does not know (a programming error).
    """
    nodes = _Nodes(lab_key)
    results: list[CheckResult] = []
    for spec in checks:
        runner = _RUNNERS.get(spec.kind)
        if runner is None:
            raise ValueError(f"no runner for check kind {spec.kind!r}")
        try:
            results.append(runner(spec, nodes, topology))
        except CheckError as exc:
            results.append(CheckResult(False, str(exc), spec.hint or "deploy the lab and retry"))
        except (OSError, subprocess.SubprocessError, ValueError) as exc:
            results.append(CheckResult(False, f"the check could not run: {exc}", spec.hint))
    return results
