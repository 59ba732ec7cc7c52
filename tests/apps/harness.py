"""Harness for the apps' kernel tests: private namespaces and programs ended by PID.

Namespace names start with ``tlapp-`` (``tl-`` is reserved for labs) and carry a
random suffix, so parallel sessions never collide; each is deleted in a finalizer.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def run(
    argv: list[str], check: bool = True, timeout: float = 20
) -> subprocess.CompletedProcess[str]:
    """Run argv, capture text output, fail with its stderr."""
    proc = subprocess.run(
        argv, capture_output=True, text=True, timeout=timeout, check=False, cwd=ROOT
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"{argv} -> {proc.returncode}: {proc.stderr.strip()}")
    return proc


class Program:
    """A process this test started; stdout and stderr go to files."""

    def __init__(
        self, argv: list[str], workdir: Path, name: str, env: dict[str, str] | None = None
    ) -> None:
        self.argv = argv
        self.out_path = workdir / f"{name}.out"
        self.err_path = workdir / f"{name}.err"
        with self.out_path.open("wb") as out, self.err_path.open("wb") as err:
            self.proc = subprocess.Popen(argv, stdout=out, stderr=err, cwd=ROOT, env=env)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stdout(self) -> str:
        return self.out_path.read_text()

    def stderr(self) -> str:
        return self.err_path.read_text()

    def events(self) -> list[dict[str, Any]]:
        """The JSON trace lines printed so far."""
        return [json.loads(line) for line in self.stdout().splitlines() if line.startswith("{")]

    def wait_for(
        self, predicate: Callable[[Program], bool], what: str, timeout: float = 10
    ) -> None:
        """Poll until ``predicate(self)``; fail with the output when the program died."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self):
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(
            f"{what} did not happen (exit {self.proc.poll()}).\n"
            f"stdout:\n{self.stdout()}\nstderr:\n{self.stderr()}"
        )

    def stop(self, timeout: float = 5) -> int:
        """SIGTERM by PID, wait; SIGKILL if it does not go. Returns the exit status."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


class Lab:
    """Namespaces and programs of one test; everything is removed by :meth:`close`."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.tag = secrets.token_hex(3)
        self.namespaces: list[str] = []
        self.programs: list[Program] = []

    def netns(self, suffix: str) -> str:
        name = f"tlapp-{self.tag}-{suffix}"
        run(["ip", "netns", "add", name])
        self.namespaces.append(name)
        run(["ip", "-n", name, "link", "set", "lo", "up"])
        return name

    def ip(self, ns: str, *args: str) -> str:
        return run(["ip", "-n", ns, *args]).stdout

    def exec_argv(self, ns: str, argv: list[str]) -> list[str]:
        return ["ip", "netns", "exec", ns, *argv]

    def start(self, argv: list[str], name: str) -> Program:
        program = Program(argv, self.workdir, name)
        self.programs.append(program)
        return program

    def app(self, ns: str, module: str, args: list[str], name: str) -> Program:
        """Start ``python -m worker.apps.<module>`` inside ``ns`` (ip netns exec)."""
        argv = [sys.executable, "-m", f"worker.apps.{module}", *args]
        return self.start(self.exec_argv(ns, argv), name)

    def close(self) -> None:
        for program in reversed(self.programs):
            program.stop()
        for ns in reversed(self.namespaces):
            run(["ip", "netns", "delete", ns], check=False)


def started(program: Program) -> bool:
    """True once the program printed its ``start`` trace line."""
    return any(e.get("event") == "start" for e in program.events())
