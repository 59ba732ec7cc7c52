"""A containerlab lab folder sent as an archive (``.tar.gz`` or ``.zip``), read in memory.

Pure: bytes in, the ``.clab.yml`` text and a bind reader out; nothing touches a disk.
The archive is untrusted, so every bound is checked while reading, before anything is
kept:

* the archive itself: at most ``ARCHIVE_MAX_BYTES``; its kind is told by its first
  bytes (gzip or zip), never by a name;
* members: at most ``MEMBERS_MAX``, each a regular file or a directory (no symlink,
  hard link, device or FIFO), named by a relative path without ``..``, a backslash or
  a NUL; each at most ``MEMBER_MAX_BYTES`` and all together ``UNPACKED_MAX_BYTES``
  (a zip bomb or a gzip bomb stops at the bound: the decompressed stream is counted,
  not the sizes the headers claim); no encrypted zip member;
* exactly one ``*.clab.yml`` (or ``.clab.yaml``): its folder is the lab folder.

Binds resolve relative to the yml's folder exactly as the CLI resolves them on disk
(``manage.py topolab deploy``): a host path that leaves the folder, names no regular
file of the archive, is larger than a node file or is not UTF-8 text reads as absent,
and the importer then keeps its warning.
"""

from __future__ import annotations

import gzip
import io
import posixpath
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO

from lab.topology.errors import Issue, TopologyError
from lab.topology.schema import NODE_FILE_MAX_BYTES

ARCHIVE_MAX_BYTES = 2 * 1024 * 1024  # what is uploaded (under Django's 2.5 MB body bound)
MEMBERS_MAX = 512
MEMBER_MAX_BYTES = 2_000_000  # a .clab.yml may be as long as an imported text
UNPACKED_MAX_BYTES = 8 * 1024 * 1024
CLAB_SUFFIXES = (".clab.yml", ".clab.yaml")
_GZIP, _ZIP = b"\x1f\x8b", b"PK\x03\x04"


class ArchiveError(TopologyError):
    """An archive that is not a lab folder Topolab reads; ``code`` names the reason.

    Its one issue's path is ``archive`` (the field of the request), its message names
    the member at fault.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__([Issue("archive", code, message)])
        self.code = code
        self.message = message


@dataclass(frozen=True)
class LabFolder:
    """What an archive holds: the yml's path and text and every regular file's bytes."""

    clab_path: str
    clab_text: str
    files: dict[str, bytes]

    def read_bind(self) -> Callable[[str], str | None]:
        """A bind reader for ``import_text``: a host path relative to the yml's folder."""
        base = posixpath.dirname(self.clab_path)

        def read(host_path: str) -> str | None:
            if host_path.startswith("/") or "\\" in host_path or "\0" in host_path:
                return None
            path = posixpath.normpath(posixpath.join(base, host_path))
            if path.startswith("../") or path == ".." or (base and not path.startswith(base + "/")):
                return None  # outside the lab folder
            data = self.files.get(path)
            if data is None or len(data) > NODE_FILE_MAX_BYTES:
                return None
            try:
                return data.decode()
            except UnicodeDecodeError:
                return None

        return read


def read_archive(data: bytes) -> LabFolder:
    """Read a ``.tar.gz`` or ``.zip`` of a containerlab lab folder, within every bound.

    Raises:
        ArchiveError: ``archive.too_large``, ``archive.unknown_format``,
            ``archive.corrupt``, ``archive.too_many_members``, ``archive.bad_member``
            (a link, a device, an unsafe path, an encrypted member),
            ``archive.member_too_large``, ``archive.unpacked_too_large``,
            ``archive.no_topology`` or ``archive.several_topologies``.
    """
    if len(data) > ARCHIVE_MAX_BYTES:
        raise ArchiveError(
            "archive.too_large", f"the archive is larger than {ARCHIVE_MAX_BYTES} bytes"
        )
    if data.startswith(_GZIP):
        files = _read_tar(data)
    elif data.startswith(_ZIP):
        files = _read_zip(data)
    else:
        raise ArchiveError("archive.unknown_format", "the archive is neither a .tar.gz nor a .zip")
    ymls = sorted(p for p in files if p.lower().endswith(CLAB_SUFFIXES))
    if not ymls:
        raise ArchiveError("archive.no_topology", "the archive holds no *.clab.yml file")
    if len(ymls) > 1:
        raise ArchiveError(
            "archive.several_topologies",
            f"the archive holds {len(ymls)} *.clab.yml files ({', '.join(ymls[:3])}): send one lab",
        )
    try:
        text = files[ymls[0]].decode()
    except UnicodeDecodeError:
        raise ArchiveError("archive.bad_member", f"{ymls[0]} is not UTF-8 text") from None
    return LabFolder(clab_path=ymls[0], clab_text=text, files=files)


