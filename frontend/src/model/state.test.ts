import { describe, expect, it } from "vitest";
import { deployControls, isBusy, stateLabel } from "./labState";
import { humanPath, issueText } from "./issues";
import { editorNotes, onSubnet } from "./notes";
import { deleteElements } from "./edit";
import type { Topology } from "./types";

const routed: Topology = {
  name: "routed",
  nodes: [
    { name: "h1", kind: "host", interfaces: [{ name: "eth0", addresses: ["10.0.1.2/24"] }], gateway: "10.0.1.1" },
    { name: "r1", kind: "router", interfaces: [{ name: "eth0", addresses: ["10.0.1.1/24"] }, { name: "eth1", addresses: ["10.0.2.1/24"] }] },
    { name: "h2", kind: "host", interfaces: [{ name: "eth0", addresses: ["10.0.2.2/24", "10.0.2.3/24"] }], gateway: "10.0.2.1" },
  ],
  links: [
    { kind: "veth", a: { node: "h1", interface: "eth0" }, b: { node: "r1", interface: "eth0" } },
    { kind: "veth", a: { node: "r1", interface: "eth1" }, b: { node: "h2", interface: "eth0" } },
    { kind: "vxlan", endpoint: { node: "h2", interface: "vxlan0" }, vni: 7 },
  ],
};

describe("lab state words and buttons", () => {
  it("names the lab's states, never a deployment's", () => {
    expect(stateLabel("stopped")).toBe("not deployed");
    expect(stateLabel("deploying")).toBe("deploying");
    expect(stateLabel("deploying", "apply")).toBe("applying changes");
    expect(stateLabel("running")).toBe("running");
    expect(stateLabel("")).toBe("…");
    expect(isBusy("deploying") && isBusy("destroying") && !isBusy("running") && !isBusy("stopped")).toBe(true);
  });
  it("offers Apply only on a running lab and keeps the running action's name while busy", () => {
    expect(deployControls("stopped")).toEqual({ primary: "deploy", primaryLabel: "Deploy", primaryEnabled: true, destroyEnabled: false });
    expect(deployControls("deploying", "deploy")).toMatchObject({ primaryLabel: "Deploy", primaryEnabled: false, destroyEnabled: false });
    expect(deployControls("deploying", "apply")).toMatchObject({ primaryLabel: "Apply changes", primaryEnabled: false });
    expect(deployControls("running")).toMatchObject({ primary: "apply", primaryEnabled: true, destroyEnabled: true });
    expect(deployControls("failed")).toMatchObject({ primary: "deploy", primaryEnabled: true, destroyEnabled: true });
    expect(deployControls("destroying")).toMatchObject({ primaryEnabled: false, destroyEnabled: false });
    expect(deployControls("")).toMatchObject({ primaryEnabled: false });
  });
});

describe("issue places as a person reads them", () => {
  it("names nodes, interfaces, list items and link ends", () => {
    expect(humanPath("nodes[2].interfaces[0].addresses[1]", routed)).toBe("h2 › eth0 › address 2");
    expect(humanPath("nodes[0].gateway", routed)).toBe("h1 › gateway");
    expect(humanPath("nodes[1].routes[0].via", routed)).toBe("r1 › route 1 › via");
    expect(humanPath("links[1].b", routed)).toBe("link r1:eth1 – h2:eth0 › end B");
    expect(humanPath("links[2].vni", routed)).toBe("vxlan on h2:vxlan0 › VNI");
    expect(humanPath("topology.nodes[0].name", routed)).toBe("h1 › name");
    expect(humanPath("addressing.pool", routed)).toBe("addressing › pool");
    expect(humanPath("$", routed)).toBe("");
    expect(humanPath("checks[0].node")).toBe("check 1 › node");
    expect(humanPath("nodes[7].interfaces[3]", routed)).toBe("node 8 › interface 4");
  });
  it("does not repeat a field the message already names", () => {
    expect(issueText({ path: "end", code: "reservation.empty", message: "end must be after start" })).toEqual({ where: "", message: "end must be after start" });
    expect(issueText({ path: "lab", code: "x", message: "pick a lab" }).where).toBe("lab");
    expect(issueText({ path: "nodes[0].gateway", code: "g", message: "gateway 1.2.3.4 of node h1 ..." }, routed).where).toBe("h1 › gateway");
    expect(
      issueText({ path: "nodes[2].interfaces[0].addresses[1]", code: "s", message: "nodes[2].interfaces[0].addresses[1]: 'x' is not an address" }, routed),
    ).toEqual({ where: "h2 › eth0 › address 2", message: "'x' is not an address" });
    expect(issueText({ path: "links[0]", code: "l", message: "same as links[1].b and nodes[0].gateway" }, routed).message).toBe(
      "same as link r1:eth1 – h2:eth0 › end B and h1 › gateway",
    );
  });
});

