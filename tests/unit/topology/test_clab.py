"""containerlab import and export: the rules behind the golden corpus, one at a time."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from lab.topology import Topology, TopologyError, load_topology
from lab.topology.clab import EXPORT_IMAGE, LINK_TYPES, dumps_clab, export_clab, import_clab
from lab.topology.io import import_text, to_data
from lab.topology.schema import VxlanLink

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
CLAB = FIXTURES / "clab"
CORPUS = sorted(p for p in CLAB.rglob("*.clab.yml") if "go-template" not in p.name)
VALID = sorted((FIXTURES / "topologies" / "valid").glob("*.json"))
SCHEMA = jsonschema.Draft7Validator(
    json.loads((CLAB / "schema" / "clab-topology.schema.json").read_text())
)


def clab(text: str, **kw: Any) -> tuple[Topology, list[tuple[str, str]]]:
    topology, warnings = import_clab(textwrap.dedent(text), **kw)
    return topology, [(w.path, w.code) for w in warnings]


def failing(text: str, **kw: Any) -> TopologyError:
    with pytest.raises(TopologyError) as caught:
        import_clab(textwrap.dedent(text), **kw)
    return caught.value


def canonical(t: Topology) -> dict[str, Any]:
    """The topology with its lists in a fixed order: an order is not part of a lab's meaning."""
    data = to_data(t)
    for node in data.get("nodes", []):
        node.get("interfaces", []).sort(key=lambda i: i["name"])
    data.get("links", []).sort(key=json.dumps)
    return data


def importable(paths: list[Path]) -> list[Path]:
    """The files whose golden result (see test_clab_corpus) is a topology."""
    out = []
    for p in paths:
        expected = json.loads(p.with_name(p.name + ".expected.json").read_text())
        if expected["topology"] is not None:
            out.append(p)
    return out


ROUND_TRIP = importable(CORPUS)


# -- round trips and export ------------------------------------------------------------


def test_the_round_trip_corpus_is_not_empty() -> None:
    assert len(ROUND_TRIP) >= 30


@pytest.mark.parametrize("path", ROUND_TRIP, ids=[p.name for p in ROUND_TRIP])
def test_import_export_import_gives_the_same_topology(path: Path) -> None:
    first, _ = import_clab(path.read_text())
    text = dumps_clab(first)
    second, warnings = import_clab(text)
    assert warnings == []  # our own export carries everything it wrote
    assert canonical(second) == canonical(first)
    if not any(isinstance(link, VxlanLink) for link in first.links):
        # A VXLAN device is written as an exec line, read after the links; else the
        # order comes back as it went out.
        assert second == first
    assert SCHEMA.is_valid(yaml.safe_load(text)), list(SCHEMA.iter_errors(yaml.safe_load(text)))


@pytest.mark.parametrize("path", VALID, ids=[p.stem for p in VALID])
def test_editor_topologies_round_trip_when_the_export_carries_all(path: Path) -> None:
    first = load_topology(json.loads(path.read_text()))
    doc, not_carried = export_clab(first)
    SCHEMA.validate(doc)  # containerlab accepts what we write, carried or not
    second, warnings = import_clab(dumps_clab(first))
    assert warnings == []
    if not not_carried:
        assert canonical(second) == canonical(first)
    else:
        assert {w.code for w in not_carried} == {"clab.not_carried"}
        assert {n.name for n in second.nodes} == {n.name for n in first.nodes}


def test_the_schema_refuses_what_containerlab_refuses() -> None:
    good = {"name": "x", "topology": {"nodes": {"a": {"kind": "linux", "image": "i"}}}}
    assert SCHEMA.is_valid(good)
    for bad in (
        {"topology": {"nodes": {}}},
        {"name": "x", "topology": {"nodes": {"a": {"kind": "linux"}}}},  # no image
        {"name": "x", "topology": {"nodes": {"a": {"kind": "linux", "image": "i", "x": 1}}}},
        {"name": "x", "topology": {"nodes": {}, "links": [{"endpoints": ["a:e/1", "b:e1"]}]}},
        {"name": "x", "topology": {"nodes": {}, "links": [{"type": "bogus", "endpoints": []}]}},
        {"name": "x", "extra": 1, "topology": {"nodes": {}}},
    ):
        assert not SCHEMA.is_valid(bad), bad


