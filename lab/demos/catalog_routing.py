"""Demos and exercise templates of routing software: OSPF, BGP and DHCP with real daemons.

Pure data, as ``catalog.py``. Each lab's nodes run FRR or dnsmasq from the node
service catalog (``lab/topology/schema.py``), configured by node files written in
FRR's and dnsmasq's documented syntax. The exercises are the same labs with what the
student must configure taken out, and checks on what the daemons learned
(``learned_route``, ``dhcp``) beside the usual reachability checks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lab.demos.catalog import Demo, JourneySpec, Probe, _if, _veth

# Fast timers: a lab converges in seconds, not the protocols' default minute.
_OSPF_IFACE = (
    " ip ospf network point-to-point\n ip ospf hello-interval 1\n ip ospf dead-interval 4\n"
)


def _router(
    name: str, *interfaces: dict[str, Any], files: dict[str, str], daemons: list[str]
) -> dict[str, Any]:
    return {
        "name": name,
        "kind": "router",
        "interfaces": list(interfaces),
        "files": files,
        "services": [{"kind": "frr", "daemons": daemons}],
    }


def _host(name: str, address: str, gateway: str) -> dict[str, Any]:
    return {"name": name, "interfaces": [_if("eth0", address)], "gateway": gateway}


def ospf_conf(number: int, links: list[str], passive: list[str], networks: list[str]) -> str:
    """An ``frr.conf`` for router ``r<number>``: its loopback ``10.10.10.<number>/32``, OSPF
    area 0 on ``networks``, point-to-point with fast timers on ``links``. Pure."""
    lines = ["frr defaults traditional", f"hostname r{number}", "log stdout", "!"]
    for iface in links:
        lines += [f"interface {iface}", _OSPF_IFACE.rstrip("\n"), "!"]
    lines += ["interface lo", f" ip address 10.10.10.{number}/32", "!"]
    lines += ["router ospf", f" ospf router-id 10.10.10.{number}"]
    lines += [f" passive-interface {p}" for p in passive]
    lines += [f" network {n} area 0.0.0.0" for n in [*networks, f"10.10.10.{number}/32"]]
    return "\n".join([*lines, "!", ""])


def bgp_conf(number: int, asn: int, peer: str, peer_asn: int, networks: list[str]) -> str:
    """An ``frr.conf`` for ``r<number>`` in AS ``asn``: one eBGP neighbour and the networks
    it announces (its loopback ``10.10.10.<number>/32`` too). Pure."""
    return "\n".join(
        [
            "frr defaults traditional",
            f"hostname r{number}",
            "log stdout",
            "!",
            "interface lo",
            f" ip address 10.10.10.{number}/32",
            "!",
            f"router bgp {asn}",
            f" bgp router-id 10.10.10.{number}",
            # FRR 8 announces nothing over eBGP without a policy unless told so.
            " no bgp ebgp-requires-policy",
            f" neighbor {peer} remote-as {peer_asn}",
            f" neighbor {peer} timers 1 3",
            f" neighbor {peer} timers connect 1",
            " address-family ipv4 unicast",
            *[f"  network {n}" for n in [*networks, f"10.10.10.{number}/32"]],
            " exit-address-family",
            "!",
            "",
        ]
    )


OSPF_TOPOLOGY: dict[str, Any] = {
    "name": "ospf-triangle",
    "description": "Three FRR routers in OSPF area 0, in a triangle, with a host at each end.",
    "nodes": [
        _router(
            "r1",
            _if("eth0", "10.1.0.1/24"),
            _if("eth1", "10.0.12.1/30"),
            _if("eth2", "10.0.13.1/30"),
            files={
                "/etc/frr/frr.conf": ospf_conf(
                    1, ["eth1", "eth2"], ["eth0"], ["10.1.0.0/24", "10.0.12.0/30", "10.0.13.0/30"]
                )
            },
            daemons=["ospfd"],
        ),
        _router(
            "r2",
            _if("eth0", "10.0.12.2/30"),
            _if("eth1", "10.0.23.1/30"),
            files={
                "/etc/frr/frr.conf": ospf_conf(
                    2, ["eth0", "eth1"], [], ["10.0.12.0/30", "10.0.23.0/30"]
                )
            },
            daemons=["ospfd"],
        ),
        _router(
            "r3",
            _if("eth0", "10.0.23.2/30"),
            _if("eth1", "10.0.13.2/30"),
            _if("eth2", "10.3.0.1/24"),
            files={
                "/etc/frr/frr.conf": ospf_conf(
                    3, ["eth0", "eth1"], ["eth2"], ["10.0.23.0/30", "10.0.13.0/30", "10.3.0.0/24"]
                )
            },
            daemons=["ospfd"],
        ),
        _host("h1", "10.1.0.10/24", "10.1.0.1"),
        _host("h3", "10.3.0.10/24", "10.3.0.1"),
    ],
    "links": [
        _veth("h1:eth0", "r1:eth0"),
        _veth("r1:eth1", "r2:eth0"),
        _veth("r2:eth1", "r3:eth0"),
        _veth("r3:eth1", "r1:eth2"),
        _veth("r3:eth2", "h3:eth0"),
    ],
}

OSPF = Demo(
    slug="ospf-triangle",
    title="OSPF among three routers",
    summary="Three FRR routers in a triangle learn each other's networks by OSPF.",
    explanation=(
        "No router here has a static route. Each runs FRR's `ospfd`, configured by its "
        "`/etc/frr/frr.conf` (open a router's **Files**): OSPF speaks on the links between "
        "the routers, each router tells the others which networks it has, and each computes "
        "the shortest paths and installs them in its kernel's routing table.\n\n"
        "Give it a few seconds after deploy, then press **Run**: `h1` pings `h3` across the "
        "routers and `r2`'s loopback `10.10.10.2`. In a router's console, "
        "`vtysh -c 'show ip ospf neighbor'` lists its two neighbours in state `Full`, and "
        "`ip route` shows the routes marked `proto ospf`. Stop FRR on `r2` (its **Services**) "
        "and the triangle routes around it."
    ),
    topology=OSPF_TOPOLOGY,
    probes=(
        Probe("h1", "10.3.0.10", label="h1 pings h3 across the routers"),
        Probe("h1", "10.10.10.2", label="h1 pings r2's loopback, learned by OSPF"),
    ),
    journey=JourneySpec("h1", "10.3.0.10", must_show=("h1:eth0", "r1:eth0", "h3:eth0")),
)

BGP_TOPOLOGY: dict[str, Any] = {
    "name": "bgp-two-as",
    "description": "Two autonomous systems, one FRR router each, peering by eBGP.",
    "nodes": [
        _router(
            "r1",
            _if("eth0", "10.1.0.1/24"),
            _if("eth1", "10.0.12.1/30"),
            files={"/etc/frr/frr.conf": bgp_conf(1, 65001, "10.0.12.2", 65002, ["10.1.0.0/24"])},
            daemons=["bgpd"],
        ),
        _router(
            "r2",
            _if("eth0", "10.2.0.1/24"),
            _if("eth1", "10.0.12.2/30"),
            files={"/etc/frr/frr.conf": bgp_conf(2, 65002, "10.0.12.1", 65001, ["10.2.0.0/24"])},
            daemons=["bgpd"],
        ),
        _host("h1", "10.1.0.10/24", "10.1.0.1"),
        _host("h2", "10.2.0.10/24", "10.2.0.1"),
    ],
    "links": [
        _veth("h1:eth0", "r1:eth0"),
        _veth("r1:eth1", "r2:eth1"),
        _veth("r2:eth0", "h2:eth0"),
    ],
}

BGP = Demo(
    slug="bgp-two-as",
    title="BGP between two autonomous systems",
    summary="Two FRR routers in AS 65001 and AS 65002 announce their networks by eBGP.",
    explanation=(
        "The Internet is made of autonomous systems that tell each other which networks "
        "they can reach, by BGP. Here `r1` (AS 65001) and `r2` (AS 65002) each run FRR's "
        "`bgpd`; their `frr.conf` names the neighbour and the networks to announce.\n\n"
        "Once the session is up (a few seconds), press **Run**: `h1` pings `h2` in the other "
        "AS. `vtysh -c 'show ip bgp summary'` on a router shows the session and the prefixes "
        "received; `ip route` shows them as `proto bgp`."
    ),
    topology=BGP_TOPOLOGY,
    probes=(
        Probe("h1", "10.2.0.10", label="h1 pings h2 in the other AS"),
        Probe("h1", "10.10.10.2", label="h1 pings r2's loopback, announced by BGP"),
    ),
    journey=JourneySpec("h1", "10.2.0.10", must_show=("h1:eth0", "r1:eth1", "h2:eth0")),
)

# busybox's DHCP client hands the lease to a script; Debian's busybox ships none, so the
# lab brings its own (node files are read-only: the exec line copies it to /tmp to run).
DHCP_CLIENT_SCRIPT = """#!/bin/sh
# Called by busybox udhcpc with the lease in its environment ($ip, $mask, $router, $lease).
case "$1" in
  bound|renew)
    ip addr flush dev "$interface"
    life="${lease:-3600}"
    ip addr add "$ip/${mask:-24}" dev "$interface" valid_lft "$life" preferred_lft "$life"
    [ -n "$router" ] && ip route replace default via "${router%% *}" dev "$interface"
    ;;
