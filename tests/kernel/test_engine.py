"""The realization engine on real namespaces: connectivity, edits, failure, cleanup."""

from __future__ import annotations

import os
import random
import select
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from lab.topology import naming
from lab.topology.schema import Topology
from tests.kernel.conftest import netns, ping, ping_once, topo
from worker import engine, executor
from worker.kernel import KernelError
from worker.kernel.linux import LinuxKernel
from worker.ops import UnsupportedKindError

pytestmark = pytest.mark.kernel
ROOT = Path(__file__).resolve().parents[2]


def host(name: str, *ifaces: tuple[str, str], **extra: object) -> dict:
    return {
        "name": name,
        "interfaces": [{"name": n, "addresses": [a] if a else []} for n, a in ifaces],
        **extra,
    }


def test_veth_pair_pings(lab_key) -> None:
    key = lab_key()
    t = topo(
        {
            "name": "pair",
            "nodes": [host("a", ("eth0", "10.0.0.1/30")), host("b", ("eth0", "10.0.0.2/30"))],
            "links": [{"a": "a:eth0", "b": "b:eth0"}],
        }
    )
    result = engine.deploy(t, key)
    assert "make veth" in "\n".join(result.plan.describe())
    assert ping(naming.namespace_name(key, "a"), "10.0.0.2")
    state = engine.discover(key)
    assert {ns.node for ns in state.namespaces} == {"a", "b"}
    eth0 = state.node("a").link("eth0")
    assert eth0.alias == naming.owner_alias(key) and eth0.up and eth0.kind == "veth"
    assert state.node("a").link("lo").alias == naming.owner_alias(key, "a")


def test_three_hosts_on_a_switch(lab_key) -> None:
    key = lab_key()
    t = topo(
        {
            "name": "star",
            "nodes": [
                *(host(f"h{i}", ("eth0", f"10.1.0.{i}/24")) for i in (1, 2, 3)),
                {
                    "name": "s1",
                    "kind": "switch",
                    "interfaces": [{"name": f"p{i}"} for i in (1, 2, 3)],
                },
            ],
            "links": [{"a": f"h{i}:eth0", "b": f"s1:p{i}"} for i in (1, 2, 3)],
        }
    )
    engine.deploy(t, key)
    h1 = naming.namespace_name(key, "h1")
    assert ping(h1, "10.1.0.2") and ping(h1, "10.1.0.3")
    s1 = engine.discover(key).node("s1")
    assert {s1.link(f"p{i}").master for i in (1, 2, 3)} == {"br0"}


def test_chain_of_five_routers_with_auto_addressing(lab_key) -> None:
    key = lab_key()
    names = [f"r{i}" for i in range(1, 6)]
    t = topo(
        {
            "name": "chain",
            "addressing": {"auto": True},
            "nodes": [
                {
                    "name": n,
                    "kind": "router",
                    "interfaces": [{"name": "left"}, {"name": "right"}]
                    if 0 < i < 4
                    else [{"name": "right" if i == 0 else "left"}],
                }
                for i, n in enumerate(names)
            ],
            "links": [{"a": f"{names[i]}:right", "b": f"{names[i + 1]}:left"} for i in range(4)],
        }
    )
    engine.deploy(t, key)
    state = engine.discover(key)
    far = state.node("r5").link("left").addresses[0].split("/")[0]
    assert state.node("r3").sysctl("net.ipv4.ip_forward") == "1"
    assert ping(naming.namespace_name(key, "r1"), far)