def test_export_moves_data_interfaces_off_eth0_with_a_mapping() -> None:
    t, _ = clab(
        """
        name: e0
        topology:
          nodes:
            a:
              kind: linux
              exec:
                - ip addr add 10.0.0.1/24 dev eth0
                - ip route add 10.9.0.0/16 via 10.0.0.2 dev eth0
            b: {kind: linux, exec: ["ip addr add 10.0.0.2/24 dev eth0"]}
            c: {kind: linux}
          links:
            - endpoints: ["a:eth0", "b:eth0"]
            - endpoints: ["a:eth1", "c:eth1"]
        """
    )
    text = dumps_clab(t)
    doc = yaml.safe_load(text)
    a = doc["topology"]["nodes"]["a"]
    assert a["labels"]["topolab.interfaces"] == "eth1=eth0,eth2=eth1"
    assert "ip addr add 10.0.0.1/24 dev eth1" in a["exec"]
    assert "ip route add 10.9.0.0/16 via 10.0.0.2 dev eth1" in a["exec"]
    assert doc["topology"]["links"] == [
        {"endpoints": ["a:eth1", "b:eth1"]},
        {"endpoints": ["a:eth2", "c:eth1"]},
    ]
    assert "c" not in {
        k for k, v in doc["topology"]["nodes"].items() if "topolab.interfaces" in v["labels"]
    }
    assert "#   a: eth0 -> eth1, eth1 -> eth2" in text
    ends = [e for link in doc["topology"]["links"] for e in link["endpoints"]]
    assert not [e for e in ends if e.endswith(":eth0")]
    again, warnings = import_clab(text)
    assert again == t and warnings == []


def test_export_makes_switches_linux_nodes_with_their_own_bridge() -> None:
    t, _ = clab(
        """
        name: sw
        topology:
          nodes:
            sw1: {kind: bridge, labels: {topolab.stp: "true"}}
            h1: {kind: linux, exec: ["ip addr add 10.0.0.1/24 dev eth1"]}
          links:
            - endpoints: ["h1:eth1", "sw1:p1"]
        """
    )
    text = dumps_clab(t)
    sw = yaml.safe_load(text)["topology"]["nodes"]["sw1"]
    assert sw["kind"] == "linux" and sw["image"] == EXPORT_IMAGE
    assert sw["exec"] == [
        "ip link add name br0 type bridge",
        "ip link set dev br0 type bridge stp_state 1",
        "ip link set dev br0 up",
        "ip link set dev p1 master br0",
    ]
    assert sw["labels"]["topolab.kind"] == "switch"
    assert "kind: bridge" not in text
    assert "containerlab's kind bridge would need that bridge to exist on the host" in text
    again, warnings = import_clab(text)
    assert again == t and warnings == []
    s = again.node("sw1")
    assert s is not None and s.kind == "switch" and s.stp and s.bridges == ()


def test_export_states_the_generated_image_and_what_it_drops() -> None:
    t = Topology.model_validate(
        {
            "name": "tun",
            "description": "a lab",
            "nodes": [
                {"name": "a", "interfaces": [{"name": "eth0"}, {"name": "tun0"}], "host": "h1"},
                {"name": "b", "interfaces": [{"name": "eth0", "description": "uplink"}]},
            ],
            "links": [
                {"kind": "veth", "a": "a:eth0", "b": "b:eth0", "rate_mbit": 10},
                {"kind": "tun", "endpoint": "a:tun0"},
            ],
        }
    )
    doc, warnings = export_clab(t)
    assert {(w.path, w.code) for w in warnings} == {
        ("links[0].rate_mbit", "clab.not_carried"),
        ("links[1]", "clab.not_carried"),
        ("nodes[0].interfaces[1]", "clab.not_carried"),
        ("nodes[0].host", "clab.not_carried"),
        ("nodes[1].interfaces[0].description", "clab.not_carried"),
        ("description", "clab.not_carried"),
    }
    text = dumps_clab(t)
    assert f"# generated: every node is kind linux with image {EXPORT_IMAGE}" in text
    assert "# not carried: links[1]" in text
    assert all(
        n["labels"]["topolab.generated"] == "image" for n in doc["topology"]["nodes"].values()
    )


def test_a_users_own_image_is_reported_even_with_topolab_labels() -> None:
    _, warnings = clab(
        f"""
        name: own
        topology:
          nodes:
            a: {{kind: linux, image: {EXPORT_IMAGE}, labels: {{topolab.kind: router}}}}
        """
    )
    assert ("topology.nodes.a.image", "clab.not_carried") in warnings


def test_export_writes_vxlan_links_as_devices_made_in_the_node() -> None:
    t = load_topology(
        json.loads((FIXTURES / "topologies/valid/demo-vxlan-overlay.json").read_text())
    )
    doc, _ = export_clab(t)
    lines = [line for n in doc["topology"]["nodes"].values() for line in n.get("exec", [])]
    vx = [line for line in lines if "type vxlan" in line]
    assert vx and all(" dstport " in line for line in vx)
    again, _ = import_clab(dumps_clab(t))
    assert canonical(again) == canonical(t.model_copy(update={"description": ""}))


# -- inheritance -----------------------------------------------------------------------


