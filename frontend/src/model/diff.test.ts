import { describe, expect, it } from "vitest";
import { changeSummary, diffTopologies, linkKey } from "./diff";
import type { Topology } from "./types";

const running: Topology = {
  name: "routed",
  nodes: [
    { name: "h1", kind: "host", interfaces: [{ name: "eth0", addresses: ["10.0.1.2/24"] }], gateway: "10.0.1.1", position: { x: 0, y: 0 } },
    { name: "r1", kind: "router", interfaces: [{ name: "eth0", addresses: ["10.0.1.1/24"] }, { name: "eth1", addresses: ["10.0.2.1/24"] }] },
    { name: "h2", kind: "host", interfaces: [{ name: "eth0", addresses: ["10.0.2.2/24"] }], gateway: "10.0.2.1" },
  ],
  links: [
    { kind: "veth", a: { node: "h1", interface: "eth0" }, b: { node: "r1", interface: "eth0" } },
    { kind: "veth", a: { node: "r1", interface: "eth1" }, b: { node: "h2", interface: "eth0" } },
  ],
};
const copy = (t: Topology): Topology => JSON.parse(JSON.stringify(t));

describe("diffTopologies", () => {
  it("finds nothing when only the layout and descriptions moved", () => {
    const d = copy(running);
    d.nodes[0].position = { x: 300, y: 40 };
    d.nodes[1].description = "the router";
    d.nodes[2].routes = []; // absent and empty are the same to the kernel
    expect(diffTopologies(running, d)).toEqual([]);
    expect(changeSummary([])).toBe("no changes");
  });

  it("names a created node, its interface and link, and the removed ones", () => {
    const d = copy(running);
    d.nodes = d.nodes.filter((n) => n.name !== "h2");
    d.links = d.links.slice(0, 1);
    d.nodes[1].interfaces = d.nodes[1].interfaces.filter((i) => i.name !== "eth1");
    d.nodes.push({ name: "h3", kind: "host", interfaces: [{ name: "eth0", addresses: ["10.0.3.2/24"] }] });
    d.nodes[1].interfaces.push({ name: "eth2", addresses: ["10.0.3.1/24"] });
    d.links.push({ kind: "veth", a: { node: "r1", interface: "eth2" }, b: { node: "h3", interface: "eth0" } });
    const c = diffTopologies(running, d);
    expect(c).toEqual([
      { op: "create", subject: "interface", name: "r1 › eth2", details: ["addresses: none → 10.0.3.1/24"] },
      { op: "remove", subject: "interface", name: "r1 › eth1", details: [] },
      { op: "create", subject: "node", name: "h3", details: ["host, interfaces eth0"] },
      { op: "remove", subject: "node", name: "h2", details: [] },
      { op: "create", subject: "link", name: "veth h3:eth0 – r1:eth2", details: [] },
      { op: "remove", subject: "link", name: "veth h2:eth0 – r1:eth1", details: [] },
    ]);
    expect(changeSummary(c)).toBe("3 to create, 3 to remove");
  });

  it("reports changed fields with before and after", () => {
    const d = copy(running);
    d.nodes[0].gateway = "10.0.1.254";
    d.nodes[0].interfaces[0].addresses = ["10.0.1.2/24", "10.0.1.3/24"];
    d.nodes[0].interfaces[0].mtu = 1400;
    d.nodes[1].routes = [{ dst: "10.9.0.0/16", via: "10.0.2.2" }];
    (d.links[0] as { rate_mbit?: number }).rate_mbit = 10;
    d.addressing = { auto: true };
    const c = diffTopologies(running, d);
    expect(c).toEqual([
      { op: "change", subject: "node", name: "h1", details: ["gateway: 10.0.1.1 → 10.0.1.254"] },
      { op: "change", subject: "interface", name: "h1 › eth0", details: ["addresses: 10.0.1.2/24 → 10.0.1.2/24, 10.0.1.3/24", "mtu: none → 1400"] },
      { op: "change", subject: "node", name: "r1", details: ["routes: none → 10.9.0.0/16 via 10.0.2.2"] },
      { op: "change", subject: "link", name: "veth h1:eth0 – r1:eth0", details: ["rate_mbit: none → 10"] },
      { op: "change", subject: "addressing", name: "addressing", details: ["auto: none → true"] },
    ]);
    expect(changeSummary(c)).toBe("5 to change");
  });

  it("rebuilds a node whose kind changed, and keeps a link drawn the other way round", () => {
    const d = copy(running);
    d.nodes[2].kind = "router";
    d.links[1] = { kind: "veth", a: { node: "h2", interface: "eth0" }, b: { node: "r1", interface: "eth1" } };
    expect(diffTopologies(running, d)).toEqual([
      { op: "remove", subject: "node", name: "h2", details: ["was a host"] },
      { op: "create", subject: "node", name: "h2", details: ["now a router"] },
    ]);
  });

  it("keys single-ended links by their one endpoint", () => {
    expect(linkKey({ kind: "vxlan", endpoint: { node: "h2", interface: "vxlan0" }, vni: 7 })).toBe("vxlan h2:vxlan0");
    const d = copy(running);
    d.links.push({ kind: "vxlan", endpoint: { node: "h2", interface: "vxlan0" }, vni: 7 });
    const r = copy(d);
    (d.links[2] as { vni: number }).vni = 8;
    expect(diffTopologies(r, d)).toEqual([{ op: "change", subject: "link", name: "vxlan h2:vxlan0", details: ["vni: 7 → 8"] }]);
  });
});
