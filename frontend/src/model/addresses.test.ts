import { describe, expect, it } from "vitest";
import { interfaceAddresses, linkSubnets, nodeAddressLines, subnetOf } from "./addresses";
import type { Topology } from "./types";

describe("subnetOf", () => {
  it("reads IPv4 networks", () => {
    expect(subnetOf("10.0.1.7/24")).toBe("10.0.1.0/24");
    expect(subnetOf("192.168.5.130/25")).toBe("192.168.5.128/25");
    expect(subnetOf("10.0.0.5/30")).toBe("10.0.0.4/30");
    expect(subnetOf("8.8.8.8/32")).toBe("8.8.8.8/32");
    expect(subnetOf("1.2.3.4/0")).toBe("0.0.0.0/0");
  });
  it("reads IPv6 networks in their shortest form", () => {
    expect(subnetOf("2001:db8:0:1::7/64")).toBe("2001:db8:0:1::/64");
    expect(subnetOf("fd00::1/48")).toBe("fd00::/48");
    expect(subnetOf("2001:db8:ab:cd:1:2:3:4/56")).toBe("2001:db8:ab::/56");
  });
  it("refuses what is not an interface address", () => {
    for (const bad of ["10.0.0.1", "10.0.0.300/24", "10.0.0.1/33", "fd00::1/129", "1:2:3::4::5/64", "x/24", "10.0.0.1/24/1"]) {
      expect(subnetOf(bad)).toBeNull();
    }
  });
});

const doc: Topology = {
  name: "t",
  nodes: [
    { name: "h1", kind: "host", interfaces: [{ name: "eth0", addresses: ["10.0.1.2/24", "fd00:1::2/64"] }] },
    { name: "s1", kind: "switch", interfaces: [{ name: "eth0" }, { name: "eth1" }] },
    { name: "h2", kind: "host", interfaces: [{ name: "eth0" }] },
  ],
  links: [
    { kind: "veth", a: { node: "h1", interface: "eth0" }, b: { node: "s1", interface: "eth0" } },
    { kind: "veth", a: { node: "h2", interface: "eth0" }, b: { node: "s1", interface: "eth1" } },
  ],
};
const auto = { nodes: { h2: { interfaces: { eth0: ["10.0.1.3/24"] } } } };

describe("addresses on the canvas", () => {
  it("shows typed addresses, then automatic ones marked auto", () => {
    expect(interfaceAddresses(doc.nodes[0], "eth0", auto)).toEqual([
      { address: "10.0.1.2/24", auto: false },
      { address: "fd00:1::2/64", auto: false },
    ]);
    expect(nodeAddressLines(doc.nodes[2], auto)).toEqual([{ iface: "eth0", addresses: [{ address: "10.0.1.3/24", auto: true }] }]);
    expect(nodeAddressLines(doc.nodes[2], null)).toEqual([]);
    expect(nodeAddressLines(doc.nodes[1], auto)).toEqual([]); // switch ports have none
  });
  it("names each link's subnets once, automatic addressing included", () => {
    expect(linkSubnets(doc, 0, null)).toEqual(["10.0.1.0/24", "fd00:1::/64"]);
    expect(linkSubnets(doc, 1, auto)).toEqual(["10.0.1.0/24"]);
    expect(linkSubnets(doc, 1, null)).toEqual([]);
    expect(linkSubnets(doc, 9, null)).toEqual([]);
  });
});
