import { describe, expect, it } from "vitest";
import { topologyToGraph, graphToTopology, nodeIds, defaultPosition } from "./convert";
import { issueTarget, issuesByElement } from "./issues";
import { createHistory, push, undo, redo, canUndo, canRedo } from "./history";
import { allocateInterface, nextFreeName, allocateNodeName } from "./ifnames";
import { addNode, connect, attach, deleteElements, renameInterface, updateNode, copySelection, paste } from "./edit";
import type { Topology } from "./types";
import { checkSeq } from "../live/seq";
import { normaliseCounters } from "../live/counters";
import { controlFrame, resizeFrame } from "../live/console";
import { parseRoutes } from "../editor/routes";

const doc: Topology = {
  schema_version: 1,
  name: "demo",
  description: "two hosts and a switch",
  addressing: { auto: true, pool: "10.0.0.0/16" },
  nodes: [
    { name: "h1", kind: "host", interfaces: [{ name: "eth0", addresses: ["10.0.0.1/24"] }], gateway: "10.0.0.254", position: { x: 0, y: 0 } },
    { name: "h2", kind: "host", interfaces: [{ name: "eth0", addresses: ["10.0.0.2/24"] }, { name: "vxlan0" }], position: { x: 200, y: 0 } },
    { name: "s1", kind: "switch", interfaces: [{ name: "eth0" }, { name: "eth1" }], stp: true, position: { x: 100, y: 150 } },
  ],
  links: [
    { kind: "veth", a: { node: "h1", interface: "eth0" }, b: { node: "s1", interface: "eth0" } },
    { kind: "veth", a: { node: "h2", interface: "eth0" }, b: { node: "s1", interface: "eth1" }, mtu: 1400 },
    { kind: "vxlan", endpoint: { node: "h2", interface: "vxlan0" }, vni: 42, remote: "10.0.0.1", dstport: 4789 },
  ],
};

describe("graph <-> topology conversion", () => {
  it("round-trips a document exactly", () => {
    const g = topologyToGraph(doc);
    expect(g.nodes.filter((n) => n.type === "device")).toHaveLength(3);
    expect(g.nodes.filter((n) => n.type === "attach")).toHaveLength(1);
    expect(g.edges.map((e) => [e.id, e.source, e.target])).toEqual([
      ["l0", "n:h1", "n:s1"],
      ["l1", "n:h2", "n:s1"],
      ["l2", "n:h2", "p2"],
    ]);
    expect(graphToTopology(g)).toEqual(doc);
  });

  it("fills in missing positions and keeps unknown fields", () => {
    const bare: Topology = { name: "x", nodes: [{ name: "a", kind: "router", interfaces: [], extra_field: 7 }], links: [] };
    const back = graphToTopology(topologyToGraph(bare));
    expect(back.nodes[0].position).toEqual(defaultPosition(0, 1));
    expect(back.nodes[0].extra_field).toBe(7);
  });

  it("draws vxlan peers with the same VNI as a derived edge that is not a link", () => {
    const t = connect(addNode(addNode(doc, "host", { x: 0, y: 0 }).doc, "host", { x: 1, y: 1 }).doc, "h3", "h4", "vxlan");
    const g = topologyToGraph(t);
    expect(g.edges.filter((e) => e.data.derived === "vxlan-peer")).toHaveLength(1);
    expect(graphToTopology(g).links).toEqual(t.links);
  });

  it("keeps duplicate node names distinct", () => {
    expect(nodeIds({ nodes: [{ name: "a", kind: "host", interfaces: [] }, { name: "a", kind: "host", interfaces: [] }] })).toEqual(["n:a", "n:a#1"]);
  });
});

