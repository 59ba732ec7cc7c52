"""Node files, exec lines and services in the document; containerlab binds and FRR images."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.management.commands.topolab import bind_reader
from lab.topology import TopologyError, load_topology
from lab.topology.clab import import_clab, is_frr_image
from lab.topology.schema import NODE_FILE_MAX_BYTES, NODE_FILES_TOTAL_MAX_BYTES
from lab.topology.validate import node_file_problem, parse_frr_daemons

FRR01 = Path(__file__).resolve().parents[2] / "fixtures" / "clab" / "frr01"


def _doc(**node: object) -> dict[str, object]:
    return {"name": "t", "nodes": [{"name": "r1", **node}]}


def _codes(doc: dict[str, object]) -> set[tuple[str, str]]:
    with pytest.raises(TopologyError) as caught:
        load_topology(doc)
    return {(i.path, i.code) for i in caught.value.issues}


def test_files_exec_and_services_load_in_their_short_forms() -> None:
    t = load_topology(
        _doc(
            files={"/etc/frr/frr.conf": "!\n"},
            exec=["ip route add 10.9.0.0/16 dev lo", ["sh", "-c", "echo 'a b'"]],
            services=["frr", {"kind": "iperf3", "port": 5001}],
        )
    )
    node = t.nodes[0]
    assert node.file("/etc/frr/frr.conf") is not None and node.file("/x") is None
    # A command string is split as a shell splits it, and stays an argv list.
    assert node.exec == (
        ("ip", "route", "add", "10.9.0.0/16", "dev", "lo"),
        ("sh", "-c", "echo 'a b'"),
    )
    assert [s.kind for s in node.services] == ["frr", "iperf3"]
    assert node.service("iperf3").port == 5001  # type: ignore[union-attr]


def test_a_file_over_the_bound_is_refused_and_one_at_the_bound_loads() -> None:
    at_bound = "x" * NODE_FILE_MAX_BYTES
    assert load_topology(_doc(files={"/tmp/a": at_bound})).nodes[0].files[0].content == at_bound
    # Characters within the bound, bytes over it (UTF-8): the validator counts bytes.
    wide = "\u20ac" * (NODE_FILE_MAX_BYTES // 2)
    assert _codes(_doc(files={"/tmp/a": wide})) == {("nodes[0].files[0].content", "file.too_large")}
    # Too many characters: the schema refuses before anything is built.
    assert _codes(_doc(files={"/tmp/a": at_bound + "x"})) == {
        ("nodes[0].files[0].content", "schema.string_too_long")
    }
    count = NODE_FILES_TOTAL_MAX_BYTES // NODE_FILE_MAX_BYTES + 1
    many = {f"/tmp/f{i}": at_bound for i in range(count)}
    assert _codes(_doc(files=many)) == {("nodes[0].files", "file.too_large")}


@pytest.mark.parametrize(
    "path",
    [
        "/etc/frr/frr.conf",
        "/etc/dnsmasq.d/lan.conf",
        "/tmp/x",
        "/var/tmp/a/b",
        "/dev/shm/x",
        "/run/frr/extra",
        "/root/www/index.html",
    ],
)
def test_node_file_places_a_node_may_have(path: str) -> None:
    assert node_file_problem(path) is None


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/etc/passwd", "file.not_allowed"),  # /etc itself would become the node's
        ("/etc/hosts", "file.not_allowed"),  # the sandbox's own
        ("/usr/bin/ip", "file.not_allowed"),
        ("/proc/sys/net/ipv4/ip_forward", "file.not_allowed"),
        ("/tmp", "file.not_allowed"),
        ("/run/topolab-apps/worker/apps/tunnel.py", "file.not_allowed"),
        ("/tmp/../etc/shadow", "file.bad_path"),
        ("/tmp//x", "file.bad_path"),
        ("/tmp/x/", "file.bad_path"),
        ("tmp/x", "file.bad_path"),
        ("/tmp/a:b", "file.bad_path"),  # the sandbox's HOST:NODE separator
        ("/tmp/a\nb", "file.bad_path"),
    ],
)
def test_node_file_places_a_node_may_not_have(path: str, code: str) -> None:
    problem = node_file_problem(path)
    assert problem is not None and problem[0] == code


def test_the_frr_daemons_file_is_read_as_frr_reads_it() -> None:
    text = (FRR01 / "router1" / "daemons").read_text()
    enabled = parse_frr_daemons(text)
    assert enabled["ospfd"] is True and enabled["bgpd"] is False
    assert "zebra_options" not in enabled and "vtysh_enable" not in enabled
    assert parse_frr_daemons('bgpd="yes"  # on\n') == {"bgpd": True}
    with pytest.raises(ValueError, match="line 2: bgpd must be yes or no"):
        parse_frr_daemons("ospfd=yes\nbgpd=on\n")


@pytest.mark.parametrize(
    ("image", "frr"),
    [
        ("quay.io/frrouting/frr:8.4.1", True),
        ("frrouting/frr:v7.5.1", True),
        ("frrouting/frr", True),
        ("docker.io/frrouting/frr@sha256:abcd", True),
        ("frrouting/frr-debian:latest", False),
        ("example.com/frrouting/frr:8", False),
        ("alpine:latest", False),
        (42, False),
    ],
)
def test_frr_images(image: object, frr: bool) -> None:
    assert is_frr_image(image) is frr


def test_frr01_binds_become_node_files_and_its_image_the_frr_service() -> None:
    text = (FRR01 / "frr01.clab.yml").read_text()
    topology, warnings = import_clab(text, read_bind=bind_reader(FRR01))
    router1 = topology.node("router1")
    assert router1 is not None and router1.kind == "router"
    assert [s.kind for s in router1.services] == ["frr"]
    conf = router1.file("/etc/frr/frr.conf")
    assert conf is not None and conf.content == (FRR01 / "router1" / "frr.conf").read_text()
    assert router1.file("/etc/frr/daemons") is not None
    # Only the PCs' images (not FRR) are left as warnings.
    assert {w.path for w in warnings} == {f"topology.nodes.PC{i}.image" for i in (1, 2, 3)}
    # Without a reader (the API's text import) the binds stay warnings, as before.
    plain, plain_warnings = import_clab(text)
    assert plain.node("router1").files == ()  # type: ignore[union-attr]
    assert "topology.nodes.router1.binds[0]" in {w.path for w in plain_warnings}


def test_a_bind_to_a_place_no_node_file_may_live_is_said_so() -> None:
    text = """