describe("editor notes", () => {
  it("subnet arithmetic", () => {
    expect(onSubnet("10.0.2.1", "10.0.2.2/24")).toBe(true);
    expect(onSubnet("10.0.3.1", "10.0.2.2/24")).toBe(false);
    expect(onSubnet("10.0.3.1", "10.0.2.2/0")).toBe(true);
    expect(onSubnet("x", "10.0.2.2/24")).toBe(false);
  });
  it("names an interface no link joins, and a gateway only it reaches", () => {
    expect(editorNotes(routed).map((n) => n.path)).toEqual([]);
    const cut = deleteElements(routed, [], [1]);
    const notes = editorNotes(cut);
    expect(notes.map((n) => n.path)).toEqual(["nodes[1].interfaces[1]", "nodes[2].interfaces[0]"]);
    expect(notes[0].message).toBe("eth1 of r1 is connected to nothing: its addresses (10.0.2.1/24) wait until a link joins it");
    expect(notes[1].message).toContain("eth0 of h2 is connected to nothing");
    expect(notes[1].message).toContain("the gateway 10.0.2.1 is only reachable through it");
  });
});

describe("a link's settings beside the kernel", () => {
  it("reads sysfs and tc", async () => {
    const { parseMtu, parseTcRate } = await import("./applied");
    expect(parseMtu("1400\n")).toBe(1400);
    expect(parseMtu("")).toBeNull();
    expect(parseTcRate("qdisc tbf 8001: root refcnt 2 rate 10Mbit burst 1600b lat 50ms\n")).toBe(10);
    expect(parseTcRate("qdisc tbf 8001: root rate 500Kbit burst 1600b")).toBe(0.5);
    expect(parseTcRate("qdisc noqueue 0: root refcnt 2\n")).toBeNull();
  });
  it("says applied only when every end has it", async () => {
    const { linkSettings, settingText } = await import("./applied");
    const link = { kind: "veth", a: { node: "h1", interface: "eth0" }, b: { node: "r1", interface: "eth0" }, mtu: 1400 } as const;
    const text = (ends: Parameters<typeof linkSettings>[1]) => linkSettings(link, ends).map(settingText);
    expect(text(null)).toEqual(["MTU 1400 · not deployed", "rate no limit · not deployed"]);
    expect(text("reading")[0]).toBe("MTU 1400 · reading the lab host…");
    expect(text([{ mtu: 1400, rateMbit: null }, { mtu: 1400, rateMbit: null }])).toEqual(["MTU 1400 · applied", "rate no limit · applied"]);
    expect(text([{ mtu: 1500, rateMbit: 10 }, { mtu: 1400, rateMbit: null }])).toEqual([
      "MTU 1400 · lab host: 1500 / 1400 (not applied)",
      "rate no limit · lab host: 10 Mbit/s / no limit (not applied)",
    ]);
    expect(text([{ mtu: null, rateMbit: null }, { mtu: 1400, rateMbit: null }])[0]).toBe("MTU 1400 · the lab host did not say");
    const plain = { ...link, mtu: null, rate_mbit: 5 };
    expect(linkSettings(plain, [{ mtu: 1500, rateMbit: 5 }, { mtu: 1500, rateMbit: 5 }]).map(settingText)).toEqual([
      "MTU default · lab host: 1500",
      "rate 5 Mbit/s · applied",
    ]);
  });
});
