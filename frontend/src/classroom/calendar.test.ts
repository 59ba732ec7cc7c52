import { describe, expect, it } from "vitest";
import { ApiError } from "../api";
import { addDays, clock, defaultSlot, fromLocalInput, hoursInWeek, layoutWeek, nextFreeOf, shownState, toLocalInput, weekDays, weekStart } from "./calendar";

// Local-time constructors throughout, so the tests hold in any TZ.
const at = (d: number, h: number, m = 0) => new Date(2026, 10, d, h, m); // November 2026
const r = (id: number, s: Date, e: Date, state = "booked") => ({ id, start: s.toISOString(), end: e.toISOString(), state });

describe("week arithmetic", () => {
  it("starts weeks on Monday midnight", () => {
    // 2026-11-21 is a Saturday; its Monday is the 16th.
    expect(weekStart(at(21, 17, 30)).getTime()).toBe(new Date(2026, 10, 16).getTime());
    expect(weekStart(at(16, 0)).getTime()).toBe(new Date(2026, 10, 16).getTime());
    // Sunday belongs to the week before.
    expect(weekStart(at(22, 23)).getTime()).toBe(new Date(2026, 10, 16).getTime());
  });
  it("lists seven days", () => {
    const days = weekDays(weekStart(at(21, 9)));
    expect(days).toHaveLength(7);
    expect(days[6].getDate()).toBe(22);
    expect(addDays(days[0], 7).getDate()).toBe(23);
  });
});

describe("layoutWeek", () => {
  const week = weekStart(at(18, 12));

  it("places a booking in its day column by minutes", () => {
    const [b] = layoutWeek([r(1, at(18, 9, 30), at(18, 11))], week);
    expect(b).toMatchObject({ day: 2, top: 570, bottom: 660, lane: 0, lanes: 1, continues: false, continued: false });
  });

  it("splits a booking that crosses midnight", () => {
    const blocks = layoutWeek([r(1, at(18, 22), at(19, 2))], week);
    expect(blocks.map((b) => [b.day, b.top, b.bottom, b.continued, b.continues])).toEqual([
      [2, 1320, 1440, false, true],
      [3, 0, 120, true, false],
    ]);
  });

  it("leaves out bookings outside the week and empty ones", () => {
    expect(layoutWeek([r(1, at(10, 9), at(10, 10)), r(2, at(18, 9), at(18, 9))], week)).toEqual([]);
  });

  it("clips a booking that starts before the week", () => {
    const [b] = layoutWeek([r(1, at(15, 20), at(16, 3))], week);
    expect(b).toMatchObject({ day: 0, top: 0, bottom: 180, continued: true });
  });

  it("gives overlapping bookings separate lanes and frees lanes after", () => {
    const blocks = layoutWeek(
      [r(1, at(17, 9), at(17, 12)), r(2, at(17, 10), at(17, 11)), r(3, at(17, 11), at(17, 13)), r(4, at(17, 14), at(17, 15))],
      week,
    );
    const by = new Map(blocks.map((b) => [b.item.id, b]));
    expect([by.get(1)!.lane, by.get(2)!.lane, by.get(3)!.lane]).toEqual([0, 1, 1]);
    expect([by.get(1)!.lanes, by.get(2)!.lanes, by.get(3)!.lanes]).toEqual([2, 2, 2]);
    expect(by.get(4)).toMatchObject({ lane: 0, lanes: 1 });
  });
});

describe("inputs and slots", () => {
  it("round-trips datetime-local values with a zone", () => {
    const d = at(20, 14, 5);
    expect(toLocalInput(d)).toBe("2026-11-20T14:05");
    expect(fromLocalInput("2026-11-20T14:05")).toBe(d.toISOString());
    expect(fromLocalInput("tomorrow")).toBeNull();
    expect(fromLocalInput("")).toBeNull();
  });
  it("suggests the next whole hour for an hour", () => {
    const { start, end } = defaultSlot(at(21, 17, 3));
    expect([start.getHours(), start.getMinutes(), end.getHours()]).toEqual([18, 0, 19]);
  });
  it("formats clocks", () => {
    expect(clock(0)).toBe("00:00");
    expect(clock(570)).toBe("09:30");
    expect(clock(1440)).toBe("24:00");
  });
  it("sums holding hours of the week only", () => {
    const week = weekStart(at(18, 12));
    const items = [
      r(1, at(17, 9), at(17, 11)),
      r(2, at(18, 9), at(18, 10), "cancelled"),
      r(3, at(22, 23), at(23, 2), "active"), // one hour inside the week
      r(4, at(12, 9), at(12, 10)),
    ];
    expect(hoursInWeek(items, week)).toBe(3);
  });
});

describe("nextFreeOf", () => {
  const hint = (iso: string) =>
    new ApiError(409, "reservation.full", "host full", [
      { path: "start", code: "reservation.full", message: "host full", hint: `the next free slot starts at ${iso}` },
    ]);
  it("reads the suggestion from the issue hint the server sends", () => {
    expect(nextFreeOf(hint("2026-11-21T19:00:00+00:00"))).toBe("2026-11-21T19:00:00+00:00");
  });
  it("prefers next_free from the body when the error carries it", () => {
    const e = Object.assign(hint("2026-11-21T19:00:00+00:00"), { body: { next_free: "2026-11-22T08:00:00+00:00" } });
    expect(nextFreeOf(e)).toBe("2026-11-22T08:00:00+00:00");
  });
  it("has none for other errors or a lab bigger than the host", () => {
    expect(nextFreeOf(new ApiError(409, "quota.hours_per_week", "quota", []))).toBeNull();
    expect(
      nextFreeOf(new ApiError(409, "reservation.full", "full", [{ path: "start", code: "reservation.full", message: "full", hint: "the lab has more nodes than the host holds" }])),
    ).toBeNull();
  });
});

describe("shown state", () => {
  it("an active reservation whose end has come is ending, not active", () => {
    const now = at(3, 10, 30);
    expect(shownState(r(1, at(3, 9), at(3, 10, 30), "active"), now)).toBe("ending");
    expect(shownState(r(1, at(3, 9), at(3, 11), "active"), now)).toBe("active");
    expect(shownState(r(1, at(3, 9), at(3, 10), "booked"), now)).toBe("booked");
    expect(shownState(r(1, at(3, 9), at(3, 10), "ended"), now)).toBe("ended");
  });
});
