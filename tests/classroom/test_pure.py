"""Pure parts of the classroom: check specs, templates, booking arithmetic, the pcap
reader, and Markdown rendering."""

from __future__ import annotations

import struct
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from lab.classroom.booking import Slot, fits, next_free_slot, peak_load
from lab.classroom.checks import ChecksError, load_checks
from lab.classroom.template import Preconfigure, make_template
from lab.topology import load_topology
from tests.classroom.conftest import DOC
from worker.checks import capture_filter, describe_packet, read_pcap

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def h(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def test_valid_checks_parse_with_defaults() -> None:
    specs = load_checks(
        [
            {"kind": "reach", "src": "h1", "dst": "10.61.2.1"},
            {"kind": "route", "node": "h1", "dst": "default", "via": "10.61.1.254"},
            {
                "kind": "capture",
                "node": "r1",
                "interface": "eth0",
                "protocol": "vxlan",
                "vni": 42,
                "probe_src": "h1",
                "probe_dst": "10.61.2.1",
            },
        ],
        load_topology(DOC),
    )
    assert [s.kind for s in specs] == ["reach", "route", "capture"]
    assert specs[0].count == 2 and specs[0].expect == "reach"
    assert specs[2].label() == (
        "a capture on r1:eth0 sees VXLAN with VNI 42 while h1 pings 10.61.2.1"
    )


@pytest.mark.parametrize(
    ("checks", "path", "code"),
    [
        ([{"kind": "reach", "src": "h1", "dst": "nope"}], "checks[0].dst", "schema.ip_address"),
        ([{"kind": "bogus"}], "checks[0]", "schema.union_tag_invalid"),
        ([{"kind": "mtu", "node": "h1", "interface": "eth0"}], "checks[0].mtu", "schema.missing"),
        (
            [{"kind": "mtu", "node": "h1", "interface": "eth0", "mtu": 20}],
            "checks[0].mtu",
            "schema.greater_than_equal",
        ),
        (
            [{}, {"kind": "reach", "src": "zz", "dst": "10.0.0.1"}],
            "checks[0]",
            "schema.union_tag_not_found",
        ),
        (
            [{"kind": "reach", "src": "zz", "dst": "10.0.0.1"}],
            "checks[0].src",
            "check.unknown_node",
        ),
        (
            [{"kind": "address", "node": "h1", "interface": "eth9", "address": "10.0.0.1/24"}],
            "checks[0].interface",
            "check.unknown_interface",
        ),
        (
            [{"kind": "route", "node": "h1", "dst": "10.0.0.1/24"}],
            "checks[0].dst",
            "schema.value_error",
        ),
        (
            [{"kind": "forwarding", "node": "r1", "extra": 1}],
            "checks[0].extra",
            "schema.extra_forbidden",
        ),
    ],
)
def test_bad_checks_name_their_path(checks: list[Any], path: str, code: str) -> None:
    with pytest.raises(ChecksError) as info:
        load_checks(checks, load_topology(DOC))
    assert (path, code) in [(i.path, i.code) for i in info.value.issues], info.value.issues


def test_not_a_list_is_refused() -> None:
    with pytest.raises(ChecksError) as info:
        load_checks({"kind": "reach"})
    assert info.value.issues[0].code == "checks.not_a_list"


def test_template_strips_only_listed_parts_of_listed_nodes() -> None:
    topology = load_topology(DOC)
    doc = make_template(topology, Preconfigure(addresses=False, routes=False, nodes=["h2"]))
    nodes = {n["name"]: n for n in doc["nodes"]}
    assert nodes["h2"]["interfaces"][0]["addresses"] == []
    assert nodes["h2"]["gateway"] is None
    assert nodes["h1"]["interfaces"][0]["addresses"] == ["10.61.1.1/24"]
    assert nodes["h1"]["gateway"] == "10.61.1.254"
    load_topology(doc)  # still a valid document
    untouched = make_template(topology, Preconfigure())
    assert untouched == topology.model_dump(mode="json")


def test_peak_load_counts_only_overlaps() -> None:
    slots = [Slot(h(0), h(2), 3), Slot(h(1), h(3), 4), Slot(h(3), h(4), 5)]
    assert peak_load(slots, h(0), h(1)) == 3
    assert peak_load(slots, h(0), h(4)) == 7
    assert peak_load(slots, h(2), h(3)) == 4  # half-open: the first ended at 2
    assert fits(slots, 10, 3, h(0), h(4))
    assert not fits(slots, 10, 4, h(1), h(2))


def test_next_free_slot_is_the_first_end_with_room() -> None:
    slots = [Slot(h(0), h(2), 6), Slot(h(1), h(3), 4)]
    assert next_free_slot(slots, 10, 1, h(1), timedelta(hours=1)) == h(2)
    assert next_free_slot(slots, 10, 5, h(1), timedelta(hours=1)) == h(2)
    assert next_free_slot(slots, 10, 7, h(1), timedelta(hours=1)) == h(3)
    assert next_free_slot(slots, 10, 11, h(0), timedelta(hours=1)) is None
    assert next_free_slot([], 10, 10, h(0), timedelta(hours=1)) == h(0)


def _pcap(frames: list[bytes]) -> bytes:
    out = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    for frame in frames:
        out += struct.pack("<IIII", 0, 0, len(frame), len(frame)) + frame
    return out


def _ipv4(proto: int, src: bytes, dst: bytes, payload: bytes) -> bytes:
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 0, 0, 64, proto, 0, src, dst)
    return header + payload


def test_pcap_reader_finds_vxlan_vni_and_inner_icmp() -> None:
    inner = (
        b"\x02" * 6
        + b"\x04" * 6
        + b"\x08\x00"
        + _ipv4(1, b"\xc0\xa8\x01\x01", b"\xc0\xa8\x01\x02", b"\x08\x00" * 4)
    )
    vxlan = struct.pack("!II", 0x08000000, 42 << 8) + inner
    udp = struct.pack("!HHHH", 40000, 4789, 8 + len(vxlan), 0) + vxlan
    frame = (
        b"\x01" * 6
        + b"\x03" * 6
        + b"\x08\x00"
        + _ipv4(17, b"\x0a\x00\x00\x01", b"\x0a\x00\x00\x02", udp)
    )
    packets = read_pcap(_pcap([frame]))
    info = describe_packet(packets[0])
    assert info is not None
    assert info["vni"] == 42 and info["inner"] == "icmp"
    assert info["text"].startswith("VXLAN VNI 42 10.0.0.1 > 10.0.0.2:4789")
    with pytest.raises(ValueError):
        read_pcap(b"x" * 40)


def test_vxlan_capture_filter_matches_the_vni_field() -> None:
    spec = load_checks(
        [
            {
                "kind": "capture",
                "node": "r1",
                "interface": "eth0",
                "protocol": "vxlan",
                "vni": 42,
                "probe_src": "h1",
                "probe_dst": "10.0.0.1",
            }
        ]
    )[0]
    assert capture_filter(spec) == ["udp", "dst", "port", "4789", "and", "(udp[12:4] >> 8) = 42"]


def test_instructions_render_without_html_or_scripts() -> None:
    from lab.classroom.services import render_instructions

    html = render_instructions(
        "# Task\n\nAdd **10.0.0.1/24**.\n\n<script>alert(1)</script>\n\n"
        "[x](javascript:alert(1)) <img src=x onerror=alert(1)>"
    )
    assert "<h1>Task</h1>" in html and "<strong>10.0.0.1/24</strong>" in html
    assert "<script" not in html and "<img" not in html and "href" not in html
    assert "&lt;script&gt;" in html  # shown as text, never run
