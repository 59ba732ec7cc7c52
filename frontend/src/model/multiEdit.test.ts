import { describe, expect, it } from "vitest";
import { align, common, setDescription, setGateway, setKind, setMtu } from "./multiEdit";
import type { Topology } from "./types";

const doc: Topology = {
  name: "t",
  nodes: [
    { name: "h1", kind: "host", position: { x: 0, y: 10 }, gateway: "10.0.0.1", interfaces: [{ name: "eth0", mtu: 1400 }] },
    { name: "h2", kind: "host", position: { x: 300, y: 50 }, interfaces: [{ name: "eth0" }, { name: "eth1" }] },
    { name: "s1", kind: "switch", position: { x: 100, y: 90 }, interfaces: [{ name: "eth0" }] },
    { name: "r9", kind: "router", position: { x: 900, y: 900 }, interfaces: [] },
  ],
  links: [],
};
const picked = ["h1", "h2", "s1"];

describe("editing several nodes at once", () => {
  it("reads a shared value or says mixed", () => {
    expect(common(doc, ["h1", "h2"], (n) => n.kind)).toBe("host");
    expect(common(doc, picked, (n) => n.kind)).toBe("mixed");
    expect(common(doc, [], (n) => n.kind)).toBeUndefined();
  });
  it("changes only the selected nodes, never a switch's kind", () => {
    const next = setKind(doc, picked, "router");
    expect(next.nodes.map((n) => n.kind)).toEqual(["router", "router", "switch", "router"]);
  });
  it("sets and clears the gateway of hosts, leaving switches and others alone", () => {
    const set = setGateway(doc, picked, "10.0.0.254");
    expect(set.nodes.map((n) => n.gateway)).toEqual(["10.0.0.254", "10.0.0.254", undefined, undefined]);
    const cleared = setGateway(doc, ["h1"], null);
    expect("gateway" in cleared.nodes[0]).toBe(false);
  });
  it("sets one MTU on every interface of the selection, or clears it", () => {
    const set = setMtu(doc, ["h1", "h2"], 9000);
    expect(set.nodes.flatMap((n) => n.interfaces.map((i) => i.mtu))).toEqual([9000, 9000, 9000, undefined]);
    expect(setMtu(doc, ["h1"], null).nodes[0].interfaces[0]).toEqual({ name: "eth0" });
    expect(setDescription(doc, ["s1"], "core").nodes[2].description).toBe("core");
  });
  it("aligns the selection in a row at their mean height, in their x order", () => {
    const row = align(doc, picked, "row");
    expect(row.nodes.slice(0, 3).map((n) => n.position)).toEqual([
      { x: 0, y: 50 },
      { x: 340, y: 50 },
      { x: 170, y: 50 },
    ]);
    expect(row.nodes[3].position).toEqual({ x: 900, y: 900 });
    const col = align(doc, ["h1", "h2"], "column");
    expect(col.nodes[0].position?.x).toBe(150);
    expect(col.nodes[1].position?.x).toBe(150);
  });
});