LEVELS = """
name: levels
topology:
  defaults: {kind: linux, image: img-defaults, exec: ["ip route add default via 10.0.0.4"]}
  kinds:
    linux: {image: img-kind, exec: ["ip link set dev eth1 mtu 1450"]}
  groups:
    g: {image: img-group, labels: {topolab.kind: router}, exec: ["sysctl -w net.ipv4.ip_forward=0"]}
  nodes:
    n: {group: g, image: img-node, exec: ["ip addr add 10.0.0.1/24 dev eth1"]}
    m: {kind: linux, exec: ["ip addr add 10.0.0.2/24 dev eth1"]}
  links:
    - endpoints: ["n:eth1", "m:eth1"]
"""


def image_paths(text: str) -> set[str]:
    _, warnings = clab(text)
    return {p for p, c in warnings if p.endswith(".image") and c == "clab.not_carried"}


def test_a_setting_comes_from_the_node_then_group_then_kind_then_defaults() -> None:
    # n is in group g and of kind linux; m is of kind linux only.
    assert image_paths(LEVELS) == {"topology.nodes.n.image", "topology.kinds.linux.image"}
    no_node = LEVELS.replace(", image: img-node", "")
    assert image_paths(no_node) == {"topology.groups.g.image", "topology.kinds.linux.image"}
    no_group = no_node.replace("image: img-group, ", "")
    assert image_paths(no_group) == {"topology.kinds.linux.image"}
    no_kind = no_group.replace("linux: {image: img-kind, ", "linux: {")
    assert image_paths(no_kind) == {"topology.defaults.image"}


def test_exec_lines_of_every_level_run_general_first() -> None:
    t, _ = clab(LEVELS)
    n, m = t.node("n"), t.node("m")
    assert n is not None and m is not None
    # defaults: the gateway; kind: MTU 1450; group: forwarding off, then the node's address.
    assert str(n.gateway) == "10.0.0.4" and str(m.gateway) == "10.0.0.4"
    assert n.interfaces[0].mtu == 1450 and m.interfaces[0].mtu == 1450
    assert n.kind == "router" and n.forwarding is False  # the group's label, the group's sysctl
    assert m.kind == "host" and m.forwarding is None
    assert [str(a) for a in n.interfaces[0].addresses] == ["10.0.0.1/24"]


def test_labels_merge_key_by_key_the_most_specific_winning() -> None:
    t, _ = clab(
        """
        name: labels
        topology:
          defaults:
            kind: linux
            labels: {topolab.kind: router, topolab.description: from defaults}
          groups:
            hosts: {labels: {topolab.kind: host}}
          nodes:
            a: {group: hosts}
            b: {labels: {topolab.description: mine}}
        """
    )
    a, b = t.node("a"), t.node("b")
    assert a is not None and (a.kind, a.description) == ("host", "from defaults")
    assert b is not None and (b.kind, b.description) == ("router", "mine")


def test_the_kind_comes_from_the_node_group_defaults_group_then_defaults() -> None:
    text = """
    name: kinds
    topology:
      defaults: {kind: nokia_srlinux, group: dg}
      groups:
        g: {kind: arista_ceos}
        dg: {kind: juniper_crpd}
      nodes:
        own: {kind: linux}
        grouped: {group: g}
        plain: {}
    """
    _, warnings = import_clab(textwrap.dedent(text))
    unsupported = {w.path: w.message for w in warnings if w.code == "clab.kind_unsupported"}
    assert set(unsupported) == {"topology.groups.g.kind", "topology.groups.dg.kind"}
    assert "node grouped has kind arista_ceos" in unsupported["topology.groups.g.kind"]
    assert "node plain has kind juniper_crpd" in unsupported["topology.groups.dg.kind"]
    no_defaults_group = text.replace(", group: dg", "")
    _, warnings = import_clab(textwrap.dedent(no_defaults_group))
    paths = {w.path for w in warnings if w.code == "clab.kind_unsupported"}
    assert "topology.defaults.kind" in paths


def test_unused_kinds_and_groups_are_named() -> None:
    _, warnings = clab(
        """
        name: unused
        topology:
          kinds: {arista_ceos: {image: ceos}}
          groups: {nobody: {image: x}}
          nodes:
            a: {kind: linux}
        """
    )
    assert ("topology.kinds.arista_ceos", "clab.unused") in warnings
    assert ("topology.groups.nobody", "clab.unused") in warnings


# -- environment variables -------------------------------------------------------------


ENV = """
name: ${LAB:=envlab}
topology:
  nodes:
    a:
      kind: ${KIND:-linux}
      exec: ["ip addr add ${ADDR:-10.0.0.1/24} dev eth1"]
    b: {kind: linux}
  links:
    - endpoints: ["a:eth1", "b:${IF:=eth1}"]
      mtu: ${MTU:=1450}
"""