def member_path(name: str) -> str:
    """A member's name as a safe relative path (``./a//b`` is ``a/b``). Pure.

    Raises:
        ArchiveError: ``archive.bad_member``: absolute, with ``..``, a backslash, a NUL
            or a drive letter, or empty.
    """
    bad = (
        not name
        or name.startswith("/")
        or "\\" in name
        or "\0" in name
        or (len(name) > 1 and name[1] == ":")
    )
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if bad or ".." in parts or not parts:
        raise ArchiveError("archive.bad_member", f"unsafe member path {name[:200]!r}")
    return "/".join(parts)


def _too_many() -> ArchiveError:
    return ArchiveError(
        "archive.too_many_members", f"the archive has more than {MEMBERS_MAX} members"
    )


def _too_large(path: str) -> ArchiveError:
    return ArchiveError(
        "archive.member_too_large", f"{path} is larger than {MEMBER_MAX_BYTES} bytes"
    )


def _unpacked_too_large() -> ArchiveError:
    return ArchiveError(
        "archive.unpacked_too_large", f"the archive unpacks to more than {UNPACKED_MAX_BYTES} bytes"
    )


def _not_regular(path: str) -> ArchiveError:
    return ArchiveError(
        "archive.bad_member", f"{path} is not a regular file (links and devices are refused)"
    )


class _Budget:
    """Counts members and unpacked bytes against the bounds."""

    def __init__(self) -> None:
        self.members = 0
        self.unpacked = 0

    def member(self) -> None:
        self.members += 1
        if self.members > MEMBERS_MAX:
            raise _too_many()

    def read(self, name: str, stream: IO[bytes]) -> bytes:
        data = stream.read(MEMBER_MAX_BYTES + 1)
        if len(data) > MEMBER_MAX_BYTES:
            raise _too_large(name)
        self.unpacked += len(data)
        if self.unpacked > UNPACKED_MAX_BYTES:
            raise _unpacked_too_large()
        return data


class _Bounded(io.RawIOBase):
    """A stream that refuses to give more than ``limit`` bytes (the decompressed tar)."""

    def __init__(self, inner: IO[bytes] | gzip.GzipFile, limit: int) -> None:
        self.inner, self.left = inner, limit

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        chunk = self.inner.read(min(len(buffer), self.left + 1))
        if len(chunk) > self.left:
            raise _unpacked_too_large()
        self.left -= len(chunk)
        buffer[: len(chunk)] = chunk
        return len(chunk)


# Tar headers and padding count too: a bound a little above the members' own.
_TAR_OVERHEAD = (MEMBERS_MAX + 2) * 2 * tarfile.BLOCKSIZE


def _read_tar(data: bytes) -> dict[str, bytes]:
    budget, files = _Budget(), {}
    stream = _Bounded(gzip.GzipFile(fileobj=io.BytesIO(data)), UNPACKED_MAX_BYTES + _TAR_OVERHEAD)
    try:
        # "r|": one pass over the stream; nothing is extracted, only read into memory.
        with tarfile.open(fileobj=io.BufferedReader(stream), mode="r|") as tar:
            for member in tar:
                budget.member()
                path = member_path(member.name)
                if member.isdir():
                    continue
                if not member.isfile():
                    raise _not_regular(path)
                if member.size > MEMBER_MAX_BYTES:
                    raise _too_large(path)
                extracted = tar.extractfile(member)
                assert extracted is not None  # a regular file's member always has data
                files[path] = budget.read(path, extracted)
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise ArchiveError("archive.corrupt", f"the .tar.gz cannot be read: {exc}") from None
    return files


def _read_zip(data: bytes) -> dict[str, bytes]:
    budget, files = _Budget(), {}
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
            if len(infos) > MEMBERS_MAX:  # the central directory says so before any read
                raise _too_many()
            for info in infos:
                path = member_path(info.filename)
                mode = info.external_attr >> 16
                if info.is_dir():
                    continue
                # Tools that write no file type (only permission bits) write files.
                if stat.S_IFMT(mode) and not stat.S_ISREG(mode):
                    raise _not_regular(path)
                if info.flag_bits & 0x1:
                    raise ArchiveError("archive.bad_member", f"{path} is encrypted")
                if info.file_size > MEMBER_MAX_BYTES:
                    raise _too_large(path)
                # The header's size is not trusted: the read itself stops at the bound.
                with archive.open(info) as stream:
                    files[path] = budget.read(path, stream)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, zlib.error) as exc:
        raise ArchiveError("archive.corrupt", f"the .zip cannot be read: {exc}") from None
    except NotImplementedError as exc:  # a compression method zipfile lacks
        raise ArchiveError("archive.bad_member", f"the .zip uses {exc}") from None
    return files