describe("issue path mapping", () => {
  it("maps an address path to the node and its interface", () => {
    expect(issueTarget("nodes[1].interfaces[0].addresses[1]", doc)).toEqual({
      kind: "node", id: "n:h2", also: [], interface: "eth0", field: ".interfaces[0].addresses[1]",
    });
  });
  it("maps a link end to the edge", () => {
    expect(issueTarget("links[1].b", doc)).toMatchObject({ kind: "edge", id: "l1", also: [], field: ".b" });
  });
  it("maps a single-interface link to its edge and its attachment node", () => {
    expect(issueTarget("links[2].vni", doc)).toMatchObject({ kind: "edge", id: "l2", also: ["p2"] });
  });
  it("returns null for document-level and out-of-range paths", () => {
    expect(issueTarget("name", doc)).toBeNull();
    expect(issueTarget("addressing.pool", doc)).toBeNull();
    expect(issueTarget("nodes[9]", doc)).toBeNull();
    expect(issueTarget("links[7].a", doc)).toBeNull();
  });
  it("groups issues per element", () => {
    const m = issuesByElement(
      [
        { path: "nodes[0].gateway", code: "a", message: "m1" },
        { path: "nodes[0].interfaces[0]", code: "b", message: "m2" },
        { path: "links[2]", code: "c", message: "m3" },
      ],
      doc,
    );
    expect(m.get("n:h1")?.map((i) => i.code)).toEqual(["a", "b"]);
    expect(m.get("p2")?.[0].code).toBe("c");
  });
});

describe("undo/redo history", () => {
  it("undoes and redoes in order and drops the redo branch on a new edit", () => {
    let h = createHistory(1);
    h = push(h, 2);
    h = push(h, 3);
    expect(canRedo(h)).toBe(false);
    h = undo(h);
    expect(h.present).toBe(2);
    h = undo(h);
    expect(h.present).toBe(1);
    expect(canUndo(h)).toBe(false);
    expect(undo(h)).toBe(h);
    h = redo(h);
    expect(h.present).toBe(2);
    h = push(h, 9);
    expect(canRedo(h)).toBe(false);
    expect(h.past).toEqual([1, 2]);
  });
  it("ignores an unchanged value and respects the limit", () => {
    let h = createHistory("a");
    expect(push(h, "a")).toBe(h);
    for (let i = 0; i < 10; i++) h = push(h, `v${i}`, 3);
    expect(h.past).toEqual(["v6", "v7", "v8"]);
  });
});

describe("interface-name allocation", () => {
  it("numbers per node from eth0 and reuses gaps", () => {
    expect(nextFreeName([])).toBe("eth0");
    expect(nextFreeName(["eth0", "eth2"])).toBe("eth1");
    expect(allocateInterface(doc.nodes[2])).toBe("eth2");
    expect(allocateInterface(doc.nodes[1], "vxlan")).toBe("vxlan1");
    expect(allocateInterface(doc.nodes[1], "tap")).toBe("tap0");
    expect(allocateNodeName(["h1", "h2"], "h")).toBe("h3");
  });
  it("connect fills in interfaces on both nodes and a link naming them", () => {
    const t = connect(doc, "h1", "h2");
    expect(t.nodes[0].interfaces.map((i) => i.name)).toEqual(["eth0", "eth1"]);
    expect(t.nodes[1].interfaces.map((i) => i.name)).toEqual(["eth0", "vxlan0", "eth1"]);
    expect(t.links[3]).toEqual({ kind: "veth", a: { node: "h1", interface: "eth1" }, b: { node: "h2", interface: "eth1" } });
  });
  it("a self-link gets two distinct names", () => {
    const t = connect(doc, "s1", "s1");
    expect(t.links[3]).toMatchObject({ a: { interface: "eth2" }, b: { interface: "eth3" } });
  });
  it("attach picks a realized parent for macvlan", () => {
    const t = attach(doc, "h1", "macvlan");
    expect(t.links[3]).toEqual({ kind: "macvlan", endpoint: { node: "h1", interface: "mv0" }, parent: { node: "h1", interface: "eth0" }, mode: "bridge" });
  });
});