def test_defaults_apply_and_each_variable_used_is_named() -> None:
    t, warnings = clab(ENV)
    assert t.name == "envlab"
    a = t.node("a")
    assert a is not None and a.kind == "host" and str(a.interfaces[0].addresses[0]) == "10.0.0.1/24"
    assert t.links[0].kind == "veth" and t.links[0].mtu == 1450  # a number once substituted
    assert {(p, c) for p, c in warnings if c.startswith("clab.env")} == {
        ("name", "clab.env_default"),
        ("topology.nodes.a.kind", "clab.env_default"),
        ("topology.nodes.a.exec[0]", "clab.env_default"),
        ("topology.links[0].endpoints[1]", "clab.env_default"),
        ("topology.links[0].mtu", "clab.env_default"),
    }


def test_values_given_to_the_import_are_used_and_named() -> None:
    t, warnings = clab(ENV, env={"LAB": "given", "MTU": "9000", "IF": "eth7"})
    assert t.name == "given" and t.links[0].mtu == 9000
    assert str(t.links[0].b) == "b:eth7"  # type: ignore[union-attr]
    assert ("name", "clab.env_set") in warnings and (
        "topology.links[0].mtu",
        "clab.env_set",
    ) in warnings


def test_empty_values_differ_between_dash_and_colon_dash() -> None:
    text = "name: x${A-dash}${B:-colon}\ntopology: {nodes: {n: {kind: linux}}}\n"
    t, _ = clab(text, env={"A": "", "B": ""})
    assert t.name == "xcolon"


def test_the_process_environment_is_never_read(monkeypatch: pytest.MonkeyPatch) -> None:
    # Attack: a user's file names a server variable to read it back through the lab name.
    monkeypatch.setenv("TOPOLAB_SECRET", "s3cret")
    t, warnings = clab("name: ${TOPOLAB_SECRET:-safe}\ntopology: {nodes: {n: {kind: linux}}}\n")
    assert t.name == "safe" and "s3cret" not in json.dumps(to_data(t))
    t, warnings = clab("name: lab-${TOPOLAB_SECRET}\ntopology: {nodes: {n: {kind: linux}}}\n")
    assert t.name == "lab-${TOPOLAB_SECRET}" and ("name", "clab.env_unset") in warnings
    # The API and CLI door: import_text passes no environment either.
    t, _ = import_text(
        "name: ${TOPOLAB_SECRET:-safe}\ntopology: {nodes: {n: {kind: linux}}}\n", "yaml"
    )
    assert t.name == "safe"


def test_escaped_dollars_and_unset_variables_stay_as_containerlab_leaves_them() -> None:
    t, warnings = clab(
        """
        name: cost
        topology:
          nodes:
            a: {kind: linux, labels: {topolab.description: "$$5 and $$HOME, $NOPE, $1"}}
        """
    )
    a = t.node("a")
    assert a is not None and a.description == "$5 and $HOME, $NOPE, $1"
    assert ("topology.nodes.a.labels.topolab.description", "clab.env_unset") in warnings


def test_a_broken_expression_fails_with_its_line() -> None:
    error = failing("name: x\ntopology:\n  nodes:\n    a:\n      kind: ${K:-linux\n")
    [issue] = error.issues
    assert issue.code == "clab.env_syntax" and issue.message.startswith("line 5:")


# -- links -----------------------------------------------------------------------------


def test_extended_endpoints_carry_mac_addresses_and_name_vars() -> None:
    t, warnings = clab(
        """
        name: ext
        topology:
          nodes: {a: {kind: linux}, b: {kind: linux}}
          links:
            - type: veth
              endpoints:
                - {node: a, interface: eth1, mac: "02:00:00:00:00:01", ipv4: 10.0.0.1/24}
                - {node: b, interface: eth1, ipv6: "2001:db8::2/64", vars: {x: 1}}
              mtu: 9000
              vars: {cost: 1}
        """
    )
    a, b = t.node("a"), t.node("b")
    assert a is not None and a.interfaces[0].mac == "02:00:00:00:00:01"
    assert [str(x) for x in a.interfaces[0].addresses] == ["10.0.0.1/24"]
    assert b is not None and [str(x) for x in b.interfaces[0].addresses] == ["2001:db8::2/64"]
    assert t.links[0].kind == "veth" and t.links[0].mtu == 9000
    assert ("topology.links[0].endpoints[1].vars", "clab.not_carried") in warnings
    assert ("topology.links[0].vars", "clab.not_carried") in warnings


