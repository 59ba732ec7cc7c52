"""A user-space VPN over TUN: IP packets from a tun device, carried in UDP to a peer.

The classic loop behind OpenVPN and VTun, without the crypto::

    app --> kernel --> tun0 --> [this program] --> UDP socket --> underlay --> peer
    app <-- kernel <-- tun0 <-- [this program] <-- UDP socket <-- underlay <-- peer

Every IP packet read from the tun device (IFF_TUN | IFF_NO_PI: bare IP, no
packet-information prefix) is sent to the peer as one UDP datagram; every datagram
from the peer is written into the tun device, where the kernel routes it as if it
had arrived on a wire.

Wire format of a datagram (with the default header; ``--no-header`` sends the bare
IP packet, to interoperate with the simplest tools)::

    0      2        3        4
    +------+--------+--------+--------------------------+
    | "TL" | version| flags  | the IP packet, unchanged |
    +------+--------+--------+--------------------------+
      magic   1        0

Datagrams with another magic, version or non-zero flags, or from any address but
``--peer``, are dropped and counted. Both ends must agree on ``--no-header``.

Usage::

    python -m worker.apps.tunnel --tun tun0 --local 10.9.0.1:5555 --peer 10.9.0.2:5555 \\
        [--create --address 172.16.1.1/24 --route 172.16.2.0/24 --mtu 1400] \\
        [--user nobody] [--trace] [--verbose]

Without ``--create`` the tun device must exist (the engine makes it persistent);
with it a missing device is created and goes away when the program exits.
"""

from __future__ import annotations

import argparse
import errno
import ipaddress
import os
import selectors
import socket
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field

from worker.apps import AppError
from worker.apps.frames import FrameError, describe_ip
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
from worker.apps.tuntap import Device, DeviceError, link_up, open_tuntap, set_persist

APP = "tunnel"
MAGIC = b"TL"
VERSION = 1
HEADER = MAGIC + bytes((VERSION, 0))
HEADER_LEN = len(HEADER)
MAX_PACKET = 65535
BURST = 64  # packets moved per readiness event, so one side cannot starve the other


def wrap(packet: bytes, header: bool = True) -> bytes:
    """Return the UDP payload carrying ``packet`` (see the module docstring)."""
    return HEADER + packet if header else packet


def unwrap(datagram: bytes, header: bool = True) -> bytes:
    """Return the IP packet a datagram carries.

    Raises:
        FrameError: empty, or (with the header) too short, wrong magic, unknown
            version or non-zero flags.
    """
    if not header:
        if not datagram:
            raise FrameError("tunnel: empty datagram")
        return datagram
    if len(datagram) <= HEADER_LEN:
        raise FrameError(f"tunnel: datagram of {len(datagram)} bytes has no packet")
    if datagram[:2] != MAGIC:
        raise FrameError(f"tunnel: bad magic {datagram[:2].hex()}")
    if datagram[2] != VERSION:
        raise FrameError(f"tunnel: unknown version {datagram[2]}")
    if datagram[3] != 0:
        raise FrameError(f"tunnel: unknown flags {datagram[3]:#04x}")
    return datagram[HEADER_LEN:]


def parse_endpoint(text: str, option: str = "address") -> tuple[str, int]:
    """Parse ``10.9.0.1:5555`` or ``[fd00::1]:5555`` into (address, port); no DNS.

    Raises:
        AppError: naming ``option``, when the address or port is not valid.
    """
    host, sep, port_text = text.rpartition(":")
    if not sep or not host:
        raise AppError(f"{option}: {text!r} is not ADDRESS:PORT")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise AppError(f"{option}: {host!r} is not an IP address") from None
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise AppError(f"{option}: port {port_text!r} is not in 1-65535")
    return str(address), int(port_text)


def format_endpoint(address: str, port: int) -> str:
    """``10.9.0.1:5555`` or ``[fd00::1]:5555``: the form :func:`parse_endpoint` reads."""
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


@dataclass
class Counters:
    """Packets moved and dropped, per direction."""

    tun_to_udp: int = 0
    udp_to_tun: int = 0
    dropped: dict[str, int] = field(default_factory=dict)

    def drop(self, reason: str) -> None:
        """Count one dropped packet under ``reason``."""
        self.dropped[reason] = self.dropped.get(reason, 0) + 1

    def total(self) -> int:
        """Packets seen in both directions, dropped ones included."""
        return self.tun_to_udp + self.udp_to_tun + sum(self.dropped.values())

    def line(self) -> str:
        """One human line with every counter."""
        drops = ", ".join(f"{k} {v}" for k, v in sorted(self.dropped.items())) or "none"
        return f"tun->udp {self.tun_to_udp}, udp->tun {self.udp_to_tun}, dropped: {drops}"


