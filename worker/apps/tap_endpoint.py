"""A user-space host on a tap device: how a virtual machine's NIC is wired.

A hypervisor gives each VM a tap device, usually a port of a bridge; the VM's
emulated NIC is the program holding the tap open, and every Ethernet frame the
bridge forwards to the tap is read by it. This program plays that VM with the
smallest possible network stack: it answers ARP requests for its IPv4 address and
ICMP echo requests sent to it, with frames it builds itself (Ethernet + ARP,
Ethernet + IPv4 + ICMP, checksums computed), and ignores everything else.

Usage::

    python -m worker.apps.tap_endpoint --tap tap0 --ip 192.168.50.10/24 \\
        [--mac 02:00:00:00:50:10] [--create] [--up] [--user nobody] [--trace] [--print]

``--mac`` is the endpoint's own address (the VM NIC's), not the tap device's
kernel-side MAC; by default it is 02:54 followed by the four bytes of the IP.
Without ``--create`` the tap must exist (the engine makes it persistent and puts it
on the bridge).
"""

from __future__ import annotations

import argparse
import ipaddress
import sys
from collections.abc import Sequence

from worker.apps import AppError
from worker.apps.frame_loop import FrameLoop, print_line
from worker.apps.frames import (
    Responder,
    format_mac,
    mac_for_ip,
    parse_host_address,
    parse_mac,
)
from worker.apps.runtime import (
    Once,
    StopSignals,
    Tracer,
    add_common_options,
    drop_privileges,
    log,
    run_main,
    trace_note,
)
from worker.apps.tuntap import link_up, open_tuntap, set_persist

APP = "tap-endpoint"


def parse_endpoint_mac(text: str | None, ip: ipaddress.IPv4Address | None) -> bytes:
    """The endpoint's MAC: ``text`` parsed, or derived from ``ip`` when ``text`` is None.

    Raises:
        AppError: malformed, or a multicast/broadcast address (or neither given).
    """
    if text is None:
        if ip is None:
            raise AppError("--mac: no MAC and no address to derive one from")
        return mac_for_ip(ip)
    try:
        mac = parse_mac(text)
    except ValueError as exc:
        raise AppError(f"--mac: {exc}") from None
    if mac[0] & 1:
        raise AppError(f"--mac: {text} is a multicast address; a NIC needs a unicast one")
    return mac


def build_parser() -> argparse.ArgumentParser:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(
        prog="python -m worker.apps.tap_endpoint",
        description="Answer ARP and ping on a tap device, like a minimal VM.",
    )
    parser.add_argument(
        "--tap",
        "--dev",
        dest="dev",
        required=True,
        action=Once,
        metavar="NAME",
        help="the tap device",
    )
    parser.add_argument("--ip", required=True, metavar="ADDR/PREFIX", help="the endpoint's IPv4")
    parser.add_argument("--mac", metavar="MAC", help="the endpoint's MAC (default 02:54:<ip>)")
    parser.add_argument("--create", action="store_true", help="create the tap when missing")
    parser.add_argument("--up", action="store_true", help="set the tap device up")
    parser.add_argument(
        "--print", dest="print_", action="store_true", help="print a tcpdump-like line per frame"
    )
    parser.add_argument(
        "--unpersist",
        action="store_true",
        help="clear the device's persist flag: it goes away when this program exits",
    )
    add_common_options(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Serve the tap until SIGTERM/SIGINT; return the exit status."""
    args = build_parser().parse_args(argv)
    return run_main(APP, lambda: _run(args))


def _run(args: argparse.Namespace) -> int:
    try:
        ip = parse_host_address(args.ip)
    except ValueError as exc:
        raise AppError(f"--ip: {exc}") from None
    mac = parse_endpoint_mac(args.mac, ip)
    if args.log_every < 1:
        raise AppError("--log-every: must be at least 1")
    with StopSignals() as stop, open_tuntap(args.dev, "tap", create=args.create) as device:
        if args.unpersist:
            set_persist(device, False)
        if args.create or args.up:
            link_up(args.dev)
        if args.user:
            drop_privileges(args.user)
        tracer = Tracer(APP, args.dev, args.trace)
        loop = FrameLoop(
            APP,
            device,
            Responder(mac, ip),
            tracer,
            text=print_line if args.print_ else None,
            log_every=args.log_every if args.verbose else None,
        )
        log(APP, f"{args.dev}: answering for {ip} at {format_mac(mac)}")
        tracer.emit("start", ip=str(ip), mac=format_mac(mac))
        signum = loop.run(stop)
        tracer.emit(
            "stop", signal=signum, frames_in=loop.counters.received, frames_out=loop.counters.sent
        )
        log(APP, f"stopped by signal {signum}: {loop.counters.line()}{trace_note(tracer)}")
        return 0


if __name__ == "__main__":
    sys.exit(main())