@pytest.mark.parametrize("mtu", ["jumbo", "1500.5", True, [1500]])
def test_an_mtu_that_is_not_a_number_is_refused(mtu: object) -> None:
    doc = {
        "name": "m",
        "topology": {
            "nodes": {"a": {"kind": "linux"}, "b": {"kind": "linux"}},
            "links": [{"endpoints": ["a:eth1", "b:eth1"], "mtu": mtu}],
        },
    }
    error = failing(yaml.safe_dump(doc))
    assert [(i.path, i.code) for i in error.issues] == [("topology.links[0].mtu", "clab.bad_value")]


def test_each_documented_link_type_is_read_and_others_refused() -> None:
    assert LINK_TYPES == ("veth", "host", "mgmt-net", "macvlan", "dummy", "vxlan", "vxlan-stitch")
    text = """
    name: types
    topology:
      nodes: {a: {kind: linux}, b: {kind: linux}}
      links:
        - {type: VETH, endpoints: [{node: a, interface: eth1}, {node: b, interface: eth1}]}
        - {type: host, endpoint: {node: a, interface: eth2}, host-interface: a2}
        - {type: mgmt-net, endpoint: {node: a, interface: eth3}, host-interface: a3}
        - {type: macvlan, endpoint: {node: a, interface: eth4}, host-interface: enp1s0}
        - {type: dummy, endpoint: {node: a, interface: eth5}}
        - {type: vxlan, endpoint: {node: b, interface: vx0}, remote: 192.0.2.1, vni: 10}
        - type: vxlan-stitch
          endpoint: {node: b, interface: vx1}
          remote: 192.0.2.2
          vni: 11
          udp-port: 4789
    """
    t, warnings = clab(text)
    kinds = [link.kind for link in t.links]
    assert kinds == ["veth", "dummy", "vxlan", "vxlan"]
    vx = [link for link in t.links if isinstance(link, VxlanLink)]
    assert [(v.vni, v.dstport) for v in vx] == [(10, 14789), (11, 4789)]
    assert [str(ep) for ep in t.links[1].endpoints()] == ["a:eth5"]
    assert [p for p, c in warnings if c == "clab.link_skipped"] == [
        f"topology.links[{i}]" for i in (1, 2, 3)
    ]
    for bogus in ("bogus", "bridge", 7):
        error = failing(
            f"name: b\ntopology:\n  nodes: {{a: {{kind: linux}}}}\n"
            f"  links:\n    - {{type: {bogus}, endpoints: ['a:eth1', 'a:eth2']}}\n"
        )
        assert [(i.path, i.code) for i in error.issues] == [
            ("topology.links[0].type", "clab.link_type")
        ]


def test_a_link_to_an_unknown_node_is_refused_as_containerlab_does() -> None:
    error = failing(
        "name: u\ntopology:\n  nodes: {a: {kind: linux}}\n"
        "  links:\n    - endpoints: [a:eth1, ghost:eth1]\n"
    )
    assert [(i.path, i.code) for i in error.issues] == [
        ("topology.links[0].endpoints[1]", "clab.unknown_node")
    ]


def test_interface_names_the_kernel_refuses_are_mapped_and_kept_as_alias() -> None:
    t, warnings = clab(
        """
        name: alias
        topology:
          nodes: {srl: {kind: nokia_srlinux}, ceos: {kind: arista_ceos}}
          links:
            - endpoints: ["srl:ethernet-1/1", "ceos:Ethernet1/1"]
            - endpoints: ["srl:e1-1", "ceos:GigabitEthernet0/0/0/12"]
        """
    )
    srl, ceos = t.node("srl"), t.node("ceos")
    assert srl is not None and ceos is not None
    assert [(i.name, i.alias) for i in srl.interfaces] == [
        ("ethernet-1-1", "ethernet-1/1"),
        ("e1-1", None),
    ]
    assert [(i.name, i.alias) for i in ceos.interfaces] == [
        ("Ethernet1-1", "Ethernet1/1"),
        ("Gi0-0-0-12", "GigabitEthernet0/0/0/12"),
    ]
    assert [p for p, c in warnings if c == "clab.interface_renamed"] == [
        "topology.links[0].endpoints[0]",
        "topology.links[0].endpoints[1]",
        "topology.links[1].endpoints[1]",
    ]
    # The alias survives an export (as a label) and a new import.
    again, again_warnings = import_clab(dumps_clab(t))
    assert again == t and again_warnings == []


def test_exec_lines_find_mapped_interfaces_by_their_original_name() -> None:
    t, _ = clab(
        """
        name: m
        topology:
          nodes:
            a: {kind: linux, exec: ["ip addr add 10.0.0.1/24 dev e1/1"]}
            b: {kind: linux}
          links:
            - endpoints: ["a:e1/1", "b:eth1"]
        """
    )
    a = t.node("a")
    assert a is not None and (a.interfaces[0].name, str(a.interfaces[0].addresses[0])) == (
        "e1-1",
        "10.0.0.1/24",
    )


