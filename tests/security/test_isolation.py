"""Attacks from a student's console on lab A against lab B and the host, and what must work.

Each attack is refused by the kernel because of the node sandbox: the lab's own user
namespace (root there is an unprivileged host uid with no capability outside the lab),
a PID and a mount namespace per node, the lab's cgroups. Beside them, the student's
legitimate work in their own node succeeds.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.security.conftest import Lab, deploy
from worker import engine, sandbox
from worker.kernel import userns

pytestmark = pytest.mark.kernel
ROOT = Path(__file__).resolve().parents[2]
# Forks until refused (printing when, and the errno); the children sleep, then exit.
FORK_BOMB = (
    "import os, time\n"
    "for i in range(200):\n"
    "    try:\n"
    "        pid = os.fork()\n"
    "    except OSError as e:\n"
    "        print('refused', i, e.errno); break\n"
    "    if pid == 0:\n"
    "        os.close(1); os.close(2); time.sleep(20); os._exit(0)\n"
)


def _children(pid: int) -> list[int]:
    return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


class Sleeper:
    """A long-running process in a node (a student's program), ended by PID."""

    def __init__(self, lab: Lab, node: str) -> None:
        self.proc = subprocess.Popen(
            sandbox.command(lab.key, node, ["sleep", "300"]),
            env=sandbox.environment(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not _children(self.proc.pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        (self.host_pid,) = _children(self.proc.pid)
        status = Path(f"/proc/{self.host_pid}/status").read_text()
        self.inner_pid = int(re.search(r"NSpid:\s+\d+\s+(\d+)", status).group(1))  # type: ignore[union-attr]
        self.uid = int(re.search(r"Uid:\s+(\d+)", status).group(1))  # type: ignore[union-attr]

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=10)


# -- files -------------------------------------------------------------------------------


def test_the_checkout_var_and_settings_are_not_visible(lab_a: Lab) -> None:
    var = os.environ.get("TOPOLAB_VAR_DIR") or str(ROOT / "var")
    out = lab_a.run(
        "h1",
        f"ls -A {ROOT} | wc -l; ls -A {var} 2>/dev/null | wc -l; cat {ROOT}/lab/settings.py;"
        f" cat {var}/topolab.sqlite3; ls -A /root /home | wc -l; ls -A /run/netns 2>&1",
    )
    lines = out.stdout.split()
    assert lines[:2] == ["0", "0"], out.stdout  # both empty: the checkout and var/ are hidden
    assert "SECRET_KEY" not in out.stdout and "SQLite" not in out.stdout
    assert "No such file or directory" in out.stderr  # settings and database: not there
    assert Path(ROOT / "lab" / "settings.py").exists()  # (they are, on the host)


def test_hidden_places_stay_hidden_after_an_umount(lab_a: Lab) -> None:
    out = lab_a.run("h1", f"umount -l {ROOT}; umount -l /tmp; ls -A {ROOT} | wc -l")
    assert out.stdout.split()[-1] == "0", out


def test_the_system_is_read_only_and_tmp_is_the_nodes_own(lab_a: Lab) -> None:
    marker = Path(tempfile.gettempdir()) / f"topolab-host-{os.getpid()}"
    marker.write_text("host")
    try:
        out = lab_a.run(
            "h1",
            "touch /usr/x /etc/x 2>&1; mount -o remount,rw /usr 2>&1;"
            f" test -e {marker} && echo host-tmp-seen; echo mine > /tmp/n1 && cat /tmp/n1",
        )
        assert out.stdout.count("Read-only file system") == 2, out.stdout
        assert "host-tmp-seen" not in out.stdout
        assert out.stdout.strip().endswith("mine")
        # Another node of the same lab has a /tmp of its own.
        assert lab_a.run("h2", "cat /tmp/n1").returncode != 0
        assert not Path("/tmp/n1").exists()
    finally:
        marker.unlink()


def test_tmp_is_size_capped(lab_a: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    out = lab_a.run("h1", "df -k /tmp | tail -1")
    size_kib = int(out.stdout.split()[1])
    assert 0 < size_kib <= 64 * 1024, out.stdout


# -- processes ---------------------------------------------------------------------------


def test_a_node_sees_only_its_own_processes(lab_a: Lab, lab_b: Lab) -> None:
    other = Sleeper(lab_b, "h1")
    same_lab = Sleeper(lab_a, "h2")
    try:
        out = lab_a.argv("h1", ["ps", "-eo", "pid,comm"])
        names = [line.split()[-1] for line in out.stdout.splitlines()[1:]]
        assert names[0] == "catatonit" and "sleep" not in names, out.stdout
        assert not any("python" in n or "pytest" in n for n in names)
        # Neither the host's PIDs nor those of another lab's (or node's) processes exist here.
        probe = lab_a.run(
            "h1",
            f"for p in {os.getpid()} {other.host_pid} {same_lab.host_pid}; do"
            f" test -e /proc/$p && echo seen-$p; done;"
            f" cat /proc/{other.inner_pid}/cmdline 2>/dev/null | tr '\\0' ' '",
        )
        assert "seen-" not in probe.stdout and "sleep 300" not in probe.stdout, probe.stdout
    finally:
        other.stop()
        same_lab.stop()


def test_signals_and_ptrace_across_labs_are_refused(lab_a: Lab, lab_b: Lab) -> None:
    victim = Sleeper(lab_b, "h1")
    try:
        script = (
            "import ctypes, os, sys\n"
            "libc = ctypes.CDLL(None, use_errno=True)\n"
            "for pid in map(int, sys.argv[1:]):\n"
            "    rc = libc.ptrace(16, pid, 0, 0)\n"  # PTRACE_ATTACH
            "    print('ptrace', pid, rc, ctypes.get_errno())\n"
            "    try:\n"
            "        os.kill(pid, 9); print('killed', pid)\n"
            "    except OSError as e:\n"
            "        print('kill', pid, e.errno)\n"
        )
        # (Its PID inside B's node names, in A's node, a process of A's own, if any.)
        out = lab_a.argv("h1", ["python3", "-c", script, str(victim.host_pid)])
        assert "killed" not in out.stdout, out.stdout
        assert re.search(rf"ptrace {victim.host_pid} -1 3\b", out.stdout), out.stdout  # ESRCH
        assert victim.proc.poll() is None and Path(f"/proc/{victim.host_pid}").exists()
    finally:
        victim.stop()


def test_two_labs_never_share_a_uid(lab_a: Lab, lab_b: Lab) -> None:
    a, b = Sleeper(lab_a, "h1"), Sleeper(lab_b, "h1")
    try:
        ia, ib = userns.find_identity(lab_a.key), userns.find_identity(lab_b.key)
        assert ia is not None and ib is not None
        assert a.uid == ia.uid and b.uid == ib.uid and a.uid != b.uid
        assert min(a.uid, b.uid) >= userns.pool()[0]  # never a host user, never root
        assert abs(a.uid - b.uid) >= userns.UID_RANGE  # the ranges do not overlap
    finally:
        a.stop()
        b.stop()


def test_root_in_the_node_holds_nothing_in_the_initial_user_namespace(lab_a: Lab) -> None:
    out = lab_a.run("h1", "id -u; cat /proc/self/uid_map; grep NoNewPrivs /proc/self/status")
    lines = out.stdout.splitlines()
    identity = userns.find_identity(lab_a.key)
    assert identity is not None
    assert lines[0] == "0"  # root of the lab's namespace, as a student expects
    assert lines[1].split() == ["0", str(identity.uid), str(userns.UID_RANGE)]
    assert lines[2].split() == ["NoNewPrivs:", "1"]
    assert lab_a.run("h1", "cat /etc/shadow").returncode != 0


def test_the_environment_carries_nothing_of_the_worker(lab_a: Lab) -> None:
    out = lab_a.argv("h1", ["env"])
    assert not re.search(r"^(TOPOLAB|DJANGO|CELERY|REDIS|DATABASE)", out.stdout, re.M)
    assert "PATH=" in out.stdout


# -- network namespaces ------------------------------------------------------------------


def test_devices_cannot_be_put_into_the_host_or_another_lab(lab_a: Lab, lab_b: Lab) -> None:
    tag = f"x{os.getpid() % 100000}"
    # "netns 1" names the node's own init: the device stays in the node.
    out = lab_a.run("h1", f"ip link add {tag}a type veth peer name {tag}b netns 1 && ip -br link")
    assert f"{tag}b" in out.stdout, out
    assert subprocess.run(["ip", "link", "show", f"{tag}b"], capture_output=True).returncode != 0
    # Even holding a handle of lab B's namespace, or of the host's, lab A cannot enter it.
    script = (
        "import ctypes, sys\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "for fd in map(int, sys.argv[1:]):\n"
        "    print(fd, libc.setns(fd, 0x40000000), ctypes.get_errno())\n"
    )
    fds = [
        os.open(f"/run/netns/{lab_b.ns('h1')}", os.O_RDONLY),
        os.open("/proc/self/ns/net", os.O_RDONLY),
    ]
    try:
        out = lab_a.argv("h1", ["python3", "-c", script, *map(str, fds)], pass_fds=fds)
    finally:
        for fd in fds:
            os.close(fd)
    assert out.stdout.split("\n")[:2] == [f"{fds[0]} -1 1", f"{fds[1]} -1 1"], out  # EPERM
    # A name that is B's node does not resolve in A: /run/netns is not there.
    assert lab_a.run("h1", f"ip netns exec {lab_b.ns('h1')} true").returncode != 0


def test_a_macvlan_on_a_host_interface_is_refused(lab_a: Lab) -> None:
    host_links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    names = [m.group(1) for m in re.finditer(r"^\d+: ([^:@]+)", host_links, re.M)]
    parent = next(n for n in names if n != "lo")
    out = lab_a.run("h1", f"ip link add mvx link {parent} type macvlan mode bridge")
    assert out.returncode != 0 and "Cannot find device" in out.stderr, out


# -- limits ------------------------------------------------------------------------------


def test_pids_are_capped_per_lab(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOPOLAB_LAB_PIDS_MAX", "40")
    lab = deploy("sp")
    try:
        out = lab.argv("h1", ["python3", "-c", FORK_BOMB], timeout=60)
        refused = re.search(r"refused (\d+) 11", out.stdout)  # EAGAIN
        assert refused is not None and int(refused.group(1)) < 40, out
        # The cap is the lab's: the forks counted against it, and the host is untouched.
        assert len(sandbox.cgroup_pids(lab.key)) <= 40
    finally:
        engine.destroy(lab.key)
    assert sandbox.cgroup_pids(lab.key) == []


def test_rlimits_cap_a_lab_on_a_host_without_cgroups(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox, "CGROUP_ROOT", Path("/nonexistent-cgroup-root"))
    monkeypatch.setenv("TOPOLAB_LAB_PIDS_MAX", "30")
    monkeypatch.setenv("TOPOLAB_LAB_MEMORY_MAX", str(512 * 1024**2))
    lab = deploy("sr")
    try:
        assert sandbox.cgroup_dirs(lab.key) == []
        limits = (
            "import resource\n"
            "print('limits', resource.getrlimit(resource.RLIMIT_NPROC)[0],"
            " resource.getrlimit(resource.RLIMIT_AS)[0])\n"
        )
        out = lab.argv("h1", ["python3", "-c", limits + FORK_BOMB], timeout=60)
        assert f"limits 30 {512 * 1024**2}" in out.stdout, out
        refused = re.search(r"refused (\d+) 11", out.stdout)
        assert refused is not None and int(refused.group(1)) < 30, out
    finally:
        engine.destroy(lab.key)


def test_memory_is_capped_per_lab(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOPOLAB_LAB_MEMORY_MAX", str(96 * 1024**2))
    lab = deploy("sm")
    try:
        small = lab.argv("h1", ["python3", "-c", "b = bytearray(16 * 2**20); print('ok')"])
        assert small.stdout.strip() == "ok", small
        big = lab.argv("h1", ["python3", "-c", "b = bytearray(400 * 2**20); print('ok')"])
        assert big.returncode != 0 and "ok" not in big.stdout, big
    finally:
        engine.destroy(lab.key)


# -- what a student does, which must work --------------------------------------------------


def test_the_student_configures_their_own_node(lab_a: Lab) -> None:
    out = lab_a.run(
        "h1",
        "set -e; ip addr add 10.9.0.11/24 dev eth0; ip route add 10.99.0.0/24 via 10.9.0.2;"
        " ip link set eth0 mtu 1400; ip link add br9 type bridge; ip link set br9 up;"
        " tc qdisc add dev eth0 root tbf rate 10mbit burst 32kbit latency 400ms;"
        " sysctl -qw net.ipv4.ip_forward=1; cat /proc/sys/net/ipv4/ip_forward;"
        " ip -br addr show eth0; ip route show 10.99.0.0/24; tc qdisc show dev eth0",
    )
    assert out.returncode == 0, out
    assert "10.9.0.11/24" in out.stdout and "10.99.0.0/24 via 10.9.0.2" in out.stdout
    assert "tbf" in out.stdout and out.stdout.splitlines()[0] == "1"
    state = engine.discover(lab_a.key).node("h1")
    assert state is not None and state.link("eth0").mtu == 1400  # really in the kernel


def test_ping_by_node_name_and_tcpdump_work(lab_a: Lab) -> None:
    out = lab_a.run(
        "h1",
        "hostname; getent hosts h2; (tcpdump -c 1 -n -i eth0 icmp 2>/dev/null &);"
        " sleep 1; ping -c 2 -W 2 h2",
        timeout=60,
    )
    assert out.returncode == 0, out
    assert out.stdout.startswith("h1\n") and "10.9.0.2" in out.stdout
    assert "ICMP echo request" in out.stdout and "2 received" in out.stdout


def test_a_tun_program_attaches_with_dev_net_tun_0600(lab_a: Lab, tun_0600: None) -> None:
    assert os.stat("/dev/net/tun").st_mode & 0o777 == 0o600
    script = (
        "import fcntl, os, struct, subprocess\n"
        "fd = os.open('/dev/net/tun', os.O_RDWR)\n"
        "fcntl.ioctl(fd, 0x400454CA, struct.pack('16sH', b'tun7', 0x0001 | 0x1000))\n"
        "print(subprocess.run(['ip', '-br', 'link', 'show', 'tun7'],"
        " capture_output=True, text=True).stdout)\n"
    )
    out = lab_a.argv("h1", ["python3", "-c", script])
    assert out.returncode == 0 and out.stdout.startswith("tun7"), out


def test_topolab_exec_runs_in_the_console_sandbox(lab_a: Lab, lab_b: Lab) -> None:
    manage = [sys.executable, str(ROOT / "manage.py"), "topolab", "exec"]
    out = subprocess.run(
        [*manage, lab_a.key, "h1", "--", "sh", "-c", f"cat /proc/1/comm; ls -A {ROOT}; exit 3"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 3, out
    assert out.stdout.split() == ["catatonit"], out.stdout  # its own node, nothing of ours
    # A node of another lab is not reached by naming it under this lab.
    wrong = subprocess.run(
        [*manage, lab_a.key, "nope", "--", "true"], capture_output=True, text=True, check=False
    )
    assert wrong.returncode != 0 and "exec.no_node" in wrong.stderr


def test_destroy_leaves_no_process_mount_cgroup_or_uid(lab_b: Lab) -> None:
    lab = deploy("sd")
    sleeper = Sleeper(lab, "h1")
    identity = userns.find_identity(lab.key)
    assert identity is not None
    engine.destroy(lab.key)
    sleeper.proc.wait(timeout=10)
    assert not Path(f"/proc/{sleeper.host_pid}").exists()
    assert all(not d.exists() for d in sandbox.cgroup_dirs(lab.key))
    assert not (sandbox.NODES_DIR / lab.key).exists()
    assert userns.find_identity(lab.key) is None
    assert not Path(identity.userns).exists()
    assert identity.userns not in Path("/proc/self/mountinfo").read_text()
    owned = [p for p in Path("/proc").iterdir() if p.name.isdigit() and _uid(p) == identity.uid]
    assert owned == []
    # The other lab is untouched.
    assert lab_b.run("h1", "ping -c 1 -W 2 h2").returncode == 0


def _uid(proc: Path) -> int | None:
    try:
        return int(re.search(r"Uid:\s+(\d+)", (proc / "status").read_text()).group(1))  # type: ignore[union-attr]
    except (OSError, AttributeError):
        return None


def test_a_lab_deployed_before_user_namespaces_still_works_and_goes() -> None:
    # Namespaces made the old way (owned by the initial user namespace), tagged as the lab's.
    from lab.topology import naming
    from worker.kernel import default_kernel

    k, key = default_kernel(), f"so{os.getpid() % 100000}"
    names = [naming.namespace_name(key, n) for n in ("h1", "h2")]
    try:
        for node, name in zip(("h1", "h2"), names, strict=True):
            k.ns_create(name, naming.owner_alias(key, node))  # no lab: the old owner
        k.release()
        assert {ns.node for ns in engine.discover(key).namespaces} == {"h1", "h2"}
        # A console still starts there, sandboxed; it may not reconfigure a namespace
        # its lab does not own (it never could touch the host's).
        out = Lab(key).run("h1", "cat /proc/1/comm; ip link add v1 type veth peer name v2")
        assert out.stdout.split() == ["catatonit"] and out.returncode != 0, out
    finally:
        result = engine.destroy(key)
    assert sorted(result.namespaces) == sorted(names)
    assert userns.find_identity(key) is None and not (sandbox.NODES_DIR / key).exists()


def test_the_orphan_sweep_returns_what_a_crash_left(lab_a: Lab) -> None:
    from worker import cleanup

    key = f"sw{os.getpid() % 100000}"
    identity = userns.ensure_identity(key)  # a lab that died before any namespace
    sandbox.write_hosts(key, {"h1": ["10.0.0.1"]})
    live = set(cleanup.labs_present()) | {i.lab for i in userns.identities()} - {key}
    live |= set(sandbox.labs_with_state()) - {key}
    engine.cleanup_orphans(live)
    assert userns.find_identity(key) is None and not Path(identity.userns).exists()
    assert not (sandbox.NODES_DIR / key).exists()
    assert lab_a.run("h1", "true").returncode == 0  # a live lab is left alone


def test_a_macvtap_program_opens_only_its_own_device() -> None:
    import copy

    from lab.demos import get_demo
    from lab.topology.load import load_topology
    from worker import programs

    document = copy.deepcopy(get_demo("macvtap").topology)
    key = f"sv{os.getpid() % 100000}"
    document["name"] = key
    link = next(x for x in document["links"] if x.get("kind") == "macvtap")
    # A topology naming a root-only path for the reader to open.
    link["program"]["args"] = ["--device", "/etc/shadow", *link["program"]["args"]]
    try:
        with pytest.raises(programs.ProgramError) as err:
            engine.deploy(load_topology(document), key)
        assert "Permission denied" in str(err.value) or "shadow" in str(err.value), err.value
        # Its own interface's device, as the engine hands it over, works.
        link["program"]["args"] = link["program"]["args"][2:]
        engine.deploy(load_topology(document), key)
        (reader,) = programs.running_programs(key)
        assert reader.argv[-2:] == ("--device", sandbox.MACVTAP_DEVICE)
    finally:
        engine.destroy(key)


def test_attacks_from_a_real_console(lab_a: Lab, lab_b: Lab) -> None:
    from worker.telemetry.console import Console, ConsoleSpec

    console = Console(ConsoleSpec(lab=lab_a.key, node="h1"))
    try:
        line = (
            f"ls -A {ROOT} 2>/dev/null | wc -l; ps -e | wc -l; ip netns exec {lab_b.ns('h1')} true;"
            ' echo rc=$?; ping -c 1 -W 2 h2 >/dev/null; echo ping=$?; echo END-"$((1+1))"\n'
        )
        console.write(line.encode())
        out = b""
        deadline = time.monotonic() + 20
        while b"END-2" not in out and time.monotonic() < deadline:
            out += console.read_until(b"END-2", timeout=1)
    finally:
        console.close()
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out.decode(errors="replace").replace("\r", ""))
    tail = text[text.rindex("echo END") :] if "echo END" in text else text
    lines = [ln for ln in tail.splitlines()[1:] if ln.strip()]
    assert lines[0] == "0", text  # the checkout is not there
    assert int(lines[1]) <= 5, text  # catatonit, bash, ps, wc (and the header)
    assert "rc=1" in text or "rc=255" in text, text  # lab B's namespace is unreachable
    assert "ping=0" in text, text  # while its own neighbour answers by name
