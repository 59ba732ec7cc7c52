"""A containerlab lab folder as an archive: the legitimate folder imports as the CLI reads
it, and every way an archive can reach outside itself or exhaust memory is refused."""

from __future__ import annotations

import io
import struct
import tarfile
import zipfile
from pathlib import Path

import pytest

from lab.topology import archive
from lab.topology.archive import ArchiveError, member_path, read_archive
from lab.topology.io import import_text

FRR01 = Path(__file__).resolve().parents[2] / "fixtures" / "clab" / "frr01"


def tar_gz(members: dict[str, bytes], extra: list[tarfile.TarInfo] = ()) -> bytes:  # type: ignore[assignment]
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for info in extra:
            tar.addfile(info)
    return out.getvalue()


def zip_of(members: dict[str, bytes], modes: dict[str, int] | None = None) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            info = zipfile.ZipInfo(name)
            info.compress_type = zipfile.ZIP_DEFLATED
            if modes and name in modes:
                info.external_attr = modes[name] << 16
            z.writestr(info, data)
    return out.getvalue()


def frr01_members(prefix: str = "frr01/") -> dict[str, bytes]:
    return {
        prefix + str(p.relative_to(FRR01)): p.read_bytes()
        for p in sorted(FRR01.rglob("*"))
        if p.is_file() and not p.name.endswith(".json")
    }


def code_of(data: bytes) -> str:
    with pytest.raises(ArchiveError) as refused:
        read_archive(data)
    assert refused.value.issues[0].path == "archive"
    return refused.value.code


@pytest.mark.parametrize("pack", [tar_gz, zip_of], ids=["tar.gz", "zip"])
def test_the_frr01_folder_imports_with_its_binds_as_node_files(pack) -> None:  # type: ignore[no-untyped-def]
    folder = read_archive(pack(frr01_members()))
    assert folder.clab_path == "frr01/frr01.clab.yml"
    topology, warnings = import_text(folder.clab_text, "clab", read_bind=folder.read_bind())
    router1 = topology.node("router1")
    assert router1 is not None and router1.service("frr") is not None
    conf = router1.file("/etc/frr/frr.conf")
    assert conf is not None
    assert conf.content == (FRR01 / "router1" / "frr.conf").read_text()
    assert not [w for w in warnings if "bind" in w.message]  # every bind was found


def test_a_bind_outside_the_folder_reads_as_absent() -> None:
    folder = read_archive(
        tar_gz({"lab/x.clab.yml": b"name: x\n", "lab/ok.conf": b"ok", "secret": b"no"})
    )
    read = folder.read_bind()
    assert read("ok.conf") == "ok" and read("./ok.conf") == "ok"
    # Attack: up out of the lab folder to a member beside it, or to a host path.
    assert read("../secret") is None
    assert read("/etc/passwd") is None
    assert read("sub/../../secret") is None
    assert read("missing.conf") is None


def test_a_bind_larger_than_a_node_file_or_not_text_reads_as_absent() -> None:
    big = b"x" * (archive.NODE_FILE_MAX_BYTES + 1)
    folder = read_archive(zip_of({"x.clab.yml": b"name: x\n", "big": big, "bin": b"\xff\xfe"}))
    assert folder.read_bind()("big") is None and folder.read_bind()("bin") is None


@pytest.mark.parametrize(
    "name", ["../evil.clab.yml", "/etc/cron.d/x", "a/../../b", "a\\..\\b", "C:/x"]
)
@pytest.mark.parametrize("pack", [tar_gz, zip_of], ids=["tar.gz", "zip"])
def test_attack_unsafe_member_paths_are_refused(pack, name: str) -> None:  # type: ignore[no-untyped-def]
    assert code_of(pack({"lab.clab.yml": b"name: x\n", name: b"x"})) == "archive.bad_member"