name: b
topology:
  nodes:
    n1:
      kind: linux
      binds: ["conf:/usr/lib/x.conf"]
"""
    _, warnings = import_clab(text, read_bind=lambda _p: "x")
    (warning,) = warnings
    assert warning.code == "clab.bind_not_a_node_file"
    assert warning.path == "topology.nodes.n1.binds[0]"


def test_the_bind_reader_reads_only_files_inside_the_folder(tmp_path: Path) -> None:
    folder = tmp_path / "lab"
    (folder / "r1").mkdir(parents=True)
    (folder / "r1" / "frr.conf").write_text("hostname r1\n")
    secret = tmp_path / "secret"
    secret.write_text("not for a node\n")
    (folder / "escape").symlink_to(secret)
    (folder / "big").write_text("x" * (NODE_FILE_MAX_BYTES + 1))
    read = bind_reader(folder)
    assert read("r1/frr.conf") == "hostname r1\n"
    assert read("./r1/../r1/frr.conf") == "hostname r1\n"
    # Attacks: out of the folder by .., by an absolute path, by a symlink; a directory;
    # a file over the node-file bound.
    assert read("../secret") is None
    assert read(str(secret)) is None
    assert read("/etc/shadow") is None
    assert read("escape") is None
    assert read("r1") is None
    assert read("big") is None
