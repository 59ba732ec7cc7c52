"""Opening tun, tap and macvtap devices from user space, with ``fcntl.ioctl`` only.

A tun/tap device is attached by opening the clone device ``/dev/net/tun`` and
issuing ``TUNSETIFF`` with the device name: an existing (persistent) device is
attached, a missing one is created and lives as long as the descriptor unless it
is made persistent (``TUNSETPERSIST``). The device is made in the network
namespace of the process that opened ``/dev/net/tun``, so the apps open it after
they are inside the node's namespace.

A macvtap has its own character device, ``/dev/tap<ifindex>``, numbered
dynamically. devtmpfs is not namespaced: two namespaces can each have a macvtap
with ifindex 4, and ``/dev/tap4`` then belongs to one of them only. So the device
number is read from the sysfs of the *current* namespace (a fresh sysfs mounted by
a short-lived child in a private mount namespace), and the node is used only when
its number matches, or made with ``os.mknod`` in a private directory.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import re
import shutil
import socket
import stat
import struct
import tempfile
from dataclasses import dataclass
from typing import Literal

from worker.apps import AppError

TUN_CLONE_DEVICE = "/dev/net/tun"

# <linux/if_tun.h>
TUNSETIFF = 0x400454CA
TUNSETPERSIST = 0x400454CB
TUNGETIFF = 0x800454D2
IFF_TUN = 0x0001
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000
IFF_VNET_HDR = 0x4000

# <linux/sockios.h>, <net/if.h>
SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
SIOCGIFHWADDR = 0x8927
IFF_UP = 0x1
IFNAMSIZ = 16

# <sched.h>, <sys/mount.h>
CLONE_NEWNS = 0x00020000
MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REC = 0x4000
MS_PRIVATE = 0x40000

Kind = Literal["tun", "tap"]


class DeviceError(AppError):
    """A device could not be found, opened or configured; the message names it."""


@dataclass
class Device:
    """An open tun, tap or macvtap descriptor and what the app did to get it."""

    fd: int
    name: str
    kind: Literal["tun", "tap", "macvtap"]
    created: bool = False
    path: str = TUN_CLONE_DEVICE

    def __enter__(self) -> Device:
        """Use as ``with open_tuntap(...) as device:``; closed on exit."""
        return self

    def __exit__(self, *exc: object) -> None:
        """Close the descriptor."""
        self.close()

    def close(self) -> None:
        """Close the descriptor (a non-persistent tun/tap disappears with it)."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def check_ifname(name: str) -> str:
    """Return ``name`` when it is a valid Linux interface name.

    Raises:
        DeviceError: empty, longer than 15 bytes, ``.``/``..``, or containing ``/``,
            ``:`` or whitespace.
    """
    if (
        not name
        or len(name.encode()) >= IFNAMSIZ
        or name in (".", "..")
        or any(c in name for c in "/: \t\n")
    ):
        raise DeviceError(f"interface name {name!r} is not valid (1-15 characters, no / : space)")
    return name


def ifindex(name: str) -> int | None:
    """The ifindex of ``name`` in this process's network namespace, or None when absent."""
    try:
        return socket.if_nametoindex(name)
    except OSError:
        return None


def _ifreq(name: str, flags: int = 0) -> bytes:
    # struct ifreq: 16-byte name, then a 24-byte union; ifr_flags is its first short.
    return struct.pack(f"{IFNAMSIZ}sH22x", name.encode(), flags)


def open_tuntap(name: str, kind: Kind, create: bool = False) -> Device:
    """Attach to the tun/tap ``name`` (IFF_NO_PI), creating it when ``create`` is set.

    Without ``create`` the device must already exist in this namespace, as it does
    when the engine made it persistent; the apps never create one by accident.

    Raises:
        DeviceError: missing (and not ``create``), of the other kind or not a tun/tap,
            already held by another program, or not permitted.
    """
    check_ifname(name)
    existed = ifindex(name) is not None
    if not existed and not create:
        raise DeviceError(
            f"{kind} device {name} does not exist in this network namespace "
            "(create it first, or pass --create)"
        )
    try:
        fd = os.open(TUN_CLONE_DEVICE, os.O_RDWR | os.O_CLOEXEC)
    except OSError as exc:
        raise DeviceError(f"cannot open {TUN_CLONE_DEVICE}: {exc.strerror}") from exc
    flags = (IFF_TUN if kind == "tun" else IFF_TAP) | IFF_NO_PI
    try:
        fcntl.ioctl(fd, TUNSETIFF, _ifreq(name, flags))
    except OSError as exc:
        os.close(fd)
        raise DeviceError(_tunsetiff_message(name, kind, exc)) from exc
    return Device(fd, name, kind, created=not existed)