def test_member_paths_are_normalized_or_refused() -> None:
    assert member_path("./lab//r1/frr.conf") == "lab/r1/frr.conf"
    for bad in ("", "/", ".", "..", "a/..", "/abs", "x\\y", "a\0b"):
        with pytest.raises(ArchiveError):
            member_path(bad)


@pytest.mark.parametrize(
    "kind", [tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.CHRTYPE, tarfile.FIFOTYPE]
)
def test_attack_links_and_devices_in_a_tar_are_refused(kind: bytes) -> None:
    link = tarfile.TarInfo("lab/r1/frr.conf")
    link.type = kind
    link.linkname = "/etc/shadow"
    data = tar_gz({"lab/x.clab.yml": b"name: x\n"}, [link])
    assert code_of(data) == "archive.bad_member"


def test_attack_a_symlink_in_a_zip_is_refused() -> None:
    data = zip_of(
        {"x.clab.yml": b"name: x\n", "frr.conf": b"/etc/shadow"}, modes={"frr.conf": 0o120777}
    )
    assert code_of(data) == "archive.bad_member"
    # A regular file's mode (as zip tools write it) is taken.
    assert read_archive(zip_of({"x.clab.yml": b"n", "f": b"1"}, modes={"f": 0o100644})).files


@pytest.mark.parametrize("pack", [tar_gz, zip_of], ids=["tar.gz", "zip"])
def test_attack_a_bomb_stops_at_the_bounds(pack) -> None:  # type: ignore[no-untyped-def]
    # 50 MB of zeros packs into a few dozen KB: refused by its size, never unpacked whole.
    bomb = pack({"x.clab.yml": b"name: x\n", "zeros": bytes(50_000_000)})
    assert len(bomb) < archive.ARCHIVE_MAX_BYTES
    assert code_of(bomb) == "archive.member_too_large"
    # Many members, each within the bound, that together unpack past the total.
    many = {f"f{i}": bytes(archive.MEMBER_MAX_BYTES) for i in range(5)}
    assert code_of(pack({"x.clab.yml": b"name: x\n", **many})) == "archive.unpacked_too_large"


def test_attack_a_zip_whose_header_understates_a_member_is_refused() -> None:
    data = bytearray(zip_of({"x.clab.yml": b"name: x\n", "zeros": bytes(3_000_000)}))
    # Claim 100 bytes for the 3 MB member in its local header and the central directory.
    local = data.index(b"PK\x03\x04", data.index(b"x.clab.yml") + 10)
    struct.pack_into("<I", data, local + 22, 100)
    central = [i for i in range(len(data)) if data.startswith(b"PK\x01\x02", i)][1]
    struct.pack_into("<I", data, central + 24, 100)
    assert code_of(bytes(data)) == "archive.corrupt"  # it reads 100 bytes, whose CRC fails


@pytest.mark.parametrize("pack", [tar_gz, zip_of], ids=["tar.gz", "zip"])
def test_attack_too_many_members_is_refused(pack) -> None:  # type: ignore[no-untyped-def]
    members = {f"f{i}": b"" for i in range(archive.MEMBERS_MAX + 1)}
    assert code_of(pack({"x.clab.yml": b"name: x\n", **members})) == "archive.too_many_members"


def test_what_is_not_one_lab_folder_is_refused() -> None:
    assert code_of(b"x" * (archive.ARCHIVE_MAX_BYTES + 1)) == "archive.too_large"
    assert code_of(b"name: x\n") == "archive.unknown_format"
    assert code_of(b"\x1f\x8b" + b"junk" * 10) == "archive.corrupt"
    assert code_of(b"PK\x03\x04" + b"junk" * 10) == "archive.corrupt"
    assert code_of(tar_gz({"r1/frr.conf": b"x"})) == "archive.no_topology"
    two = tar_gz({"a.clab.yml": b"name: a\n", "b/b.clab.yaml": b"name: b\n"})
    assert code_of(two) == "archive.several_topologies"
    assert code_of(zip_of({"x.clab.yml": b"\xff\xfe"})) == "archive.bad_member"
