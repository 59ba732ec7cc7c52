"""Read the frames of a macvtap through its character device, and optionally answer.

A macvtap is a macvlan child whose frames go to a character device
(``/dev/tap<ifindex>``) instead of the kernel's stack, the way a hypervisor gives
a VM a presence directly on the parent's wire. This program opens that device
(finding it in the current network namespace, see :mod:`worker.apps.tuntap`),
prints one tcpdump-like line (or one JSON line with ``--json``) per frame, and with
``--answer`` replies to ARP and ping for ``--ip`` like :mod:`worker.apps.tap_endpoint`.

Usage::

    python -m worker.apps.macvtap_reader --macvtap mvtap0 [--json] [--count N] \\
        [--answer --ip 10.20.0.10/24 [--mac MAC]] [--device /dev/tapN] [--user nobody]

When answering, the MAC defaults to the macvtap's own: the parent's macvlan layer
delivers unicast frames to the macvtap only when they are addressed to it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from worker.apps import AppError
from worker.apps.frame_loop import FrameLoop, print_line
from worker.apps.frames import Responder, format_mac, parse_host_address
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
from worker.apps.tap_endpoint import parse_endpoint_mac
from worker.apps.tuntap import hwaddr, link_up, open_macvtap

APP = "macvtap-reader"


def build_parser() -> argparse.ArgumentParser:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(
        prog="python -m worker.apps.macvtap_reader",
        description="Print (and optionally answer) the frames of a macvtap device.",
    )
    parser.add_argument(
        "--macvtap",
        "--dev",
        dest="dev",
        required=True,
        action=Once,
        metavar="NAME",
        help="the macvtap interface",
    )
    parser.add_argument(
        "--device", metavar="PATH", help="the character device to open (default: found)"
    )
    parser.add_argument(
        "--json", action="store_true", help="one JSON trace line per frame instead of text"
    )
    parser.add_argument("--quiet", "-q", action="store_true", help="no per-frame output")
    parser.add_argument("--count", type=int, metavar="N", help="exit after N frames")
    parser.add_argument("--answer", action="store_true", help="answer ARP and ping for --ip")
    parser.add_argument("--ip", metavar="ADDR/PREFIX", help="the address to answer for")
    parser.add_argument("--mac", metavar="MAC", help="answer with this MAC (default: macvtap's)")
    parser.add_argument("--up", action="store_true", help="set the macvtap up")
    add_common_options(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Read frames until SIGTERM/SIGINT or ``--count``; return the exit status."""
    args = build_parser().parse_args(argv)
    return run_main(APP, lambda: _run(args))


def _run(args: argparse.Namespace) -> int:
    if args.answer and not args.ip:
        raise AppError("--answer needs --ip")
    if args.count is not None and args.count < 1:
        raise AppError("--count: must be at least 1")
    if args.log_every < 1:
        raise AppError("--log-every: must be at least 1")
    try:
        ip = parse_host_address(args.ip) if args.ip else None
    except ValueError as exc:
        raise AppError(f"--ip: {exc}") from None
    # None: answer with the macvtap's own MAC, read once the device is known.
    mac = parse_endpoint_mac(args.mac, None) if args.mac else None
    with StopSignals() as stop, open_macvtap(args.dev, args.device) as device:
        if args.up:
            link_up(args.dev)
        responder = None
        if args.answer and ip is not None:
            responder = Responder(mac if mac is not None else hwaddr(args.dev), ip)
        if args.user:
            drop_privileges(args.user)
        # --json is the trace; --trace is accepted as its synonym for symmetry.
        tracer = Tracer(APP, args.dev, (args.json or args.trace) and not args.quiet)
        text = None if (args.json or args.trace or args.quiet) else print_line
        loop = FrameLoop(
            APP,
            device,
            responder,
            tracer,
            text=text,
            log_every=args.log_every if args.verbose else None,
            count=args.count,
        )
        what = (
            f", answering for {ip} at {format_mac(responder.mac)}" if responder is not None else ""
        )
        log(APP, f"{args.dev}: reading {device.path}{what}")
        tracer.emit("start", device=device.path)
        signum = loop.run(stop)
        tracer.emit(
            "stop", signal=signum, frames_in=loop.counters.received, frames_out=loop.counters.sent
        )
        reason = f"signal {signum}" if signum is not None else f"{args.count} frames"
        log(APP, f"stopped after {reason}: {loop.counters.line()}{trace_note(tracer)}")
        return 0


if __name__ == "__main__":
    sys.exit(main())
