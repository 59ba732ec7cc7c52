import { describe, expect, it } from "vitest";
import type { Results } from "./api";
import { absoluteLink, ago, cellState, fieldOf, issuesByField, linksCsv, parseChecks, preconfigureOf, shapeResults } from "./results";
import { previewOf } from "./preview";

const results: Results = {
  columns: [
    { exercise: 1, check: 0, title: "Routing: basics: h1 reaches 10.0.2.2" },
    { exercise: 1, check: 1, title: "Routing: basics: r1 forwards IPv4" },
    { exercise: 2, check: 0, title: "VXLAN: a capture on s1:eth0 sees VXLAN" },
  ],
  rows: [
    {
      student: "ada",
      cells: [
        { started: true, lab: 5, passed: true, last_pass: "2026-11-21T10:00:00Z" },
        { started: true, lab: 5, passed: false, last_pass: "2026-11-21T09:00:00Z" },
        { started: false, lab: null, passed: false, last_pass: null },
      ],
      labs: [{ exercise: 1, lab: 5, state: "running" }],
    },
    {
      student: "alan",
      cells: [
        { started: true, lab: 6, passed: true, last_pass: "2026-11-21T10:01:00Z" },
        { started: true, lab: 6, passed: true, last_pass: "2026-11-21T10:01:00Z" },
        { started: true, lab: 7, passed: false, last_pass: null },
      ],
      labs: [
        { exercise: 1, lab: 6, state: "stopped" },
        { exercise: 2, lab: 7, state: "deploying" },
      ],
    },
  ],
};

describe("shapeResults", () => {
  const shaped = shapeResults(results, new Map([[1, "Routing: basics"], [2, "VXLAN"]]));
  it("keeps each student's lab copies with their states, for the row's links", () => {
    expect(shaped.rows.map((r) => r.labs.map((l) => `${l.lab}:${l.state}`))).toEqual([["5:running"], ["6:stopped", "7:deploying"]]);
  });
  it("groups columns by exercise for the two header rows", () => {
    expect(shaped.groups).toEqual([
      { exercise: 1, title: "Routing: basics", span: 2 },
      { exercise: 2, title: "VXLAN", span: 1 },
    ]);
  });
  it("cuts the exercise prefix exactly, even with ': ' in the title", () => {
    expect(shaped.columns.map((c) => c.check_title)).toEqual(["h1 reaches 10.0.2.2", "r1 forwards IPv4", "a capture on s1:eth0 sees VXLAN"]);
  });
  it("counts passes per student and per check", () => {
    expect(shaped.rows.map((r) => [r.student, r.passed, r.total])).toEqual([["ada", 1, 3], ["alan", 2, 3]]);
    expect(shaped.column_passes).toEqual([2, 1, 0]);
  });
  it("keeps the full title when the exercise is unknown", () => {
    const s = shapeResults(results, new Map());
    expect(s.columns[0].check_title).toBe("Routing: basics: h1 reaches 10.0.2.2");
    expect(s.groups[0].title).toBe("Exercise 1");
  });
  it("tells pass, fail and not started apart", () => {
    expect(results.rows[0].cells.map(cellState)).toEqual(["pass", "fail", "none"]);
  });
});

describe("ago", () => {
  const now = new Date("2026-11-21T12:00:00Z");
  it("says how long ago", () => {
    expect(ago(null, now)).toBe("");
    expect(ago("2026-11-21T11:59:50Z", now)).toBe("just now");
    expect(ago("2026-11-21T11:55:00Z", now)).toBe("5 min ago");
    expect(ago("2026-11-21T09:00:00Z", now)).toBe("3 h ago");
    expect(ago("2026-11-19T12:00:00Z", now)).toBe("2 d ago");
  });
});

describe("checks field", () => {
  it("accepts a JSON list, and empty as no checks", () => {
    expect(parseChecks('[{"kind":"forwarding","node":"r1"}]')).toEqual({ value: [{ kind: "forwarding", node: "r1" }] });
    expect(parseChecks("  ")).toEqual({ value: [] });
  });
  it("reports bad JSON and a non-list on the checks field", () => {
    const bad = parseChecks('[\n{"kind": "reach",}\n]');
    expect("issue" in bad && bad.issue.path).toBe("checks");
    expect("issue" in bad && bad.issue.code).toBe("json.invalid");
    const obj = parseChecks('{"kind": "reach"}');
    expect("issue" in obj && obj.issue.code).toBe("json.not_list");
  });
  it("groups server issues by field", () => {
    expect(fieldOf("checks[2].src")).toBe("checks");
    expect(fieldOf("preconfigure.nodes[0]")).toBe("preconfigure");
    const m = issuesByField([
      { path: "checks[0].src", code: "check.unknown_node", message: "no node 'hx'" },
      { path: "title", code: "text.invalid", message: "title must be text" },
      { path: "checks[1].dst", code: "value", message: "not an address" },
    ]);
    expect([...m.keys()]).toEqual(["checks", "title"]);
    expect(m.get("checks")!.map((i) => i.path)).toEqual(["checks[0].src", "checks[1].dst"]);
  });
});

describe("sign-in links", () => {
  it("makes full URLs and a CSV to send out", () => {
    expect(absoluteLink("/login?token=abc", "https://lab.example/")).toBe("https://lab.example/login?token=abc");
    expect(linksCsv([{ username: "ada", email: "a@x.org", login_link: "/login?token=t1" }], "http://h")).toBe(
      "username,email,link\nada,a@x.org,http://h/login?token=t1",
    );
    // An existing account gets no link (it signs in as before): not in the file.
    expect(linksCsv([{ username: "old", email: "", login_link: null }], "http://h")).toBe("username,email,link");
  });
});

describe("previewOf", () => {
  it("uses saved positions, shifted to the margin, and draws two-ended links", () => {
    const p = previewOf({
      name: "t",
      nodes: [
        { name: "h1", kind: "host", interfaces: [], position: { x: 100, y: 200 } },
        { name: "r1", kind: "router", interfaces: [], position: { x: 300, y: 200 } },
      ],
      links: [
        { kind: "veth", a: { node: "h1", interface: "eth0" }, b: { node: "r1", interface: "eth0" } },
        { kind: "tap", endpoint: { node: "r1", interface: "tap0" } },
      ],
    });
    expect(p.nodes.map((n) => [n.name, n.x, n.y])).toEqual([["h1", 64, 36], ["r1", 264, 36]]);
    expect(p.edges).toEqual([{ a: "h1", b: "r1", kind: "veth" }]);
    expect([p.width, p.height]).toEqual([328, 72]);
  });
  it("lays out nodes without positions automatically", () => {
    const p = previewOf({
      name: "t",
      nodes: [{ name: "a", kind: "host", interfaces: [] }, { name: "b", kind: "host", interfaces: [] }],
      links: [{ kind: "veth", a: { node: "a", interface: "eth0" }, b: { node: "b", interface: "eth0" } }],
    });
    expect(new Set(p.nodes.map((n) => `${n.x},${n.y}`)).size).toBe(2);
  });
});

describe("preconfigureOf", () => {
  it("turns what to strip into what stays, on the listed nodes", () => {
    expect(preconfigureOf({ addresses: true, routes: false, forwarding: true }, " h2, r1  h3")).toEqual({
      addresses: false,
      routes: true,
      forwarding: false,
      nodes: ["h2", "r1", "h3"],
    });
    expect(preconfigureOf({ addresses: false, routes: false, forwarding: false }, "  ").nodes).toBeNull();
  });
});
