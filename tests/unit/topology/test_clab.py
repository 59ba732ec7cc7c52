"""containerlab import and export."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from lab.topology import Topology, TopologyError
from lab.topology.clab import EXPORT_IMAGE, dumps_clab, export_clab, import_clab
from lab.topology.io import import_text
from lab.topology.validate import validate

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "clab"
FILES = sorted(FIXTURES.glob("*.clab.yml"))


def test_there_are_enough_clab_fixtures() -> None:
    assert len(FILES) >= 5


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_import_export_import_is_stable(path: Path) -> None:
    first, _warnings = import_clab(path.read_text())
    assert validate(first) == []
    text = dumps_clab(first)
    second, warnings = import_clab(text)
    assert second == first
    assert warnings == []  # our own export carries everything it wrote


def load(name: str) -> tuple[Topology, list[tuple[str, str]]]:
    topology, warnings = import_clab((FIXTURES / name).read_text())
    return topology, [(w.path, w.code) for w in warnings]


def test_bridge_lab() -> None:
    t, warnings = load("br01.clab.yml")
    assert set(warnings) == {("mgmt", "clab.not_carried"), ("topology.kinds", "clab.not_carried")}
    br = t.node("br-clab")
    assert br is not None and br.kind == "switch"
    assert [i.name for i in br.interfaces] == ["eth1", "eth2", "eth3"]
    c1 = t.node("client1")
    assert c1 is not None and c1.kind == "host"
    assert [str(a) for a in c1.interfaces[0].addresses] == ["192.168.0.11/24"]


def test_exec_lines_become_addresses_routes_and_forwarding() -> None:
    t, warnings = load("linux-routers.clab.yml")
    assert warnings == []
    r1, r2, c1, c2 = (t.node(n) for n in ("r1", "r2", "client1", "client2"))
    assert r1 is not None and r1.kind == "router" and r1.forwarding is None
    assert r2 is not None and r2.kind == "host" and r2.forwarding is True
    assert c1 is not None and str(c1.gateway) == "10.1.0.1"
    assert c2 is not None and [str(a) for a in c2.interfaces[0].addresses] == [
        "10.2.0.2/24",
        "2001:db8:2::2/64",
    ]
    [route] = r2.routes
    assert (str(route.dst), str(route.via), route.dev, route.metric) == (
        "10.1.0.0/24",
        "10.12.0.1",
        "eth1",
        20,
    )


def test_extended_link_syntax_keeps_mac_and_mtu() -> None:
    t, _ = load("veth-brief.clab.yml")
    srv1 = t.node("srv1")
    assert srv1 is not None and srv1.interfaces[0].mac == "02:00:00:00:10:01"
    assert t.links[0].kind == "veth" and t.links[0].mtu == 9000
    srv3 = t.node("srv3")
    assert srv3 is not None and srv3.interfaces[0].mtu == 1400


def test_nothing_is_dropped_silently() -> None:
    t, warnings = load("mixed-vendors.clab.yml")
    expected = {
        ("prefix", "clab.not_carried"),
        ("mgmt", "clab.not_carried"),
        ("topology.defaults", "clab.not_carried"),
        ("topology.kinds", "clab.not_carried"),
        ("topology.nodes.srl1.kind", "clab.kind_unsupported"),
        ("topology.nodes.srl1.type", "clab.not_carried"),
        ("topology.nodes.srl1.startup-config", "clab.not_carried"),
        ("topology.nodes.h1.image", "clab.not_carried"),
        ("topology.nodes.h1.binds", "clab.not_carried"),
        ("topology.nodes.h1.env", "clab.not_carried"),
        ("topology.nodes.h1.cmd", "clab.not_carried"),
        ("topology.nodes.h1.mgmt-ipv4", "clab.not_carried"),
        ("topology.nodes.h2.image", "clab.not_carried"),
        ("topology.links[2].endpoints", "clab.link_unsupported"),
        ("topology.links[3].endpoints", "clab.link_unsupported"),
        ("topology.links[4].type", "clab.link_unsupported"),
        ("topology.nodes.h1.exec[1]", "clab.exec_not_understood"),
        ("topology.nodes.h2.exec[1]", "clab.exec_not_understood"),
    }
    assert set(warnings) == expected
    assert len(t.links) == 2
    h1 = t.node("h1")
    assert h1 is not None and str(h1.gateway) == "10.0.0.254"


def test_labels_kind_addresses_stp_position() -> None:
    t, warnings = load("ovs-labels.clab.yml")
    assert set(warnings) == {
        ("topology.nodes.ovs1.kind", "clab.kind_changed"),
        ("topology.nodes.a.labels.owner", "clab.not_carried"),
    }
    core, ovs = t.node("core"), t.node("ovs1")
    assert core is not None and core.kind == "router"
    assert [str(i.addresses[0]) for i in core.interfaces] == ["10.5.0.1/24", "10.6.0.1/24"]
    assert ovs is not None and ovs.kind == "switch" and ovs.stp
    assert ovs.position is not None and (ovs.position.x, ovs.position.y) == (300, 120)


def test_bridge_built_by_exec() -> None:
    t, _ = load("host-bridge.clab.yml")
    hv = t.node("hv")
    assert hv is not None
    [br] = hv.bridges
    assert br.name == "br0" and br.stp and [str(a) for a in br.addresses] == ["192.168.77.1/24"]
    assert [i.bridge for i in hv.interfaces] == ["br0", "br0"]


def test_export_writes_working_containerlab_file() -> None:
    t, _ = load("linux-routers.clab.yml")
    doc = yaml.safe_load(dumps_clab(t))
    r1 = doc["topology"]["nodes"]["r1"]
    assert r1["kind"] == "linux" and r1["image"] == EXPORT_IMAGE
    assert r1["labels"] == {"topolab.kind": "router"}
    assert "sysctl -w net.ipv4.ip_forward=1" in r1["exec"]
    assert "ip addr add 10.1.0.1/24 dev eth1" in r1["exec"]
    assert doc["topology"]["links"][0] == {"endpoints": ["client1:eth1", "r1:eth1"]}


def test_export_lists_what_it_cannot_carry() -> None:
    t = Topology.model_validate(
        {
            "name": "tun",
            "nodes": [
                {"name": "a", "interfaces": [{"name": "eth0"}, {"name": "tun0"}]},
                {"name": "b", "interfaces": [{"name": "eth0"}]},
            ],
            "links": [
                {"kind": "veth", "a": "a:eth0", "b": "b:eth0", "rate_mbit": 10},
                {"kind": "tun", "endpoint": "a:tun0"},
            ],
        }
    )
    _doc, warnings = export_clab(t)
    assert {(w.path, w.code) for w in warnings} == {
        ("links[0].rate_mbit", "clab.not_carried"),
        ("links[1]", "clab.not_carried"),
        ("nodes[0].interfaces[1]", "clab.not_carried"),
    }
    assert "# not carried: links[1]" in dumps_clab(t)


@pytest.mark.parametrize(
    "text",
    ["name: x\n", "- a\n", "name: x\ntopology:\n  links: []\n", "topology: {nodes: [a, b]}\n"],
)
def test_not_a_containerlab_file(text: str) -> None:
    with pytest.raises(TopologyError):
        import_clab(text)


scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 70000), st.sampled_from(["eth1", "a:eth1", "br", ""])
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(["node", "interface", "mac"]), inner, max_size=3),
    ),
    max_leaves=8,
)
exec_lines = st.lists(
    st.one_of(
        st.sampled_from(
            [
                "ip addr add 10.0.0.1/24 dev eth1",
                "ip addr add 10.0.0.1 dev eth1",
                "ip -6 route add default via fe80::1",
                "ip route add default via 10.0.0.9",
                "ip route add 10.1.0.1/24 via 10.0.0.2",
                "ip link set dev eth1 master br9",
                "ip link set eth1 mtu big",
                "sysctl -w net.ipv4.ip_forward=2",
                "ip -x addr",
                "ip 'unclosed",
            ]
        ),
        st.integers(),
    ),
    max_size=4,
)
node_spec = st.fixed_dictionaries(
    {},
    optional={
        "kind": st.sampled_from(["linux", "bridge", "ovs-bridge", "srl", 5]),
        "labels": st.one_of(
            values,
            st.dictionaries(
                st.sampled_from(["topolab.kind", "topolab.addresses", "topolab.position", "x"]),
                st.sampled_from(["router", "eth1=10.0.0.1/24", "1,2", "bad", "eth1=x"]),
            ),
        ),
        "exec": st.one_of(exec_lines, values),
        "image": values,
    },
)
clab_doc = st.fixed_dictionaries(
    {
        "topology": st.fixed_dictionaries(
            {
                "nodes": st.dictionaries(
                    st.sampled_from(["a", "b", "c"]), st.one_of(node_spec, values)
                )
            },
            optional={
                "links": st.one_of(
                    values,
                    st.lists(
                        st.one_of(
                            st.fixed_dictionaries(
                                {
                                    "endpoints": st.lists(
                                        st.sampled_from(["a:eth1", "b:eth1", "c:e/1", "x:y", "a"]),
                                        max_size=3,
                                    )
                                },
                                optional={
                                    "mtu": scalars,
                                    "type": st.sampled_from(["veth", "host"]),
                                },
                            ),
                            values,
                        ),
                        max_size=4,
                    ),
                )
            },
        )
    },
    optional={"name": scalars, "mgmt": values},
)


@settings(max_examples=300, deadline=None)
@given(clab_doc)
def test_import_never_crashes(doc: dict[str, object]) -> None:
    try:
        topology, warnings = import_clab(yaml.safe_dump(doc))
    except TopologyError as exc:
        assert exc.issues
        return
    assert isinstance(topology, Topology)
    assert all(w.message for w in warnings)


def test_import_text_validates_what_import_clab_converts() -> None:
    text = (
        "name: long\ntopology:\n  nodes:\n    a: {kind: linux}\n    b: {kind: linux}\n"
        '  links:\n    - endpoints: ["a:ethernet-1-1-xyz", "b:eth1"]\n'
    )
    topology, _ = import_clab(text)  # the converter itself is lenient ...
    assert topology.node("a") is not None
    with pytest.raises(TopologyError) as caught:  # ... the import door is not
        import_text(text, "clab")
    assert [(i.path, i.code) for i in caught.value.issues] == [
        ("nodes[0].interfaces[0].name", "name.too_long")
    ]