describe("document edits", () => {
  it("deleting a node removes its links; the other ends keep their interfaces", () => {
    const t = deleteElements(doc, ["h1"], []);
    expect(t.nodes.map((n) => n.name)).toEqual(["h2", "s1"]);
    expect(t.links).toHaveLength(2);
    expect(t.nodes[1].interfaces.map((i) => i.name)).toEqual(["eth0", "eth1"]);
  });
  it("deleting a link keeps both interfaces and their addresses; drawing it again takes them back", () => {
    const t = deleteElements(doc, [], [1]);
    expect(t.links).toHaveLength(2);
    expect(t.nodes[1].interfaces[0]).toEqual({ name: "eth0", addresses: ["10.0.0.2/24"] });
    expect(t.nodes[2].interfaces.map((i) => i.name)).toEqual(["eth0", "eth1"]);
    const again = connect(t, "h2", "s1");
    expect(again.links[2]).toEqual({ kind: "veth", a: { node: "h2", interface: "eth0" }, b: { node: "s1", interface: "eth1" } });
    expect(again.nodes[1].interfaces).toEqual(t.nodes[1].interfaces); // nothing new made
    // A self-link on a node with one free port takes it and makes one more.
    const self = connect(t, "s1", "s1");
    expect(self.links[2]).toMatchObject({ a: { interface: "eth1" }, b: { interface: "eth2" } });
    // A free vxlan0 is not taken by a veth (name patterns per kind).
    const novx = connect(deleteElements(doc, [], [2]), "h2", "h1");
    expect(novx.links.at(-1)).toMatchObject({ a: { node: "h2", interface: "eth1" } });
  });
  it("renames carry into links", () => {
    const t = renameInterface(updateNode(doc, "h1", { ...doc.nodes[0], name: "web" }), "web", "eth0", "lan0");
    expect(t.links[0]).toMatchObject({ a: { node: "web", interface: "lan0" } });
    expect(t.nodes[0].interfaces[0].name).toBe("lan0");
  });
  it("copy/paste duplicates nodes and inner links with fresh names", () => {
    const clip = copySelection(doc, ["h1", "s1"]);
    expect(clip.links).toHaveLength(1);
    const { doc: t, names } = paste(doc, clip);
    expect(names).toEqual(["h3", "s2"]);
    expect(t.links[3]).toMatchObject({ a: { node: "h3" }, b: { node: "s2" } });
    expect(t.nodes[3].position).toEqual({ x: 40, y: 40 });
  });
});

describe("websocket sequence", () => {
  it("applies the next number, drops old ones and reports gaps", () => {
    expect(checkSeq({ seq: null }, "snapshot", 5)).toBe("apply");
    expect(checkSeq({ seq: 5 }, "counters", 6)).toBe("apply");
    expect(checkSeq({ seq: 5 }, "counters", 5)).toBe("stale");
    expect(checkSeq({ seq: 5 }, "counters", 8)).toBe("gap");
  });
});

describe("counters events", () => {
  it("accepts the agent's rows and the keyed form alike", () => {
    const rows = normaliseCounters([{ node: "h1", interface: "eth0", oper_state: "up", rx_bps: 8 }, { bogus: 1 }]);
    expect(rows).toEqual({ "h1:eth0": { node: "h1", interface: "eth0", oper_state: "up", oper: "up", rx_bps: 8 } });
    expect(normaliseCounters({ "h2:eth1": { oper: "down", tx_bps: 3 } })).toEqual({ "h2:eth1": { oper: "down", tx_bps: 3 } });
    expect(normaliseCounters(undefined)).toEqual({});
  });
});

describe("console framing", () => {
  it("writes resize frames and tells control frames from output", () => {
    expect(JSON.parse(resizeFrame(80, 24))).toEqual({ type: "resize", cols: 80, rows: 24 });
    expect(controlFrame('{"type": "closed"}')).toEqual({ type: "closed" }); // json.dumps spacing
    expect(controlFrame('{"type":"closed"}')).toEqual({ type: "closed" });
    expect(controlFrame('{"type":"error","code":"x","message":"no node"}')?.message).toBe("no node");
    expect(controlFrame("$ ls\r\n")).toBeNull();
    expect(controlFrame('{"type":"other"}')).toBeNull();
  });
});

describe("route lines", () => {
  it("parses ip-route style lines", () => {
    expect(parseRoutes("10.2.0.0/24 via 10.0.0.2 dev eth0 metric 5\ndefault via 10.0.0.1\n\n")).toEqual([
      { dst: "10.2.0.0/24", via: "10.0.0.2", dev: "eth0", metric: 5 },
      { dst: "default", via: "10.0.0.1" },
    ]);
  });
});