esac
exit 0
"""
DHCP_CLIENT_EXEC = [
    "sh",
    "-c",
    "cp /root/udhcpc.sh /tmp/udhcpc.sh && chmod +x /tmp/udhcpc.sh && "
    "busybox udhcpc -i eth0 -n -q -t 10 -T 2 -s /tmp/udhcpc.sh",
]


def _dhcp_client(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "interfaces": [_if("eth0")],
        "files": {"/root/udhcpc.sh": DHCP_CLIENT_SCRIPT},
        "exec": [DHCP_CLIENT_EXEC],
    }


DHCP_TOPOLOGY: dict[str, Any] = {
    "name": "dhcp-switch",
    "description": "A dnsmasq DHCP server and two clients on one switch.",
    "nodes": [
        {
            "name": "srv",
            "interfaces": [_if("eth0", "10.0.5.1/24")],
            "files": {
                "/run/dnsmasq.d/lan.conf": (
                    "# Leases for the switch's segment (dnsmasq's documented syntax).\n"
                    "dhcp-range=10.0.5.100,10.0.5.150,255.255.255.0,1h\n"
                    "dhcp-option=option:router,10.0.5.1\n"
                    # dnsmasq pings an address before it offers it, which outlasts a
                    # client's first tries on a fresh lab: the range is the lab's own.
                    "no-ping\n"
                )
            },
            "services": [{"kind": "dnsmasq", "args": ["--interface=eth0"]}],
        },
        {"name": "sw", "kind": "switch", "interfaces": [_if("p1"), _if("p2"), _if("p3")]},
        _dhcp_client("h1"),
        _dhcp_client("h2"),
    ],
    "links": [
        _veth("srv:eth0", "sw:p1"),
        _veth("h1:eth0", "sw:p2"),
        _veth("h2:eth0", "sw:p3"),
    ],
}

DHCP = Demo(
    slug="dhcp-switch",
    title="DHCP on a switch",
    summary="A dnsmasq server gives the hosts on its switch their addresses.",
    explanation=(
        "`h1` and `h2` start with no address. Right after deploy each runs a DHCP client "
        "(its startup command): it broadcasts a DISCOVER on the switch, `srv`'s dnsmasq "
        "offers a lease from `10.0.5.100` to `10.0.5.150` (its `/run/dnsmasq.d/lan.conf`), and "
        "the client puts the address on `eth0`.\n\n"
        "Press **Run**: both hosts ping the server. `ip addr` in a host's console shows the "
        "leased address with its lifetime counting down; the server's **Services** log "
        "lists each DHCPDISCOVER, OFFER, REQUEST and ACK."
    ),
    topology=DHCP_TOPOLOGY,
    probes=(
        Probe("h1", "10.0.5.1", label="h1 reaches the server with its leased address"),
        Probe("h2", "10.0.5.1", label="h2 reaches the server with its leased address"),
    ),
    journey=JourneySpec("h1", "10.0.5.1", must_show=("h1:eth0", "srv:eth0")),
)

ROUTING_DEMOS: tuple[Demo, ...] = (OSPF, BGP, DHCP)


@dataclass(frozen=True)
class ExerciseTemplate:
    """A ready exercise: its lab, what the student's copy keeps, the checks that grade it.

    ``strip_files`` names the nodes whose node files the student's copy loses: the
    configuration the student writes (in the page's file editor, or with vtysh).
    """

    slug: str
    title: str
    instructions: str
    topology: dict[str, Any]
    checks: list[dict[str, Any]]
    strip_files: tuple[str, ...] = field(default=())


def student_copy(exercise: ExerciseTemplate) -> dict[str, Any]:
    """The topology a student starts from: the lab without the files they must write. Pure."""
    nodes = [
        {**node, "files": {}} if node["name"] in exercise.strip_files else node
        for node in exercise.topology["nodes"]
    ]
    return {**exercise.topology, "nodes": nodes}


EXERCISES: tuple[ExerciseTemplate, ...] = (
    ExerciseTemplate(
        slug="ospf-configure-r2",
        title="Bring r2 into OSPF area 0",
        instructions=(
            "r1 and r3 already speak OSPF; r2 runs FRR with an empty configuration. Write "
            "r2's `/etc/frr/frr.conf` (its **Files**) so that it joins area 0 on both links "
            "and announces its loopback 10.10.10.2/32, then **Apply changes**."
        ),
        topology=OSPF_TOPOLOGY,
        checks=[
            {"kind": "learned_route", "node": "r2", "dst": "10.10.10.1/32", "protocol": "ospf"},
            {"kind": "learned_route", "node": "r1", "dst": "10.10.10.2/32", "protocol": "ospf"},
            {"kind": "learned_route", "node": "r2", "dst": "10.3.0.0/24", "protocol": "ospf"},
            {"kind": "reach", "src": "h1", "dst": "10.3.0.10"},
        ],
        strip_files=("r2",),
    ),
    ExerciseTemplate(
        slug="bgp-peer-as65002",
        title="Peer AS 65002 with AS 65001",
        instructions=(
            "r1 (AS 65001) waits for a BGP neighbour. Configure r2 as AS 65002: peer with "
            "10.0.12.1 and announce 10.2.0.0/24, so that h1 reaches h2."
        ),
        topology=BGP_TOPOLOGY,
        checks=[
            {"kind": "learned_route", "node": "r1", "dst": "10.2.0.0/24", "protocol": "bgp"},
            {"kind": "learned_route", "node": "r2", "dst": "10.1.0.0/24", "protocol": "bgp"},
            {"kind": "reach", "src": "h1", "dst": "10.2.0.10"},
        ],
        strip_files=("r2",),
    ),
    ExerciseTemplate(
        slug="dhcp-serve-the-segment",
        title="Serve addresses on the switch",
        instructions=(
            "h1 and h2 ask for an address by DHCP at start-up. Write srv's "
            "`/run/dnsmasq.d/lan.conf` so that dnsmasq leases addresses in 10.0.5.100 to 150, "
            "apply, and restart h1's DHCP client (redeploy the lab)."
        ),
        topology=DHCP_TOPOLOGY,
        checks=[
            {"kind": "dhcp", "node": "h1", "interface": "eth0", "within": "10.0.5.0/24"},
            {"kind": "dhcp", "node": "h2", "interface": "eth0", "within": "10.0.5.0/24"},
            {"kind": "reach", "src": "h1", "dst": "10.0.5.1"},
        ],
        strip_files=("srv",),
    ),
)


def get_exercise(slug: str) -> ExerciseTemplate | None:
    """Return the exercise template called ``slug``, or None."""
    return next((e for e in EXERCISES if e.slug == slug), None)