def test_node_names_with_pipes_are_mapped_like_interfaces() -> None:
    t, warnings = clab(
        """
        name: pipes
        topology:
          nodes: {"a|1": {kind: linux}, "a-1": {kind: linux}, "b|2": {kind: linux}}
          links:
            - endpoints: ["a|1:eth1", "b|2:eth1"]
        """
    )
    assert [n.name for n in t.nodes] == ["a-1-cfbd", "a-1", "b-2"]
    assert [n.description for n in t.nodes] == [
        "containerlab name: a|1",
        "",
        "containerlab name: b|2",
    ]
    assert str(t.links[0].a) == "a-1-cfbd:eth1"  # type: ignore[union-attr]
    assert [p for p, c in warnings if c == "clab.node_renamed"] == [
        "topology.nodes.a|1",
        "topology.nodes.b|2",
    ]


def test_kind_bridge_says_it_is_a_host_bridge_in_containerlab() -> None:
    t, warnings = clab("name: b\ntopology:\n  nodes: {br: {kind: bridge}}\n")
    node = t.node("br")
    assert node is not None and node.kind == "switch"
    assert ("topology.nodes.br.kind", "clab.host_bridge") in warnings


# -- exec lines ------------------------------------------------------------------------


def test_exec_forms_people_write_become_addresses_routes_and_links() -> None:
    t, warnings = clab(
        """
        name: forms
        topology:
          nodes:
            r:
              kind: linux
              sysctls: {net.ipv4.ip_forward: 1}
              exec:
                - ip addr add dev eth1 10.0.0.1/24
                - ip a add 10.0.1.1/24 dev eth2
                - ip link set address 02:00:00:00:00:09 dev eth1
                - ip -6 route add 2001:db8:9::/64 via 2001:db8::2
                - ip -6 a a 2001:db8::1/64 dev eth1
                - >-
                  sh -c 'ip link set eth2 mtu 1400 && ip r a 10.9.0.0/16 via 10.0.1.2;
                  ip link set eth2 up || true'
            h:
              kind: linux
              exec:
                - bash -lc "ip addr add 10.0.0.2/24 dev eth1 >/dev/null 2>&1"
                - ip route add default via 10.0.0.1
            g: {kind: linux, exec: ["ip address add 10.0.1.2/24 dev eth1"]}
          links:
            - endpoints: ["r:eth1", "h:eth1"]
            - endpoints: ["r:eth2", "g:eth1"]
        """
    )
    assert [c for _, c in warnings] == []
    r, h = t.node("r"), t.node("h")
    assert r is not None and h is not None
    eth1, eth2 = r.interfaces
    assert [str(a) for a in eth1.addresses] == ["10.0.0.1/24", "2001:db8::1/64"]
    assert eth1.mac == "02:00:00:00:00:09" and eth2.mtu == 1400
    assert [(str(x.dst), str(x.via)) for x in r.routes] == [
        ("2001:db8:9::/64", "2001:db8::2"),
        ("10.9.0.0/16", "10.0.1.2"),
    ]
    assert r.forwarding is True
    assert str(h.gateway) == "10.0.0.1" and [str(a) for a in h.interfaces[0].addresses] == [
        "10.0.0.2/24"
    ]


def test_steps_of_a_shell_line_that_are_not_understood_are_named() -> None:
    t, warnings = import_clab(
        "name: s\ntopology:\n  nodes:\n    a:\n      kind: linux\n      exec:\n"
        "        - \"ash -c 'apk add tcpdump && ip addr add 10.0.0.1/24 dev eth1 "
        "&& ip a | grep x'\"\n"
        "    b: {kind: linux}\n  links:\n    - endpoints: [a:eth1, b:eth1]\n"
    )
    a = t.node("a")
    assert a is not None and [str(x) for x in a.interfaces[0].addresses] == ["10.0.0.1/24"]
    steps = [w.message for w in warnings if w.code == "clab.exec_not_understood"]
    assert len(steps) == 2
    assert "'apk add tcpdump'" in steps[0] and "installs software" in steps[0]
    assert "'|'" in steps[1]
    assert {w.path for w in warnings if w.code == "clab.exec_not_understood"} == {
        "topology.nodes.a.exec[0]"
    }


def test_exec_on_a_skipped_link_or_no_device_is_not_counted_as_understood() -> None:
    t, warnings = clab(
        """
        name: sk
        topology:
          nodes:
            a:
              kind: linux
              exec:
                - ip addr add 10.0.0.1/24 dev eth1
                - ip addr add 10.1.0.1/24 dev eth2
                - ip route add 10.2.0.0/16 via 10.1.0.254 dev eth2
                - ip addr add 10.3.0.1/24 dev eth3
            b: {kind: linux}
          links:
            - endpoints: ["a:eth1", "b:eth1"]
            - endpoints: ["a:eth2", "host:a-eth2"]
        """
    )
    a = t.node("a")
    assert a is not None and [i.name for i in a.interfaces] == ["eth1"] and a.routes == ()
    assert ("topology.nodes.a.exec[1]", "clab.exec_on_skipped_link") in warnings
    assert ("topology.nodes.a.exec[2]", "clab.exec_on_skipped_link") in warnings
    assert ("topology.nodes.a.exec[3]", "clab.exec_no_device") in warnings