def test_vxlan_overlay_between_two_guests(lab_key) -> None:
    key = lab_key()

    def vtep(name: str, underlay: str) -> dict:
        return {
            "name": name,
            "bridges": [{"name": "br0"}],
            "interfaces": [
                {"name": "ul", "addresses": [underlay]},
                {"name": "vx0", "bridge": "br0"},
                {"name": "tog", "bridge": "br0"},
            ],
        }

    t = topo(
        {
            "name": "overlay",
            "nodes": [
                vtep("u1", "192.168.50.1/24"),
                vtep("u2", "192.168.50.2/24"),
                host("g1", ("eth0", "10.200.0.1/24")),
                host("g2", ("eth0", "10.200.0.2/24")),
            ],
            "links": [
                {"a": "u1:ul", "b": "u2:ul"},
                {"a": "u1:tog", "b": "g1:eth0"},
                {"a": "u2:tog", "b": "g2:eth0"},
                {"kind": "vxlan", "endpoint": "u1:vx0", "vni": 100, "local": "192.168.50.1",
                 "remote": "192.168.50.2", "dstport": 4789, "underlay": "ul"},
                {"kind": "vxlan", "endpoint": "u2:vx0", "vni": 100, "local": "192.168.50.2",
                 "remote": "192.168.50.1", "dstport": 4789, "underlay": "ul"},
            ],
        }
    )  # fmt: skip
    engine.deploy(t, key)
    vx = engine.discover(key).node("u1").link("vx0")
    assert (vx.kind, vx.get("vni"), vx.get("port"), vx.master) == ("vxlan", "100", "4789", "br0")
    assert ping(naming.namespace_name(key, "g1"), "10.200.0.2")


def _macvlan_lab(mode: str) -> dict:
    return {
        "name": f"mv-{mode}",
        "nodes": [
            host("p", ("eth0", "")),
            host("x", ("eth0", "")),
            host("a", ("mv0", "10.3.0.1/24")),
            host("b", ("mv0", "10.3.0.2/24")),
        ],
        "links": [
            {"a": "p:eth0", "b": "x:eth0"},
            {"kind": "macvlan", "endpoint": "a:mv0", "parent": "p:eth0", "mode": mode},
            {"kind": "macvlan", "endpoint": "b:mv0", "parent": "p:eth0", "mode": mode},
        ],
    }


def test_macvlan_bridge_mode_pings(lab_key) -> None:
    key = lab_key()
    engine.deploy(topo(_macvlan_lab("bridge")), key)
    mv = engine.discover(key).node("a").link("mv0")
    assert (mv.kind, mv.get("mode")) == ("macvlan", "bridge")
    assert ping(naming.namespace_name(key, "a"), "10.3.0.2")


def test_macvlan_private_mode_is_refused(lab_key) -> None:
    key = lab_key()
    engine.deploy(topo(_macvlan_lab("private")), key)
    assert engine.discover(key).node("b").link("mv0").get("mode") == "private"
    assert not ping_once(naming.namespace_name(key, "a"), "10.3.0.2")


def _edit_base() -> dict:
    return {
        "name": "edit",
        "nodes": [
            host("a", ("eth0", "10.4.0.1/24"), ("eth1", "10.5.0.1/24")),
            host("b", ("eth0", "10.4.0.2/24")),
            host("c", ("eth0", "10.5.0.2/24")),
        ],
        "links": [{"a": "a:eth0", "b": "b:eth0"}, {"a": "a:eth1", "b": "c:eth0"}],
    }


def test_edit_applies_only_the_difference(lab_key) -> None:
    key = lab_key()
    engine.deploy(topo(_edit_base()), key)
    a_ns = naming.namespace_name(key, "a")
    assert ping(a_ns, "10.4.0.2", count=3)
    before = engine.discover(key).node("a").link("eth0")
    assert before.tx_packets >= 3

    edited = _edit_base()
    edited["nodes"] = [
        host("a", ("eth0", "10.4.0.1/24"), ("eth2", "10.6.0.1/24")),
        host("b", ("eth0", "10.4.0.2/24"), ("eth1", "10.7.0.1/24")),
        host("d", ("eth0", "10.6.0.9/24")),  # changed address, new node
    ]
    edited["nodes"][0]["interfaces"][0]["addresses"] = ["10.4.0.1/24"]
    edited["links"] = [{"a": "a:eth0", "b": "b:eth0"}, {"a": "a:eth2", "b": "d:eth0"}]
    edited["nodes"][1]["interfaces"] = [{"name": "eth0", "addresses": ["10.4.0.22/24"]}]
    result = engine.deploy(topo(edited), key)
    lines = result.plan.describe()
    assert any("delete namespace" in line and line.split()[2].endswith("-c") for line in lines)
    assert not any(f"{a_ns}:eth0" in line for line in lines), lines
    assert any("replace address 10.4.0.22/24" in line for line in lines)

    after_state = engine.discover(key)
    after = after_state.node("a").link("eth0")
    assert after.ifindex == before.ifindex
    assert after.tx_packets >= before.tx_packets and after.rx_packets >= before.rx_packets
    assert after_state.node("c") is None
    assert after_state.node("b").link("eth0").addresses == ("10.4.0.22/24",)
    assert ping(a_ns, "10.4.0.22") and ping(a_ns, "10.6.0.9")
    # Deploying the same topology again changes nothing.
    assert engine.plan_for(topo(edited), key).ops == ()


