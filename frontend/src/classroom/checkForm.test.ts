import { describe, expect, it } from "vitest";
import type { CheckForm } from "./api";
import { choicesFor, emptyValues, specLine, specOf, valuesOf, type FormValues } from "./checkForm";
import type { Topology } from "../model/types";

// As GET /api/classroom/check-forms describes them (lab/classroom/check_forms.py).
const reach: CheckForm = {
  kind: "reach",
  description: "src pings dst",
  fields: [
    { name: "src", label: "From node", type: "node", required: true, default: null },
    { name: "dst", label: "Target", type: "text", required: true, default: null, formats: ["ipv4", "ipv6"], suggestions: [] },
    { name: "expect", label: "Expect", type: "choice", required: false, default: "reach", choices: ["reach", "refuse"] },
    { name: "count", label: "Count", type: "integer", required: false, default: 2, min: 1, max: 10 },
    { name: "hint", label: "Hint", type: "text", required: false, default: "" },
  ],
};
const mtu: CheckForm = {
  kind: "mtu",
  description: "an interface has an MTU",
  fields: [
    { name: "node", label: "Node", type: "node", required: true, default: null },
    { name: "interface", label: "Interface", type: "interface", required: true, default: null },
    { name: "mtu", label: "MTU", type: "integer", required: true, default: null, min: 68, max: 65535 },
  ],
};
const forwarding: CheckForm = {
  kind: "forwarding",
  description: "a node forwards",
  fields: [
    { name: "node", label: "Node", type: "node", required: true, default: null },
    { name: "enabled", label: "Forwarding on", type: "boolean", required: false, default: true },
  ],
};
const topo: Topology = {
  name: "t",
  nodes: [
    { name: "h1", kind: "host", interfaces: [{ name: "eth0" }] },
    { name: "s1", kind: "switch", interfaces: [{ name: "p1" }], bridges: [{ name: "br0" }] },
  ],
  links: [],
};

describe("specOf", () => {
  it("makes the spec from the values, leaving defaults and empty optional fields out", () => {
    const values: FormValues = { ...emptyValues(reach), src: "h1", dst: " 10.0.2.2 ", hint: "" };
    expect(values.count).toBe("2");
    expect(specOf(reach, values, 0)).toEqual({ spec: { kind: "reach", src: "h1", dst: "10.0.2.2" } });
    expect(specOf(reach, { ...values, expect: "refuse", count: "5", hint: "a firewall" }, 0)).toEqual({
      spec: { kind: "reach", src: "h1", dst: "10.0.2.2", expect: "refuse", count: 5, hint: "a firewall" },
    });
  });

  it("reports every missing or bad field with the server's path", () => {
    const out = specOf(mtu, { node: "", interface: "eth0", mtu: "9" }, 3);
    expect(out).toEqual({
      issues: [
        { path: "checks[3].node", code: "form.invalid", message: "Node is required" },
        { path: "checks[3].mtu", code: "form.invalid", message: "MTU must be from 68 to 65535" },
      ],
    });
    expect(specOf(mtu, { node: "h1", interface: "eth0", mtu: "1.5" }, 0)).toEqual({
      issues: [{ path: "checks[0].mtu", code: "form.invalid", message: "MTU must be a whole number" }],
    });
    expect(specOf(reach, { src: "h1", dst: "x", expect: "maybe" }, 0)).toMatchObject({ issues: [{ path: "checks[0].expect" }] });
  });

  it("sends a boolean only when it is not the default", () => {
    expect(specOf(forwarding, { node: "r1", enabled: "true" }, 0)).toEqual({ spec: { kind: "forwarding", node: "r1" } });
    expect(specOf(forwarding, { node: "r1", enabled: "false" }, 0)).toEqual({ spec: { kind: "forwarding", node: "r1", enabled: false } });
  });

  it("round-trips a stored spec through its form", () => {
    const stored = { kind: "mtu", node: "h1", interface: "eth0", mtu: 1400, title: "", hint: "" };
    expect(specOf(mtu, valuesOf(mtu, stored), 0)).toEqual({ spec: { kind: "mtu", node: "h1", interface: "eth0", mtu: 1400 } });
  });
});

describe("choicesFor and specLine", () => {
  it("offers the topology's nodes and the picked node's interfaces and bridges", () => {
    expect(choicesFor(mtu.fields[0], {}, topo)).toEqual(["h1", "s1"]);
    expect(choicesFor(mtu.fields[1], { node: "s1" }, topo)).toEqual(["p1", "br0"]);
    expect(choicesFor(mtu.fields[1], { node: "" }, topo)).toEqual([]);
    expect(choicesFor(reach.fields[2], {}, topo)).toEqual(["reach", "refuse"]);
  });

  it("reads a spec in one line", () => {
    expect(specLine({ kind: "reach", src: "h1", dst: "10.0.2.2", title: "h1 talks", hint: "gw" })).toBe(
      "reach: src h1, dst 10.0.2.2 — “h1 talks” (with a hint)",
    );
  });
});