def build_parser() -> argparse.ArgumentParser:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(
        prog="python -m worker.apps.tunnel",
        description="Carry IP packets between a tun device and a UDP peer.",
    )
    parser.add_argument(
        "--tun",
        "--dev",
        dest="dev",
        required=True,
        action=Once,
        metavar="NAME",
        help="the tun device",
    )
    parser.add_argument(
        "--local", required=True, metavar="ADDR:PORT", help="UDP address to bind (underlay side)"
    )
    parser.add_argument(
        "--peer", required=True, metavar="ADDR:PORT", help="the other tunnel end's UDP address"
    )
    parser.add_argument(
        "--create", action="store_true", help="create the tun device when it does not exist"
    )
    parser.add_argument(
        "--address", action="append", default=[], metavar="CIDR", help="add to the tun (repeat)"
    )
    parser.add_argument(
        "--route", action="append", default=[], metavar="CIDR", help="route via the tun (repeat)"
    )
    parser.add_argument("--mtu", type=int, metavar="BYTES", help="set the tun device's MTU")
    parser.add_argument(
        "--no-header", action="store_true", help="send bare IP packets (no 4-byte TL header)"
    )
    parser.add_argument(
        "--unpersist",
        action="store_true",
        help="clear the device's persist flag: it goes away when this program exits",
    )
    add_common_options(parser)
    return parser


def _ip(args: Sequence[str]) -> None:
    """Run one iproute2 command (argv list) and fail with its message."""
    proc = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise DeviceError(f"ip {' '.join(args)}: {proc.stderr.strip() or proc.returncode}")


def check_config(addresses: Sequence[str], routes: Sequence[str], mtu: int | None) -> None:
    """Check ``--address``, ``--route`` and ``--mtu`` before anything is opened.

    Raises:
        AppError: naming the option, when a CIDR or the MTU is not valid.
    """
    for option, values in (("--address", addresses), ("--route", routes)):
        for cidr in values:
            try:
                ipaddress.ip_interface(cidr)
            except ValueError:
                raise AppError(f"{option}: {cidr!r} is not an address/prefix") from None
    if mtu is not None and not 68 <= mtu <= 65535:
        raise AppError(f"--mtu: {mtu} is not in 68-65535")


def configure(name: str, addresses: Sequence[str], routes: Sequence[str], mtu: int | None) -> None:
    """Set MTU, addresses, up and routes on ``name`` with iproute2 (idempotent: replace).

    Raises:
        AppError: a CIDR or the MTU is not valid.
        DeviceError: an ``ip`` command failed.
    """
    check_config(addresses, routes, mtu)
    if mtu is not None:
        _ip(["link", "set", "dev", name, "mtu", str(mtu)])
    for cidr in addresses:
        _ip(["address", "replace", cidr, "dev", name])
    link_up(name)
    for cidr in routes:
        network = ipaddress.ip_interface(cidr).network
        _ip(["route", "replace", str(network), "dev", name])