def test_bridges_and_vxlan_devices_made_by_exec() -> None:
    t, warnings = clab(
        """
        name: bv
        topology:
          nodes:
            hv:
              kind: linux
              exec:
                - ip link add br0 type bridge stp_state 1
                - ip link add vx0 type vxlan id 7 remote 10.0.0.2 dev eth1
                - ip addr add 10.0.0.1/24 dev eth1
                - ip link set vx0 master br0
                - ip link set eth2 master br0 up
                - ip addr add 192.168.7.1/24 dev br0
            peer: {kind: linux, exec: ["ip addr add 10.0.0.2/24 dev eth1"]}
            guest: {kind: linux}
          links:
            - endpoints: ["hv:eth1", "peer:eth1"]
            - endpoints: ["hv:eth2", "guest:eth1"]
        """
    )
    assert warnings == []
    hv = t.node("hv")
    assert hv is not None and [(b.name, b.stp) for b in hv.bridges] == [("br0", True)]
    assert {i.name: i.bridge for i in hv.interfaces} == {"eth1": None, "eth2": "br0", "vx0": "br0"}
    [vx] = [link for link in t.links if isinstance(link, VxlanLink)]
    assert (vx.vni, str(vx.remote), vx.underlay, vx.dstport) == (7, "10.0.0.2", "eth1", 8472)


# -- failing imports -------------------------------------------------------------------


def test_a_go_template_is_named_in_one_line() -> None:
    text = (CLAB / "go-template.clab.yml").read_text()
    for fmt in ("clab", "yaml", "json"):
        with pytest.raises(TopologyError) as caught:
            import_text(text, fmt)
        [issue] = caught.value.issues
        assert issue.code == "clab.go_template" and "\n" not in issue.message
        assert "render it first" in issue.message


def test_a_failing_import_keeps_its_warnings_and_names_places_in_the_file() -> None:
    with pytest.raises(TopologyError) as caught:
        import_text((CLAB / "failing-with-warnings.clab.yml").read_text(), "clab")
    error = caught.value
    assert [i.path for i in error.issues] == [
        "topology.links[2].endpoints[1]",
        "topology.nodes.h1.exec[2]",
    ]
    for issue in error.issues:  # no path of the converted document leaks into the text
        assert "nodes[" not in issue.message and "links[" not in issue.message.replace(
            "topology.links[", ""
        )
    assert ("mgmt", "clab.not_carried") in [(w.path, w.code) for w in error.warnings]
    assert len(error.warnings) >= 5


def test_an_error_of_the_shape_is_mapped_to_the_file_too() -> None:
    error = failing(
        """
        name: mac
        topology:
          nodes: {a: {kind: linux}, b: {kind: linux}}
          links:
            - type: veth
              endpoints: [{node: a, interface: eth1, mac: "nonsense"}, {node: b, interface: eth1}]
        """
    )
    assert [i.path for i in error.issues] == ["topology.links[0].endpoints[0].mac"]


@pytest.mark.parametrize(
    "text",
    ["name: x\n", "- a\n", "name: x\ntopology:\n  links: []\n", "topology: {nodes: [a, b]}\n"],
)
def test_not_a_containerlab_file(text: str) -> None:
    with pytest.raises(TopologyError) as caught:
        import_clab(text)
    assert caught.value.issues


# -- telling containerlab by content ---------------------------------------------------


def test_a_containerlab_file_is_told_by_its_topology_mapping_whatever_its_name() -> None:
    text = (CLAB / "content-detected.yaml").read_text()
    by_yaml, warnings = import_text(text, "yaml")
    by_json, _ = import_text(text, "json")  # what the CLI picks for a name it does not know
    by_clab, _ = import_text(text, "clab")
    assert by_yaml == by_json == by_clab and {n.name for n in by_yaml.nodes} == {
        "n1",
        "n2",
        "lonely",
    }
    assert warnings  # images are named: it was read as containerlab, not as Topolab YAML
    json_text = json.dumps(yaml.safe_load(text))
    assert import_text(json_text, "json")[0] == by_yaml


def test_a_topolab_document_is_not_taken_for_containerlab() -> None:
    doc = {"name": "t", "nodes": [{"name": "a"}], "links": []}
    topology, warnings = import_text(yaml.safe_dump(doc), "yaml")
    assert topology.name == "t" and warnings == []
    with pytest.raises(TopologyError) as caught:  # a Topolab document with a stray key
        import_text(json.dumps({**doc, "topology": "x"}), "json")
    assert caught.value.issues[0].code == "schema.extra_forbidden"