def _tunsetiff_message(name: str, kind: Kind, exc: OSError) -> str:
    if exc.errno == errno.EINVAL:
        return f"{name} exists but is not a {kind} device"
    if exc.errno == errno.EBUSY:
        return f"{kind} device {name} is already held open by another program"
    if exc.errno == errno.EPERM:
        return (
            f"not permitted to attach {kind} device {name} "
            "(needs CAP_NET_ADMIN, or the device's owner/group)"
        )
    return f"cannot attach {kind} device {name}: {exc.strerror}"


def set_persist(device: Device, persist: bool) -> None:
    """Set or clear the persist flag: a non-persistent device goes when its last fd closes.

    Raises:
        DeviceError: the ioctl failed (e.g. EPERM without CAP_NET_ADMIN).
    """
    try:
        fcntl.ioctl(device.fd, TUNSETPERSIST, int(persist))
    except OSError as exc:
        raise DeviceError(f"cannot set persist={persist} on {device.name}: {exc.strerror}") from exc


def link_up(name: str) -> None:
    """Set IFF_UP on ``name`` (SIOCGIFFLAGS / SIOCSIFFLAGS), leaving other flags alone.

    Raises:
        DeviceError: the interface is missing or the change is not permitted.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            got = fcntl.ioctl(sock.fileno(), SIOCGIFFLAGS, _ifreq(name))
            flags = struct.unpack_from("H", got, IFNAMSIZ)[0]
            if not flags & IFF_UP:
                fcntl.ioctl(sock.fileno(), SIOCSIFFLAGS, _ifreq(name, flags | IFF_UP))
        except OSError as exc:
            raise DeviceError(f"cannot set {name} up: {exc.strerror}") from exc


def hwaddr(name: str) -> bytes:
    """The MAC address of ``name`` (SIOCGIFHWADDR).

    Raises:
        DeviceError: the interface is missing.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            got = fcntl.ioctl(sock.fileno(), SIOCGIFHWADDR, _ifreq(name))
        except OSError as exc:
            raise DeviceError(f"cannot read the MAC address of {name}: {exc.strerror}") from exc
    # ifr_hwaddr is a struct sockaddr: 2-byte family, then the address bytes.
    return bytes(got[IFNAMSIZ + 2 : IFNAMSIZ + 8])


# --- macvtap -------------------------------------------------------------------


def _libc_call(libc: ctypes.CDLL, func: str, *args: object) -> None:
    if getattr(libc, func)(*args) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{func}: {os.strerror(err)}")


def _read_in_private_sysfs(relative: str) -> str:
    """Read ``/sys/<relative>`` from a sysfs mounted fresh in this network namespace.

    sysfs shows the network namespace of whoever mounted it, and ``/sys`` may have
    been mounted elsewhere (a process that entered the namespace with setns keeps the
    old one). A forked child unshares its mount namespace, mounts sysfs on a private
    directory and sends the file back through a pipe; the parent's mounts never change.

    Raises:
        OSError: the child could not mount sysfs (no CAP_SYS_ADMIN) or read the file.
    """
    mountpoint = tempfile.mkdtemp(prefix="tl-sysfs-")
    rfd, wfd = os.pipe()
    try:
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child
            status = 1
            try:
                os.close(rfd)
                libc = ctypes.CDLL(None, use_errno=True)
                _libc_call(libc, "unshare", CLONE_NEWNS)
                # Private propagation first, so the sysfs mount cannot leak to the host.
                _libc_call(libc, "mount", b"none", b"/", None, MS_REC | MS_PRIVATE, None)
                flags = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC
                _libc_call(libc, "mount", b"sysfs", mountpoint.encode(), b"sysfs", flags, None)
                with open(os.path.join(mountpoint, relative), "rb") as fh:
                    os.write(wfd, b"ok:" + fh.read())
                status = 0
            except OSError as exc:
                os.write(wfd, f"err:{exc.errno or 0}:{exc.strerror or exc}".encode())
            finally:
                os._exit(status)
        os.close(wfd)
        wfd = -1
        chunks = []
        while chunk := os.read(rfd, 4096):
            chunks.append(chunk)
        os.waitpid(pid, 0)
    finally:
        os.close(rfd)
        if wfd >= 0:
            os.close(wfd)
        os.rmdir(mountpoint)
    data = b"".join(chunks).decode(errors="replace")
    if data.startswith("ok:"):
        return data[3:]
    _, code, message = [*data.split(":", 2), "", ""][:3]
    raise OSError(int(code) if code.isdigit() else errno.EIO, message or "sysfs child failed")