class Tunnel:
    """The packet loop between one tun device and one UDP socket."""

    def __init__(
        self,
        device: Device,
        sock: socket.socket,
        peer: tuple[str, int],
        header: bool,
        tracer: Tracer,
        log_every: int | None,
    ) -> None:
        """Move packets between ``device`` and ``sock`` (already bound) and ``peer``."""
        self.device = device
        self.sock = sock
        self.peer = peer
        self.header = header
        self.tracer = tracer
        self.log_every = log_every
        self.counters = Counters()
        self._peer_text = format_endpoint(*peer)
        self._peer_key = (ipaddress.ip_address(peer[0]), peer[1])
        local = sock.getsockname()
        self._local_text = format_endpoint(local[0], local[1])

    def run(self, stop: StopSignals) -> int:
        """Loop until a stop signal; return the signal number."""
        os.set_blocking(self.device.fd, False)
        self.sock.setblocking(False)
        with selectors.DefaultSelector() as sel:
            sel.register(self.device.fd, selectors.EVENT_READ, self.from_tun)
            sel.register(self.sock, selectors.EVENT_READ, self.from_udp)
            sel.register(stop.fileno(), selectors.EVENT_READ, None)
            while stop.received is None:
                for key, _ in sel.select():
                    if key.data is None:
                        stop.drain()
                    else:
                        key.data()
        return stop.received

    def _progress(self) -> None:
        if self.log_every and self.counters.total() % self.log_every == 0:
            log(APP, self.counters.line())

    def from_tun(self) -> None:
        """Read up to BURST packets from the tun device and send each to the peer."""
        for _ in range(BURST):
            try:
                packet = os.read(self.device.fd, MAX_PACKET)
            except BlockingIOError:
                return
            except OSError as exc:
                raise DeviceError(f"read from {self.device.name}: {exc.strerror}") from exc
            try:
                self.sock.sendto(wrap(packet, self.header), self.peer)
            except BlockingIOError:
                self._dropped("udp-send-full", packet)
                continue
            except OSError as exc:
                # ENETUNREACH, EHOSTUNREACH, ECONNREFUSED...: the underlay's problem,
                # reported and survived, as a real tunnel would.
                self._dropped(f"udp-send-{errno.errorcode.get(exc.errno or 0, 'error')}", packet)
                continue
            self.counters.tun_to_udp += 1
            self._trace("tun->udp", packet, len(packet) + (HEADER_LEN if self.header else 0))
            self._progress()

    def from_udp(self) -> None:
        """Receive up to BURST datagrams from the peer and write each into the tun."""
        for _ in range(BURST):
            try:
                datagram, source = self.sock.recvfrom(MAX_PACKET + HEADER_LEN)
            except BlockingIOError:
                return
            except OSError as exc:
                self.counters.drop(f"udp-recv-{errno.errorcode.get(exc.errno or 0, 'error')}")
                continue
            if (ipaddress.ip_address(source[0]), source[1]) != self._peer_key:
                self._dropped("not-from-peer", b"", source=format_endpoint(source[0], source[1]))
                continue
            try:
                packet = unwrap(datagram, self.header)
            except FrameError as exc:
                self._dropped("bad-header", b"", error=str(exc))
                continue
            try:
                os.write(self.device.fd, packet)
            except BlockingIOError:
                self._dropped("tun-write-full", packet)
                continue
            except OSError as exc:
                # EINVAL: not an IP packet the kernel accepts; EIO: device down.
                self._dropped(f"tun-write-{errno.errorcode.get(exc.errno or 0, 'error')}", packet)
                continue
            self.counters.udp_to_tun += 1
            self._trace("udp->tun", packet, len(datagram))
            self._progress()

    def _trace(self, direction: str, packet: bytes, outer_len: int) -> None:
        if self.tracer.enabled:
            self.tracer.emit(
                "packet",
                dir=direction,
                len=len(packet),
                udp_len=outer_len,
                peer=self._peer_text,
                local=self._local_text,
                **describe_ip(packet),
            )

    def _dropped(self, reason: str, packet: bytes, **extra: str) -> None:
        self.counters.drop(reason)
        if self.tracer.enabled:
            fields = describe_ip(packet) if packet else {}
            self.tracer.emit("drop", reason=reason, len=len(packet), **fields, **extra)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the tunnel until SIGTERM/SIGINT; return the exit status."""
    args = build_parser().parse_args(argv)
    return run_main(APP, lambda: _run(args))


def _run(args: argparse.Namespace) -> int:
    local = parse_endpoint(args.local, "--local")
    peer = parse_endpoint(args.peer, "--peer")
    family = socket.AF_INET6 if ":" in local[0] else socket.AF_INET
    if (":" in peer[0]) != (family == socket.AF_INET6):
        raise AppError("--local and --peer must both be IPv4 or both IPv6")
    if args.log_every < 1:
        raise AppError("--log-every: must be at least 1")
    check_config(args.address, args.route, args.mtu)  # every argument checked before acting
    # Signals first: a SIGTERM during the set-up still ends in a clean exit.
    with (
        StopSignals() as stop,
        open_tuntap(args.dev, "tun", create=args.create) as device,
        socket.socket(family, socket.SOCK_DGRAM) as sock,
    ):
        if args.unpersist:
            set_persist(device, False)
        if args.create or args.address or args.route or args.mtu is not None:
            configure(args.dev, args.address, args.route, args.mtu)
        try:
            sock.bind(local)
        except OSError as exc:
            raise AppError(f"--local: cannot bind {args.local}: {exc.strerror}") from exc
        if args.user:
            drop_privileges(args.user)
        tracer = Tracer(APP, args.dev, args.trace)
        tunnel = Tunnel(
            device, sock, peer, not args.no_header, tracer, args.log_every if args.verbose else None
        )
        log(APP, f"{args.dev} <-> udp {args.local} -> {args.peer} (uid {os.getuid()})")
        tracer.emit("start", local=args.local, peer=args.peer, header=not args.no_header)
        signum = tunnel.run(stop)
        tracer.emit(
            "stop",
            signal=signum,
            tun_to_udp=tunnel.counters.tun_to_udp,
            udp_to_tun=tunnel.counters.udp_to_tun,
            dropped=tunnel.counters.dropped,
        )
        log(APP, f"stopped by signal {signum}: {tunnel.counters.line()}{trace_note(tracer)}")
        return 0


if __name__ == "__main__":
    sys.exit(main())
