import { describe, expect, it } from "vitest";
import { clampFloat, clampHeight, consoleWindowPath, DEFAULT_LAYOUT, DOCK_MIN, readLayout } from "./dockLayout";

describe("dock layout", () => {
  it("keeps the docked height between the minimum and what leaves a canvas", () => {
    expect(clampHeight(10, 900)).toBe(DOCK_MIN);
    expect(clampHeight(400, 900)).toBe(400);
    expect(clampHeight(5000, 900)).toBe(900 - 52 - 160);
  });
  it("keeps a floating panel's title bar reachable", () => {
    const l = clampFloat({ ...DEFAULT_LAYOUT, x: -500, y: 5000, width: 99999 }, 1440, 900);
    expect(l.x).toBe(0);
    expect(l.y).toBe(860);
    expect(l.width).toBe(1440);
  });
  it("reads a stored layout field by field, falling back on bad values", () => {
    expect(readLayout(null)).toEqual(DEFAULT_LAYOUT);
    expect(readLayout("not json")).toEqual(DEFAULT_LAYOUT);
    expect(readLayout('{"height": 333, "detached": true, "x": "evil"}')).toEqual({ ...DEFAULT_LAYOUT, height: 333, detached: true });
    expect(readLayout('{"detached": "yes"}').detached).toBe(false);
  });
  it("names a console window by lab and node, escaped", () => {
    expect(consoleWindowPath("12", "h1")).toBe("/labs/12/console/h1");
    expect(consoleWindowPath("12", "a/b?c")).toBe("/labs/12/console/a%2Fb%3Fc");
  });
});