def parse_devnum(text: str) -> tuple[int, int]:
    """Parse a sysfs ``dev`` file (``"246:1\\n"``) into (major, minor).

    Raises:
        DeviceError: not ``major:minor``.
    """
    major, sep, minor = text.strip().partition(":")
    if not sep or not major.isdigit() or not minor.isdigit():
        raise DeviceError(f"unexpected device number {text.strip()!r} (want major:minor)")
    return int(major), int(minor)


def macvtap_devnum(name: str) -> tuple[int, int]:
    """The (major, minor) of macvtap ``name``'s character device, in this namespace.

    Raises:
        DeviceError: ``name`` is missing, is not a macvtap, or sysfs cannot be read.
    """
    check_ifname(name)
    index = ifindex(name)
    if index is None:
        raise DeviceError(f"macvtap {name} does not exist in this network namespace")
    relative = f"class/net/{name}/macvtap/tap{index}/dev"
    try:
        return parse_devnum(_read_in_private_sysfs(relative))
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            raise DeviceError(f"{name} is not a macvtap (no {relative} in sysfs)") from exc
        first = exc
    # No CAP_SYS_ADMIN for a private mount: trust /sys only when it shows this
    # namespace's interface (same name and ifindex).
    try:
        with open(f"/sys/class/net/{name}/ifindex") as fh:
            same = int(fh.read()) == index
        if same:
            with open(f"/sys/{relative}") as fh:
                return parse_devnum(fh.read())
    except (OSError, ValueError):
        pass
    raise DeviceError(
        f"cannot find the character device of macvtap {name}: private sysfs failed "
        f"({first.strerror}) and /sys belongs to another namespace; pass --device"
    )


def open_macvtap(name: str, device_path: str | None = None) -> Device:
    """Open macvtap ``name``'s character device for plain Ethernet frames.

    ``device_path`` overrides the lookup (a node the caller made). Otherwise
    ``/dev/tap<ifindex>`` is used when its device number matches, else a node is
    made in a private directory, opened and removed at once. The vnet header the
    kernel enables by default on macvtap descriptors is switched off (TUNSETIFF with
    IFF_TAP | IFF_NO_PI), so reads and writes are bare frames.

    Raises:
        DeviceError: the device cannot be found, made or opened.
    """
    if device_path is not None:
        fd = _open_char(device_path, name)
    else:
        major, minor = macvtap_devnum(name)
        wanted = os.makedev(major, minor)
        guess = f"/dev/tap{ifindex(name)}"
        try:
            if os.stat(guess).st_rdev == wanted:
                return _finish_macvtap(_open_char(guess, name), name, guess)
        except OSError:
            pass  # absent, or another namespace's: make our own node below
        fd, guess = _open_private_node(wanted, name)
        device_path = guess
    return _finish_macvtap(fd, name, device_path)


def _open_char(path: str, name: str) -> int:
    # An inherited descriptor (the node sandbox opens a macvtap's device for its program)
    # is used as it is: opening it again would add a second queue that nobody reads.
    inherited = re.fullmatch(r"/proc/self/fd/(\d+)", path)
    if inherited is not None:
        fd = int(inherited.group(1))
        try:
            if stat.S_ISCHR(os.fstat(fd).st_mode):
                os.set_inheritable(fd, False)
                return fd
        except OSError:
            pass
    try:
        return os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except OSError as exc:
        raise DeviceError(f"cannot open {path} (macvtap {name}): {exc.strerror}") from exc


def _open_private_node(rdev: int, name: str) -> tuple[int, str]:
    # A 0700 directory nobody else can enter; tried in a few places because /tmp may
    # be mounted nodev (opening the node then fails with EACCES).
    errors = []
    # mkdtemp makes a fresh 0700 directory, so a shared base is safe here.
    for base in (None, "/run", "/dev/shm"):  # noqa: S108
        try:
            directory = tempfile.mkdtemp(prefix="tl-macvtap-", dir=base)
        except OSError as exc:
            errors.append(f"{base}: {exc.strerror}")
            continue
        path = os.path.join(directory, name)
        try:
            os.mknod(path, 0o600 | 0o020000, rdev)  # S_IFCHR
            return os.open(path, os.O_RDWR | os.O_CLOEXEC), path
        except OSError as exc:
            errors.append(f"{directory}: {exc.strerror}")
        finally:
            shutil.rmtree(directory, ignore_errors=True)
    raise DeviceError(f"cannot make a device node for macvtap {name}: {'; '.join(errors)}")


def _finish_macvtap(fd: int, name: str, path: str) -> Device:
    try:
        fcntl.ioctl(fd, TUNSETIFF, _ifreq("", IFF_TAP | IFF_NO_PI))
    except OSError as exc:
        os.close(fd)
        raise DeviceError(f"cannot switch off the vnet header on {path}: {exc.strerror}") from exc
    return Device(fd, name, "macvtap", path=path)