# -- robustness ------------------------------------------------------------------------


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 70000),
    st.sampled_from(["eth1", "a:eth1", "br", "", "${X:-1}"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(["node", "interface", "mac", "ipv4"]), inner, max_size=3),
    ),
    max_leaves=8,
)
exec_lines = st.lists(
    st.one_of(
        st.sampled_from(
            [
                "ip addr add 10.0.0.1/24 dev eth1",
                "ip a a 10.0.0.1 dev eth1",
                "ip -6 route add default via fe80::1",
                "ip route add default via 10.0.0.9",
                "ip route add 10.1.0.1/24 via 10.0.0.2",
                "ip link set dev eth1 master br9",
                "ip link set eth1 mtu big",
                "ip link add br9 type bridge",
                "ip link add vx type vxlan id 5 remote 10.0.0.2",
                "sysctl -w net.ipv4.ip_forward=2",
                "sh -c 'ip addr add 10.0.0.1/24 dev eth1 && ip link set eth1 up'",
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
        "group": st.sampled_from(["g", "none", 3]),
        "labels": st.one_of(
            values,
            st.dictionaries(
                st.sampled_from(["topolab.kind", "topolab.addresses", "topolab.interfaces", "x"]),
                st.sampled_from(
                    ["router", "eth1=10.0.0.1/24", "1,2", "bad", "eth1=x", "eth1=eth0"]
                ),
            ),
        ),
        "exec": st.one_of(exec_lines, values),
        "image": values,
        "sysctls": st.one_of(values, st.just({"net.ipv4.ip_forward": 1})),
    },
)
clab_doc = st.fixed_dictionaries(
    {
        "topology": st.fixed_dictionaries(
            {
                "nodes": st.dictionaries(
                    st.sampled_from(["a", "b", "c|d"]), st.one_of(node_spec, values)
                )
            },
            optional={
                "groups": st.dictionaries(st.sampled_from(["g"]), st.one_of(node_spec, values)),
                "defaults": st.one_of(node_spec, values),
                "links": st.one_of(
                    values,
                    st.lists(
                        st.one_of(
                            st.fixed_dictionaries(
                                {
                                    "endpoints": st.lists(
                                        st.sampled_from(
                                            ["a:eth1", "b:eth1", "c|d:e/1", "x:y", "a", "host:h1"]
                                        ),
                                        max_size=3,
                                    )
                                },
                                optional={
                                    "mtu": scalars,
                                    "type": st.sampled_from(["veth", "host", "dummy", "bogus"]),
                                },
                            ),
                            st.fixed_dictionaries(
                                {"type": st.sampled_from(["vxlan", "macvlan"]), "endpoint": values},
                                optional={"remote": scalars, "vni": scalars},
                            ),
                            values,
                        ),
                        max_size=4,
                    ),
                ),
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
        assert exc.issues and all(i.path for i in exc.issues)
        return
    assert isinstance(topology, Topology)
    assert all(w.message and w.path for w in warnings)


def test_an_interface_alias_is_one_line_of_text() -> None:
    base = {"name": "a", "nodes": [{"name": "n", "interfaces": [{"name": "e1-1"}]}]}
    ok = json.loads(json.dumps(base))
    ok["nodes"][0]["interfaces"][0]["alias"] = "ethernet-1/1"
    assert load_topology(ok).nodes[0].interfaces[0].alias == "ethernet-1/1"
    for bad in ("eth\n# injected: line", "tab\there", "", "x" * 128):
        doc = json.loads(json.dumps(base))
        doc["nodes"][0]["interfaces"][0]["alias"] = bad
        with pytest.raises(TopologyError) as caught:
            load_topology(doc)
        assert caught.value.issues[0].path == "nodes[0].interfaces[0].alias"


def test_bytes_are_read_as_utf8_and_other_bytes_refused() -> None:
    text = "name: b\ntopology:\n  nodes: {n: {kind: linux}}\n"
    assert import_clab(text.encode())[0].name == "b"
    with pytest.raises(TopologyError) as caught:
        import_clab(b"name: \xff\ntopology: {nodes: {}}\n")
    assert [i.code for i in caught.value.issues] == ["syntax.encoding"]


def test_import_text_passes_the_given_environment() -> None:
    text = "name: ${N:-d}\ntopology:\n  nodes: {n: {kind: linux}}\n"
    assert import_text(text, "clab", env={"N": "given"})[0].name == "given"
    assert import_text(text, "yaml", env={"N": "given"})[0].name == "given"
    assert import_text(text, "yaml")[0].name == "d"
