"""Node files: a node's own copy of a path, read-only in the node, updated in place."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.security.conftest import Lab
from worker import sandbox

pytestmark = pytest.mark.kernel


def test_node_files_appear_update_in_place_and_stay_the_nodes(lab_a: Lab) -> None:
    files = {"/etc/ssh/topolab.conf": "v1\n", "/root/notes.txt": "hi\n"}
    assert sandbox.write_node_files(lab_a.key, "h1", files) is True  # new paths
    sandbox.restart_node(lab_a.key, "h1")
    out = lab_a.run("h1", "cat /etc/ssh/topolab.conf /root/notes.txt; ls /etc/ssh | wc -l")
    assert out.stdout.splitlines()[:2] == ["v1", "hi"], out
    assert int(out.stdout.splitlines()[2]) >= 2  # the system's own files there are kept
    assert not Path("/etc/ssh/topolab.conf").exists()  # nothing on the host
    assert lab_a.run("h2", "cat /etc/ssh/topolab.conf").returncode != 0  # nor in h2
    # An edit from the engine reaches the running node; the node itself cannot write the
    # file (it lives on the host: writing it could fill the host's disk).
    same_paths = {**files, "/etc/ssh/topolab.conf": "v2\n"}
    assert sandbox.write_node_files(lab_a.key, "h1", same_paths) is False  # no restart needed
    assert lab_a.argv("h1", ["cat", "/etc/ssh/topolab.conf"]).stdout == "v2\n"
    refused = lab_a.run("h1", "echo mine >> /etc/ssh/topolab.conf")
    assert refused.returncode != 0 and "Read-only file system" in refused.stderr
    assert lab_a.run("h1", "mount -o remount,rw /etc/ssh/topolab.conf").returncode != 0
    assert sandbox.read_node_file(lab_a.key, "h1", "/etc/ssh/topolab.conf") == "v2\n"


@pytest.mark.parametrize("path", ["etc/x", "/etc/../root/x", "/tmp/a:b"])
def test_node_file_paths_are_checked(lab_a: Lab, path: str) -> None:
    with pytest.raises(sandbox.SandboxError) as err:
        sandbox.write_node_files(lab_a.key, "h1", {path: "x"})
    assert err.value.code == "sandbox.bad_file"


def test_a_node_file_never_replaces_a_system_directory(lab_a: Lab) -> None:
    # /etc/topolab-nope does not exist: its nearest directory is /etc, which stays the system's.
    sandbox.write_node_files(lab_a.key, "h2", {"/etc/topolab-nope/x.conf": "x"})
    with pytest.raises(sandbox.SandboxError) as err:
        lab_a.run("h2", "true")
    assert "cannot live at /etc/topolab-nope/x.conf" in err.value.message
    assert os.path.isdir("/etc") and not os.path.exists("/etc/topolab-nope")