class FailingKernel:
    """A real kernel that fails the Nth mutating call with EPERM."""

    def __init__(self, fail_at: int) -> None:
        self.inner = LinuxKernel()
        self.calls = 0
        self.fail_at = fail_at

    def __getattr__(self, name: str):
        attr = getattr(self.inner, name)
        if name.startswith(("ns_list", "ns_read", "ns_pids", "link_alias", "ns_delete")):
            return attr

        def wrapped(*args, **kwargs):
            self.calls += 1
            if self.calls == self.fail_at:
                raise KernelError(1, "injected failure")
            return attr(*args, **kwargs)

        return wrapped


def test_injected_failure_rolls_everything_back(lab_key) -> None:
    key = lab_key()
    t = topo(_edit_base())
    total = len(engine.plan_for(t, key))
    k = FailingKernel(fail_at=total // 2)
    with pytest.raises(engine.OpFailedError) as info:
        engine.deploy(t, key, kernel=k)
    assert info.value.errno == 1 and "injected failure" in info.value.kernel_message
    assert engine.discover(key).empty
    assert not [n for n in netns() if n.startswith(f"tl-{key}-")]
    assert not executor.journal_path(key).exists()
    k.inner.close()


KILLER = textwrap.dedent(
    """
    import os, signal, sys
    from lab.topology.load import load_topology
    import json
    from worker import engine
    kill_at = int(sys.argv[2])
    def progress(done, total, op):
        if done == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
    engine.deploy(load_topology(json.loads(sys.argv[3])), sys.argv[1], progress=progress)
    """
)


@pytest.mark.parametrize("then", ["destroy", "deploy"])
def test_sigkilled_deploy_converges(lab_key, then: str) -> None:
    import json

    key = lab_key()
    data = _edit_base()
    total = len(engine.plan_for(topo(data), key))
    kill_at = random.randint(1, total - 1)
    proc = subprocess.run(
        [sys.executable, "-c", KILLER, key, str(kill_at), json.dumps(data)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        check=False,
    )
    assert proc.returncode == -9, proc.stderr
    assert executor.journal_path(key).exists()
    if then == "destroy":
        engine.destroy(key)
        assert engine.discover(key).empty
        assert not [n for n in netns() if n.startswith(f"tl-{key}-")]
    else:
        result = engine.deploy(topo(data), key)
        assert len(result.plan) == total  # the crashed half was rolled back first
        assert ping(naming.namespace_name(key, "a"), "10.5.0.2")
    assert not executor.journal_path(key).exists()


def test_two_labs_with_the_same_node_names(lab_key) -> None:
    k1, k2 = lab_key(), lab_key()
    engine.deploy(topo(_edit_base()), k1)
    engine.deploy(topo(_edit_base()), k2)
    assert ping(naming.namespace_name(k1, "a"), "10.4.0.2")
    assert ping(naming.namespace_name(k2, "a"), "10.4.0.2")
    engine.destroy(k1)
    assert engine.discover(k1).empty
    assert len(engine.discover(k2).namespaces) == 3
    assert ping(naming.namespace_name(k2, "a"), "10.5.0.2")


def test_destroy_ends_processes_in_the_lab(lab_key) -> None:
    key = lab_key()
    engine.deploy(topo(_edit_base()), key)
    proc = subprocess.Popen(["ip", "netns", "exec", naming.namespace_name(key, "b"), "sleep", "60"])
    try:
        time.sleep(0.2)
        result = engine.destroy(key)
        assert proc.pid in result.pids
        assert proc.wait(timeout=5) != 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_cleanup_orphans_keeps_live_and_foreign(lab_key) -> None:
    live, orphan = lab_key(), lab_key()
    foreign = f"tl-{lab_key()}-foreign"  # a lab-looking name without our tag
    subprocess.run(["ip", "netns", "add", foreign], check=True)
    try:
        engine.deploy(topo(_edit_base()), live)
        engine.deploy(topo(_edit_base()), orphan)
        removed = engine.cleanup_orphans(
            {live, *[lab for lab in engine.labs_present() if lab not in (live, orphan)]}
        )
        assert removed == [orphan]
        assert engine.discover(orphan).empty
        assert len(engine.discover(live).namespaces) == 3
        assert foreign in netns()
    finally:
        subprocess.run(["ip", "netns", "delete", foreign], check=False)


def test_tap_and_tun_held_by_a_program(lab_key) -> None:
    key = lab_key()
    t = topo(
        {
            "name": "tuntap",
            "nodes": [host("n", ("tun0", "10.8.0.1/24"), ("tap0", "10.9.0.1/24"))],
            "links": [
                {"kind": "tun", "endpoint": "n:tun0"},
                {"kind": "tap", "endpoint": "n:tap0"},
            ],
        }
    )
    engine.deploy(t, key)
    state = engine.discover(key).node("n")
    assert state.link("tun0").kind == "tun" and state.link("tap0").kind == "tap"
    ns = naming.namespace_name(key, "n")
    reader = textwrap.dedent(
        """
        import fcntl, os, struct, sys
        fd = os.open("/dev/net/tun", os.O_RDWR)
        fcntl.ioctl(fd, 0x400454CA, struct.pack("16sH", b"tun0", 0x0001 | 0x1000))
        print("ready", flush=True)
        while True:
            pkt = os.read(fd, 2048)
            if pkt[0] >> 4 == 4 and pkt[9] == 1:  # IPv4 ICMP
                print(".".join(str(b) for b in pkt[16:20]), flush=True)
                break
        """
    )
    prog = subprocess.Popen(
        ["ip", "netns", "exec", ns, sys.executable, "-c", reader],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert prog.stdout.readline().strip() == "ready"
        # The kernel activates the device's queue a moment after the program
        # attaches (linkwatch), so the first echo may be dropped: send a few.
        seen = ""
        for _ in range(10):
            ping_once(ns, "10.8.0.7")
            ready, _, _ = select.select([prog.stdout], [], [], 0.5)
            if ready:
                seen = prog.stdout.readline().strip()
                break
        assert seen == "10.8.0.7"
    finally:
        if prog.poll() is None:
            prog.kill()
        prog.wait()


def test_mtu_mac_gateway_and_routes(lab_key) -> None:
    key = lab_key()
    t = topo(
        {
            "name": "attrs",
            "nodes": [
                {
                    "name": "a",
                    "interfaces": [
                        {"name": "eth0", "addresses": ["10.10.0.1/24"], "mtu": 1400,
                         "mac": "02:00:00:aa:bb:01"}
                    ],
                    "gateway": "10.10.0.254",
                    "routes": [{"dst": "172.16.0.0/16", "via": "10.10.0.2"}],
                },
                host("b", ("eth0", "10.10.0.2/24")),
            ],
            "links": [{"a": "a:eth0", "b": "b:eth0", "mtu": 1400}],
        }
    )  # fmt: skip
    engine.deploy(t, key)
    a = engine.discover(key).node("a")
    eth0 = a.link("eth0")
    assert (eth0.mtu, eth0.mac) == (1400, "02:00:00:aa:bb:01")
    routes = {(r.dst, r.via) for r in a.routes}
    assert routes == {("0.0.0.0/0", "10.10.0.254"), ("172.16.0.0/16", "10.10.0.2")}
    # tx checksum offload is off on lab veths (captures show right checksums).
    out = subprocess.run(
        ["ip", "netns", "exec", naming.namespace_name(key, "a"), sys.executable, "-c",
         "import ctypes,fcntl,socket,struct\n"
         "s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n"
         "v=ctypes.create_string_buffer(struct.pack('=II',0x16,9),8)\n"
         "fcntl.ioctl(s,0x8946,bytearray(struct.pack('16sP',b'eth0',ctypes.addressof(v)).ljust(40,b'\\0')))\n"
         "print(struct.unpack('=II',v.raw)[1])"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert out.stdout.strip() == "0"


def test_missing_kind_refused_before_any_change(lab_key) -> None:
    key = lab_key()
    facts = engine.host_facts()
    t = topo(
        {
            "name": "vlan",
            "nodes": [host("a", ("eth0", ""), ("v10", "")), host("b", ("eth0", ""))],
            "links": [
                {"a": "a:eth0", "b": "b:eth0"},
                {"kind": "vlan", "endpoint": "a:v10", "parent": "eth0", "vlan_id": 10},
            ],
        }
    )
    if "vlan" in facts.kinds:
        engine.deploy(t, key)
        return
    with pytest.raises(UnsupportedKindError) as info:
        engine.deploy(t, key)
    assert info.value.module == "8021q" and "8021q" in str(info.value)
    assert engine.discover(key).empty


def test_cli_deploy_inspect_destroy(lab_key, tmp_path) -> None:
    key = lab_key()
    path = tmp_path / "lab.yaml"
    path.write_text(
        textwrap.dedent(
            f"""
            name: {key}
            nodes:
              - name: a
                interfaces: [{{name: eth0, addresses: [10.11.0.1/24]}}]
              - name: b
                interfaces: [{{name: eth0, addresses: [10.11.0.2/24]}}]
            links:
              - {{a: "a:eth0", b: "b:eth0"}}
            """
        )
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}

    def cli(*args: str) -> str:
        proc = subprocess.run(
            [sys.executable, "manage.py", "topolab", *args],
            cwd=ROOT, env=env, capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    assert "ops applied" in cli("deploy", str(path))
    table = cli("inspect", key)
    assert "10.11.0.1/24" in table and "veth" in table
    assert ping(naming.namespace_name(key, "a"), "10.11.0.2")
    assert "destroyed" in cli("destroy", key)
    assert engine.discover(key).empty


@pytest.mark.parametrize("mode", ["vepa", "passthru", "source"])
def test_other_macvlan_modes_and_macvtap(lab_key, mode: str) -> None:
    key = lab_key()
    t = topo(
        {
            "name": f"mv-{mode}",
            "nodes": [host("p", ("eth0", ""), ("eth1", "")), host("x", ("eth0", ""), ("eth1", "")),
                      host("a", ("mv0", "10.3.0.1/24"), ("tap0", ""))],
            "links": [
                {"a": "p:eth0", "b": "x:eth0"},
                {"a": "p:eth1", "b": "x:eth1"},
                {"kind": "macvlan", "endpoint": "a:mv0", "parent": "p:eth0", "mode": mode,
                 **({"source_macs": ["02:00:00:00:00:99"]} if mode == "source" else {})},
                {"kind": "macvtap", "endpoint": "a:tap0", "parent": "p:eth1", "mode": "bridge"},
            ],
        }
    )  # fmt: skip
    engine.deploy(t, key)
    a = engine.discover(key).node("a")
    assert (a.link("mv0").kind, a.link("mv0").get("mode")) == ("macvlan", mode)
    assert a.link("tap0").kind == "macvtap" and a.link("tap0").up
    assert engine.plan_for(t, key).ops == ()


def test_rate_limit_and_stp(lab_key) -> None:
    key = lab_key()
    t = topo(
        {
            "name": "rate",
            "nodes": [host("a", ("eth0", "10.12.0.1/24")),
                      {"name": "s", "kind": "switch", "stp": True, "interfaces": [{"name": "p0"}]}],
            "links": [{"a": "a:eth0", "b": "s:p0", "rate_mbit": 10}],
        }
    )  # fmt: skip
    engine.deploy(t, key)
    out = subprocess.run(
        ["tc", "-n", naming.namespace_name(key, "a"), "qdisc", "show", "dev", "eth0"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert "tbf" in out.stdout and "10Mbit" in out.stdout
    assert engine.discover(key).node("s").link("br0").get("stp") == "1"


def test_cli_deploys_a_containerlab_file(lab_key, tmp_path) -> None:
    key = lab_key()
    path = tmp_path / "lab.clab.yml"
    path.write_text(
        f"name: {key}\ntopology:\n  nodes:\n    a: {{kind: linux}}\n    b: {{kind: linux}}\n"
        '  links:\n    - endpoints: ["a:eth1", "b:eth1"]\n'
    )
    proc = subprocess.run(
        [sys.executable, "manage.py", "topolab", "deploy", str(path)],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    state = engine.discover(key)
    assert state.node("a").link("eth1").kind == "veth"
    assert state.node("b").link("eth1").up


def pair() -> Topology:
    """Two hosts a and b on one veth pair."""
    return topo(
        {
            "name": "pair",
            "nodes": [host("a", ("eth0", "10.0.0.1/30")), host("b", ("eth0", "10.0.0.2/30"))],
            "links": [{"a": "a:eth0", "b": "b:eth0"}],
        }
    )


def test_a_worker_task_lets_go_of_the_namespaces_it_touched(lab_key) -> None:
    """After a task the worker holds no socket in a lab's namespaces (they could not die)."""
    from worker import tasks
    from worker.kernel import default_kernel

    key = lab_key()
    engine.deploy(pair(), key)  # releases its own sockets when done

    def sockets() -> int:
        count = 0
        for fd in os.listdir("/proc/self/fd"):
            try:
                count += os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
            except FileNotFoundError:  # the listing's own descriptor, closed by now
                continue
        return count

    before = sockets()
    # What a task does: work on the lab through the process-wide kernel (a socket per ns).
    for node in ("a", "b"):
        assert default_kernel().ns_read(naming.namespace_name(key, node)) is not None
    assert sockets() >= before + 2
    tasks._release_kernel()  # the task_postrun handler
    assert sockets() == before


def test_destroy_trusts_a_recorded_namespace_only_while_it_is_the_same_one(lab_key) -> None:
    """A namespace made again under a lab's name (same inode number, maybe) is not the lab's."""
    from worker import owned

    key = lab_key()
    engine.deploy(pair(), key)
    a, b = naming.namespace_name(key, "a"), naming.namespace_name(key, "b")
    assert set(owned.load(key)) == {a, b}
    # Somebody deletes b and makes a namespace of their own under its name.
    subprocess.run(["ip", "netns", "delete", b], check=True)
    subprocess.run(["ip", "netns", "add", b], check=True)
    try:
        result = engine.destroy(key)
        assert result.namespaces == (a,)
        assert b in netns(), "a namespace Topolab did not make was deleted"
        assert not owned.record_path(key).exists()
    finally:
        subprocess.run(["ip", "netns", "delete", b], check=False)


def test_undoing_a_make_takes_our_placeholder_but_not_an_untagged_namespace(lab_key) -> None:
    """What a journal's undo finds under a lab's name after a crash."""
    from worker.kernel import default_kernel
    from worker.ops import DeleteNamespace

    key = lab_key()
    k = default_kernel()
    # A crash between taking the name and mounting the namespace leaves an empty file.
    ours = naming.namespace_name(key, "x")
    placeholder = Path("/run/netns") / ours
    placeholder.touch()
    try:
        DeleteNamespace(ours, owner=naming.owner_alias(key, "x")).apply(k)
        assert not placeholder.exists()
    finally:
        placeholder.unlink(missing_ok=True)
    # A real namespace without the lab's tag is somebody else's.
    theirs = naming.namespace_name(key, "y")
    subprocess.run(["ip", "netns", "add", theirs], check=True)
    try:
        DeleteNamespace(theirs, owner=naming.owner_alias(key, "y")).apply(k)
        assert theirs in netns()
    finally:
        k.release()
        subprocess.run(["ip", "netns", "delete", theirs], check=False)
