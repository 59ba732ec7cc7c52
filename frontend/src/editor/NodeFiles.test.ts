import { describe, expect, it } from "vitest";
import { FILE_MAX_BYTES, FILES_MAX, filesOf, filesProblem } from "./NodeFiles";
import type { TopoNode } from "../model/types";

const node = (files: unknown): TopoNode => ({ name: "r1", kind: "router", interfaces: [], files });

describe("node files", () => {
  it("reads the list and the mapping form alike", () => {
    const list = [{ path: "/etc/frr/frr.conf", content: "router ospf\n" }];
    expect(filesOf(node(list))).toEqual(list);
    expect(filesOf(node({ "/etc/frr/frr.conf": "router ospf\n" }))).toEqual(list);
    expect(filesOf(node(undefined))).toEqual([]);
  });

  it("refuses what the server refuses, and takes what it takes", () => {
    expect(filesProblem([{ path: "/etc/frr/frr.conf", content: "x".repeat(FILE_MAX_BYTES) }])).toBe("");
    expect(filesProblem([{ path: "/etc/frr/frr.conf", content: "x".repeat(FILE_MAX_BYTES + 1) }])).toMatch(/larger than 256 KiB/);
    // UTF-8 bytes, not characters: 2 bytes each.
    expect(filesProblem([{ path: "/tmp/a", content: "é".repeat(FILE_MAX_BYTES / 2 + 1) }])).toMatch(/larger/);
    expect(filesProblem([{ path: "etc/x", content: "" }])).toMatch(/absolute/);
    const many = Array.from({ length: FILES_MAX + 1 }, (_, i) => ({ path: `/tmp/${i}`, content: "" }));
    expect(filesProblem(many)).toMatch(/at most 32/);
    const big = Array.from({ length: 5 }, (_, i) => ({ path: `/tmp/${i}`, content: "x".repeat(FILE_MAX_BYTES) }));
    expect(filesProblem(big)).toMatch(/together/);
  });
});
