"""Hold a tun, tap or macvtap device open until SIGTERM: a cable to nowhere.

A tun/tap device only has carrier while a program holds it; a lab that draws one
without a program still wants it up. This program attaches to the device, by
default clears its persist flag (so the device goes away with the holder, and
ending the holder by PID is the whole cleanup), and reads and discards whatever
the kernel sends it, so its queue never fills.

Usage::

    python -m worker.apps.hold --dev tun0 [--kind auto|tun|tap|macvtap] [--create] \\
        [--keep-persistent] [--user nobody] [--trace]

``--kind auto`` (the default) tries tun, then tap, then macvtap.
"""

from __future__ import annotations

import argparse
import os
import selectors
import sys
from collections.abc import Sequence

from worker.apps import AppError
from worker.apps.frames import describe_frame, describe_ip
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
from worker.apps.tuntap import Device, DeviceError, open_macvtap, open_tuntap, set_persist

APP = "hold"
MAX_FRAME = 65535 + 14


def open_any(name: str, kind: str, create: bool, device: str | None = None) -> Device:
    """Open ``name`` as ``kind``; with ``auto``, the first of tun, tap, macvtap that fits.

    Raises:
        DeviceError: no kind fits (the message lists why each failed).
    """
    if kind in ("tun", "tap"):
        return open_tuntap(name, "tun" if kind == "tun" else "tap", create=create)
    if kind == "macvtap" or device is not None:
        return open_macvtap(name, device)
    errors = []
    for attempt in ("tun", "tap"):
        try:
            return open_tuntap(name, "tun" if attempt == "tun" else "tap", create=False)
        except DeviceError as exc:
            errors.append(str(exc))
    try:
        return open_macvtap(name)
    except DeviceError as exc:
        errors.append(str(exc))
    raise DeviceError(f"cannot hold {name}: " + "; ".join(errors))


def build_parser() -> argparse.ArgumentParser:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(
        prog="python -m worker.apps.hold",
        description="Hold a tun/tap/macvtap device open until SIGTERM, discarding its packets.",
    )
    parser.add_argument(
        "--dev",
        "--tun",
        "--tap",
        dest="dev",
        required=True,
        action=Once,
        metavar="NAME",
        help="the device to hold",
    )
    parser.add_argument("--kind", choices=("auto", "tun", "tap", "macvtap"), default="auto")
    parser.add_argument(
        "--device", metavar="PATH", help="a macvtap's character device to open (default: found)"
    )
    parser.add_argument(
        "--create", action="store_true", help="create the device when missing (needs --kind)"
    )
    parser.add_argument(
        "--keep-persistent",
        action="store_true",
        help="leave the persist flag alone (default: clear it, the device goes with us)",
    )
    add_common_options(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Hold the device until SIGTERM/SIGINT; return the exit status."""
    args = build_parser().parse_args(argv)
    return run_main(APP, lambda: _run(args))


class Holder:
    """Reads and discards what the kernel sends to a held device."""

    def __init__(self, device: Device, tracer: Tracer, log_every: int | None) -> None:
        """Hold ``device``; ``log_every`` packets log a counter line when set."""
        self.device = device
        self.tracer = tracer
        self.log_every = log_every
        self.discarded = 0
        self._describe = describe_ip if device.kind == "tun" else describe_frame

    def run(self, stop: StopSignals) -> int | None:
        """Loop until a stop signal; return its number."""
        os.set_blocking(self.device.fd, False)
        with selectors.DefaultSelector() as sel:
            sel.register(self.device.fd, selectors.EVENT_READ, "dev")
            sel.register(stop.fileno(), selectors.EVENT_READ, "stop")
            while stop.received is None:
                for key, _ in sel.select():
                    if key.data == "stop":
                        stop.drain()
                    else:
                        self.drain()
        return stop.received

    def drain(self) -> None:
        """Read and discard a burst of packets (then back to the signals)."""
        for _ in range(64):
            try:
                data = os.read(self.device.fd, MAX_FRAME)
            except BlockingIOError:
                return
            except OSError as exc:
                raise DeviceError(f"read from {self.device.name}: {exc.strerror}") from exc
            self.discarded += 1
            if self.log_every and self.discarded % self.log_every == 0:
                log(APP, f"discarded {self.discarded}")
            if self.tracer.enabled:
                self.tracer.emit(
                    "packet", dir="in", len=len(data), action="discard", **self._describe(data)
                )


def _run(args: argparse.Namespace) -> int:
    if args.create and args.kind not in ("tun", "tap"):
        raise AppError("--create needs --kind tun or --kind tap")
    if args.log_every < 1:
        raise AppError("--log-every: must be at least 1")
    with StopSignals() as stop, open_any(args.dev, args.kind, args.create, args.device) as device:
        if device.kind != "macvtap" and not args.keep_persistent:
            set_persist(device, False)
        if args.user:
            drop_privileges(args.user)
        tracer = Tracer(APP, args.dev, args.trace)
        holder = Holder(device, tracer, args.log_every if args.verbose else None)
        log(APP, f"holding {device.kind} {args.dev}")
        tracer.emit("start", kind=device.kind)
        signum = holder.run(stop)
        tracer.emit("stop", signal=signum, discarded=holder.discarded)
        log(APP, f"stopped by signal {signum}: discarded {holder.discarded}{trace_note(tracer)}")
        return 0


if __name__ == "__main__":
    sys.exit(main())
