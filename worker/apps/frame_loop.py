"""The Ethernet-frame loop shared by the tap endpoint and the macvtap reader.

Both hold a descriptor that yields whole Ethernet frames (a tap with IFF_NO_PI, a
macvtap with the vnet header off), describe every frame, optionally answer ARP and
ICMP echo through :class:`worker.apps.frames.Responder`, and report each frame as a
trace line or a tcpdump-like text line.
"""

from __future__ import annotations

import os
import selectors
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from worker.apps.frames import Responder, describe_frame, summarize_frame
from worker.apps.runtime import StopSignals, Tracer, log, stdout_writer
from worker.apps.tuntap import Device, DeviceError

MAX_FRAME = 65535 + 14
BURST = 64


@dataclass
class FrameCounters:
    """Frames in and out, answers given, frames ignored."""

    received: int = 0
    sent: int = 0
    answers: dict[str, int] = field(default_factory=dict)
    write_errors: int = 0

    def line(self) -> str:
        """One human line with every counter."""
        answers = ", ".join(f"{k} {v}" for k, v in sorted(self.answers.items())) or "none"
        return (
            f"frames in {self.received}, out {self.sent}, answers: {answers}, "
            f"write errors {self.write_errors}"
        )


class FrameLoop:
    """Reads frames from a device, reports them, answers what the responder answers."""

    def __init__(
        self,
        app: str,
        device: Device,
        responder: Responder | None,
        tracer: Tracer,
        text: Callable[[str], None] | None = None,
        log_every: int | None = None,
        count: int | None = None,
    ) -> None:
        """Serve ``device``; ``text`` receives one summary line per frame when set.

        ``count`` stops the loop after that many frames were received.
        """
        self.app = app
        self.device = device
        self.responder = responder
        self.tracer = tracer
        self.text = text
        self.log_every = log_every
        self.count = count
        self.counters = FrameCounters()

    def run(self, stop: StopSignals) -> int | None:
        """Loop until a stop signal (returned) or ``count`` frames (returns None)."""
        os.set_blocking(self.device.fd, False)
        with selectors.DefaultSelector() as sel:
            sel.register(self.device.fd, selectors.EVENT_READ, "dev")
            sel.register(stop.fileno(), selectors.EVENT_READ, "stop")
            while stop.received is None and not self._done():
                for key, _ in sel.select():
                    if key.data == "stop":
                        stop.drain()
                    else:
                        self._read_burst()
        return stop.received

    def _done(self) -> bool:
        return self.count is not None and self.counters.received >= self.count

    def _read_burst(self) -> None:
        for _ in range(BURST):
            if self._done():
                return
            try:
                frame = os.read(self.device.fd, MAX_FRAME)
            except BlockingIOError:
                return
            except OSError as exc:
                raise DeviceError(f"read from {self.device.name}: {exc.strerror}") from exc
            self.counters.received += 1
            self._report("in", frame)
            if self.responder is not None:
                answer = self.responder.answer(frame)
                if answer is not None:
                    self._send(answer.action, answer.frame)
            if self.log_every and self.counters.received % self.log_every == 0:
                log(self.app, self.counters.line())

    def _send(self, action: str, frame: bytes) -> None:
        try:
            os.write(self.device.fd, frame)
        except OSError as exc:
            # EAGAIN on a full queue, EIO when the device went down: count and go on.
            self.counters.write_errors += 1
            if self.tracer.enabled:
                self.tracer.emit("drop", reason=f"write: {exc.strerror}", action=action)
            return
        self.counters.sent += 1
        self.counters.answers[action] = self.counters.answers.get(action, 0) + 1
        self._report("out", frame, action=action)

    def _report(self, direction: str, frame: bytes, **extra: Any) -> None:
        if not self.tracer.enabled and self.text is None:
            return
        info = describe_frame(frame)
        if self.tracer.enabled:
            self.tracer.emit("packet", dir=direction, len=len(frame), **info, **extra)
        if self.text is not None:
            # tcpdump's own layout: time, In/Out, the summary.
            stamp = datetime.now().strftime("%H:%M:%S.%f")
            way = "In " if direction == "in" else "Out"
            self.text(f"{stamp} {way} {summarize_frame(frame, info)}")


def print_line(line: str) -> None:
    """Write a text summary line to stdout (dropped rather than ever blocking)."""
    stdout_writer().write_line(line)
