"""Pure: the learned-route and DHCP check kinds, and the routing demos and exercises."""

from __future__ import annotations

import pytest

from lab.classroom.check_forms import check_forms
from lab.classroom.checks import ChecksError, load_checks
from lab.demos.catalog import DEMOS, get_demo
from lab.demos.catalog_routing import EXERCISES, ROUTING_DEMOS, get_exercise, student_copy
from lab.topology.load import load_topology


def test_learned_route_and_dhcp_checks_validate_and_read_well() -> None:
    topology = load_topology(get_demo("ospf-triangle").topology)  # type: ignore[union-attr]
    specs = load_checks(
        [
            {"kind": "learned_route", "node": "r2", "dst": "10.10.10.1/32", "protocol": "ospf"},
            {"kind": "learned_route", "node": "r1", "dst": "10.2.0.0/24", "protocol": "bgp"},
            {"kind": "learned_route", "node": "r1", "dst": "10.3.0.0/24", "via": "10.0.13.2"},
            {"kind": "dhcp", "node": "h1", "interface": "eth0", "within": "10.1.0.0/24"},
        ],
        topology,
    )
    assert [s.describe() for s in specs] == [
        "r2 has an OSPF route to 10.10.10.1/32",
        "r1 has a BGP route to 10.2.0.0/24",
        "r1 has a learned route to 10.3.0.0/24 via 10.0.13.2",
        "h1:eth0 got an address in 10.1.0.0/24 by DHCP",
    ]


@pytest.mark.parametrize(
    ("spec", "path", "code"),
    [
        ({"kind": "learned_route", "node": "r2", "dst": "10.10.10.1/24"}, "checks[0].dst", ""),
        ({"kind": "learned_route", "node": "r2", "dst": "10.0.0.0/8", "protocol": "eigrp"},
         "checks[0].protocol", ""),
        ({"kind": "learned_route", "node": "zz", "dst": "10.0.0.0/8"}, "checks[0].node",
         "check.unknown_node"),
        ({"kind": "dhcp", "node": "h1", "interface": "eth9"}, "checks[0].interface",
         "check.unknown_interface"),
        ({"kind": "dhcp", "node": "h1", "interface": "eth0", "within": "fe80::/64"},
         "checks[0].within", ""),
    ],
)  # fmt: skip
def test_bad_specs_name_their_field(spec: dict, path: str, code: str) -> None:  # type: ignore[type-arg]
    topology = load_topology(get_demo("ospf-triangle").topology)  # type: ignore[union-attr]
    with pytest.raises(ChecksError) as refused:
        load_checks([spec], topology)
    assert refused.value.issues[0].path == path, refused.value.issues
    if code:
        assert refused.value.issues[0].code == code


def test_the_checks_builder_offers_the_new_kinds() -> None:
    kinds = {form["kind"] for form in check_forms()}
    assert {"learned_route", "dhcp"} <= kinds


def test_the_routing_demos_are_in_the_library_and_validate() -> None:
    assert {d.slug for d in ROUTING_DEMOS} == {"ospf-triangle", "bgp-two-as", "dhcp-switch"}
    for demo in ROUTING_DEMOS:
        assert demo in DEMOS and get_demo(demo.slug) is demo
        topology = load_topology(demo.topology)
        for probe in demo.probes:
            assert topology.node(probe.src) is not None
        services = {s.kind for n in topology.nodes for s in n.services}
        assert services & {"frr", "dnsmasq"}


def test_every_exercise_template_validates_and_strips_what_the_student_writes() -> None:
    assert get_exercise("nope") is None
    for exercise in EXERCISES:
        assert get_exercise(exercise.slug) is exercise
        topology = load_topology(exercise.topology)
        assert len(load_checks(exercise.checks, topology)) == len(exercise.checks)
        copy = load_topology(student_copy(exercise))
        for node in copy.nodes:
            original = topology.node(node.name)
            assert original is not None
            if node.name in exercise.strip_files:
                assert node.files == () and original.files != ()
                assert node.services == original.services  # the daemon runs, unconfigured
            else:
                assert node.files == original.files
        assert len(load_checks(exercise.checks, copy)) == len(exercise.checks)
