"""Reading containerlab exec lines: the forms people write, and what is not carried."""

from __future__ import annotations

import pytest

from lab.topology.clab_exec import (
    AddAddress,
    AddBridge,
    AddDummy,
    AddRoute,
    AddVxlan,
    DeleteRoute,
    Nothing,
    NotUnderstood,
    SetLink,
    SetSysctl,
    parse_exec,
)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("ip addr add 10.0.0.1/24 dev eth1", AddAddress("eth1", "10.0.0.1/24")),
        ("ip addr add dev eth1 10.0.0.1/24", AddAddress("eth1", "10.0.0.1/24")),
        ("ip a add 10.0.0.1/24 dev eth1", AddAddress("eth1", "10.0.0.1/24")),
        ("ip a a 10.0.0.1/24 dev eth1", AddAddress("eth1", "10.0.0.1/24")),
        ("ip address replace 10.0.0.1/24 brd + dev eth1", AddAddress("eth1", "10.0.0.1/24")),
        ("ip addr add 10.0.0.1 dev eth1", AddAddress("eth1", "10.0.0.1/32")),
        ("ip -6 addr add 2001:db8::1/64 dev eth1", AddAddress("eth1", "2001:db8::1/64")),
        ("/sbin/ip addr add 10.0.0.1/24 dev eth1", AddAddress("eth1", "10.0.0.1/24")),
        (
            "ip link set address 02:00:00:00:00:01 dev eth1",
            SetLink(dev="eth1", mac="02:00:00:00:00:01"),
        ),
        ("ip l s eth1 mtu 1450 up", SetLink(dev="eth1", mtu=1450, up=True)),
        ("ip link set dev eth1 master br0", SetLink(dev="eth1", master="br0")),
        ("ip link set dev br0 type bridge stp_state 1", SetLink(dev="br0", stp=True)),
        ("ip link set eth1 nomaster", SetLink(dev="eth1", nomaster=True)),
        ("ip link set dev eth1 up", Nothing("ip link set dev eth1 up")),
        ("ip link add name br0 type bridge", AddBridge("br0")),
        ("ip link add d0 type dummy", AddDummy("d0")),
        ("ip link add br0 mtu 9000 type bridge stp_state 0", AddBridge("br0", False, 9000)),
        (
            "ip link add vx0 type vxlan id 10 remote 10.0.0.2 dstport 4789 dev eth1 nolearning",
            AddVxlan(
                name="vx0", vni=10, remote="10.0.0.2", dstport=4789, dev="eth1", learning=False
            ),
        ),
        (
            "ip route add 10.1.0.0/16 via 10.0.0.2",
            AddRoute(dst="10.1.0.0/16", family=4, via="10.0.0.2"),
        ),
        (
            "ip r a default via 10.0.0.1 dev eth1",
            AddRoute(dst="default", family=4, via="10.0.0.1", dev="eth1"),
        ),
        (
            "ip -6 route add default via 2001:db8::1",
            AddRoute(dst="default", family=6, via="2001:db8::1"),
        ),
        (
            "ip -6 r add 2001:db8:1::/48 via 2001:db8::2",
            AddRoute(dst="2001:db8:1::/48", family=6, via="2001:db8::2"),
        ),
        (
            "ip route add 2001:db8:1::/48 via 2001:db8::2",
            AddRoute(dst="2001:db8:1::/48", family=6, via="2001:db8::2"),
        ),
        (
            "ip ro replace 10.2.0.0/16 dev eth2 metric 5",
            AddRoute(dst="10.2.0.0/16", family=4, dev="eth2", metric=5),
        ),
        ("ip route del default", DeleteRoute("default", 4)),
        ("ip -6 route delete default", DeleteRoute("default", 6)),
        ("sysctl -w net.ipv4.ip_forward=1", SetSysctl("net.ipv4.ip_forward", "1")),
        ("sysctl net/ipv6/conf/all/forwarding=1", SetSysctl("net.ipv6.conf.all.forwarding", "1")),
        ("sleep 2", Nothing("sleep 2")),
    ],
)
def test_one_line_one_command(line: str, expected: object) -> None:
    assert parse_exec(line) == [expected]


def test_shell_wrappers_are_split_into_their_steps() -> None:
    steps = parse_exec(
        "sh -c 'ip addr add 10.0.0.1/24 dev eth1 && ip link set eth1 mtu 1400; "
        "ip route add default via 10.0.0.254 || true'"
    )
    assert steps == [
        AddAddress("eth1", "10.0.0.1/24"),
        SetLink(dev="eth1", mtu=1400),
        AddRoute(dst="default", family=4, via="10.0.0.254"),
    ]
    multi = parse_exec("ash -c '\napk add iproute2 &&\nip l set dev eth1 up\n'")
    assert isinstance(multi[0], NotUnderstood) and "installs software" in multi[0].reason
    assert multi[1] == Nothing("ip l set dev eth1 up")
    assert parse_exec('bash -lc "ip link set dev eth1 up 2>/dev/null"') == [
        Nothing("ip link set dev eth1 up")
    ]
    assert parse_exec("sh -c 'echo 1 > /proc/sys/net/ipv4/ip_forward'") == [
        SetSysctl("net.ipv4.ip_forward", "1")
    ]


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("ip link set eth1 down", "down"),
        ("ip route add 10.0.0.0/8 via 10.1.1.1 onlink", "onlink"),
        ("ip route add 10.0.0.1/8 via 10.1.1.1", "not a network prefix"),
        ("ip -6 addr add 10.0.0.1/24 dev eth1", "IPv6"),
        ("ip addr add 10.0.0.300/24 dev eth1", "not an IP address"),
        ("ip link set eth1 mtu big", "not a number"),
        ("ip link add v0 type veth peer name v1", "veth"),
        ("ip -n other addr add 10.0.0.1/24 dev eth1", "option -n"),
        ("ip neigh add 10.0.0.9 lladdr 02:00:00:00:00:09 dev eth1", "not carried"),
        ("bash /config/setup.sh", "shell scripts"),
        ("iperf3 -s -D", "iperf3"),
        ("ip addr add 10.0.0.1/24 dev eth1 && echo done", "outside sh -c"),
        ("sh -c 'ip a | grep inet'", "'|'"),
        ("sh -c 'ip addr add $(cat /addr) dev eth1'", "not carried"),
        ("ip 'unclosed", "does not parse"),
    ],
)
def test_what_is_not_understood_says_why(line: str, why: str) -> None:
    [step] = parse_exec(line)
    assert isinstance(step, NotUnderstood) and why in step.reason, step


def test_forwarding_sysctls_are_told_apart() -> None:
    assert SetSysctl("net.ipv4.ip_forward", "1").forwarding is True
    assert SetSysctl("net.ipv6.conf.all.forwarding", "0").forwarding is False
    assert SetSysctl("net.ipv4.ip_forward", "2").forwarding is None
    assert SetSysctl("net.core.somaxconn", "1").forwarding is None
