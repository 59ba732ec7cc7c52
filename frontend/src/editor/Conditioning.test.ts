import { describe as suite, expect, it } from "vitest";
import { bodyOf, describe } from "./Conditioning";

const empty = { delay_ms: "", jitter_ms: "", loss_pct: "", duplicate_pct: "", reorder_pct: "", corrupt_pct: "", rate_mbit: "", up: true };

suite("conditioning request body", () => {
  it("sends no netem when every impairment is empty or zero", () => {
    expect(bodyOf({ ...empty, delay_ms: "0", rate_mbit: "10" }, null)).toEqual({ netem: null, rate_mbit: 10, up: true, mtu: null });
  });
  it("sends the impairments given, and text that is not a number as text for the server to name", () => {
    expect(bodyOf({ ...empty, delay_ms: "10", loss_pct: "lots", up: false }, 1400)).toEqual({
      netem: { delay_ms: 10, loss_pct: "lots" },
      rate_mbit: null,
      up: false,
      mtu: 1400,
    });
  });
});

suite("conditioning summary", () => {
  it("names each value with its unit", () => {
    const v = { revision: 2, netem: { delay_ms: 10, jitter_ms: 0, loss_pct: 20, duplicate_pct: 0, reorder_pct: 0, corrupt_pct: 0 }, rate_mbit: 5, up: false, mtu: null };
    expect(describe(v)).toBe("delay 10 ms, loss 20 %, rate 5 Mbit/s, down");
  });
});
