"""The test guest machine: Debian's stock kernel under qemu, the host's root shared read-only.

``scripts/guest-ensure.sh`` (run by ``make test``) leaves the kernel, its modules and the
initramfs in ``.cache/guest/``. ``Machine.run()`` boots it once with a read-write share
(the run directory: ``run.json`` in, reports out), waits for it to power off and ends qemu
by its PID when it overruns its time. The guest has no network device: only its loopback.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".cache" / "guest"
CONSOLE = "console.log"


class GuestUnavailableError(Exception):
    """The guest's kernel or qemu is not installed."""


@dataclass(frozen=True)
class Outcome:
    """How one guest run ended."""

    returncode: int | None  # qemu's (or the local runner's); None when it had to be ended
    timed_out: bool
    pid: int
    seconds: float
    console: Path

    def console_tail(self, lines: int = 40) -> str:
        """Return the last ``lines`` lines of the guest console."""
        try:
            text = self.console.read_text(errors="replace")
        except OSError:
            return "(no console output)"
        return "\n".join(text.splitlines()[-lines:]) or "(the console is empty)"


def kernel_version(cache: Path = CACHE) -> str:
    """Return the extracted kernel's version (``6.1.0-57-amd64``).

    Raises:
        GuestUnavailableError: ``scripts/guest-ensure.sh`` has not run.
    """
    try:
        version = (cache / "VERSION").read_text().strip()
    except OSError:
        version = ""
    needed = [cache / "kernel" / "boot" / f"vmlinuz-{version}", cache / "initramfs.cpio.gz"]
    if not version or not all(p.exists() for p in needed):
        raise GuestUnavailableError(
            f"the test guest is not installed in {cache}: run scripts/guest-ensure.sh "
            "(make test does)"
        )
    return version


def accelerator(cpuinfo: str) -> str:
    """Return qemu's ``-accel`` value: KVM only where the CPU exposes vmx/svm and /dev/kvm exists.

    Machines without the flags hang with KVM after "Booting from ROM"; TCG always works.
    """
    flags: set[str] = set()
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            flags.update(line.partition(":")[2].split())
    if flags & {"vmx", "svm"} and os.path.exists("/dev/kvm"):
        return "kvm"
    return "tcg,thread=multi"


def qemu_argv(
    run_dir: Path, *, cache: Path = CACHE, memory_mb: int = 1536, cpus: int = 2
) -> list[str]:
    """Return the qemu command line that boots the guest with ``run_dir`` as its results share.

    Raises:
        GuestUnavailableError: the kernel is not installed.
    """
    version = kernel_version(cache)
    with open("/proc/cpuinfo") as f:
        accel = accelerator(f.read())
    return [
        "qemu-system-x86_64",
        "-accel", accel,
        "-cpu", "max",
        "-m", str(memory_mb),
        "-smp", str(cpus),
        "-nodefaults", "-no-user-config", "-no-reboot",
        "-display", "none", "-monitor", "none",
        "-serial", f"file:{run_dir / CONSOLE}",
        "-nic", "none",
        "-kernel", str(cache / "kernel" / "boot" / f"vmlinuz-{version}"),
        "-initrd", str(cache / "initramfs.cpio.gz"),
        "-append", f"console=ttyS0 panic=-1 quiet loglevel=4 topolab.root={ROOT}",
        "-virtfs",
        "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap",
        "-virtfs", f"local,path={run_dir},mount_tag=results,security_model=none",
    ]  # fmt: skip


def local_argv(run_dir: Path) -> list[str]:
    """Return the command that runs the guest's side on this host (the plugin's own tests)."""
    return [sys.executable, "-m", "tests.guest.runner", str(run_dir)]


class Machine:
    """One guest run over ``run_dir``; ``launcher`` is ``qemu`` or ``local``."""

    def __init__(self, run_dir: Path, launcher: str = "qemu") -> None:
        self.run_dir = run_dir
        self.launcher = launcher

    def argv(self) -> list[str]:
        """Return the command to start.

        Raises:
            GuestUnavailableError: the kernel is not installed (qemu launcher).
        """
        if self.launcher == "local":
            return local_argv(self.run_dir)
        return qemu_argv(self.run_dir)

    def run(self, timeout: float) -> Outcome:
        """Start the guest, wait at most ``timeout`` seconds, end it by PID if it overruns.

        Raises:
            GuestUnavailableError: qemu or the kernel is not installed.
        """
        argv = self.argv()
        console = self.run_dir / CONSOLE
        env = dict(os.environ)
        if self.launcher == "local":
            env["TOPOLAB_IN_GUEST"] = "1"
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        start = time.monotonic()
        with open(console, "ab") as out:
            try:
                proc = subprocess.Popen(
                    argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                    cwd=ROOT, env=env, start_new_session=True,
                )  # fmt: skip
            except FileNotFoundError as exc:
                raise GuestUnavailableError(
                    f"{argv[0]} is not installed: make test installs qemu-system-x86"
                ) from exc
            try:
                code: int | None = proc.wait(timeout=timeout)
                timed_out = False
            except subprocess.TimeoutExpired:
                proc.kill()  # by PID: only the process this run started
                proc.wait()
                code, timed_out = None, True
        return Outcome(code, timed_out, proc.pid, time.monotonic() - start, console)
