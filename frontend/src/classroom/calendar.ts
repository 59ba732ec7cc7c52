// Week calendar arithmetic for "My reservations": pure, local time, no library.
import type { ApiError } from "../api";

export const DAY_MINUTES = 24 * 60;
const MINUTE = 60_000;

/** Monday 00:00 (local time) of the week that holds `d`. */
export function weekStart(d: Date): Date {
  const out = new Date(d.getFullYear(), d.getMonth(), d.getDate());
  const fromMonday = (out.getDay() + 6) % 7;
  out.setDate(out.getDate() - fromMonday);
  return out;
}

/** `start` moved by `days` calendar days (local time, so a DST change keeps midnight). */
export function addDays(start: Date, days: number): Date {
  const out = new Date(start);
  out.setDate(out.getDate() + days);
  return out;
}

/** The seven midnights of the week starting at `start`. */
export function weekDays(start: Date): Date[] {
  return Array.from({ length: 7 }, (_, i) => addDays(start, i));
}

export interface Span {
  id: number;
  start: string;
  end: string;
  state?: string;
}

/** One rectangle of the calendar: a reservation's part inside one day column. */
export interface Block<T extends Span = Span> {
  item: T;
  day: number; // 0 = Monday
  top: number; // minutes after that day's midnight
  bottom: number; // minutes after that day's midnight, at most DAY_MINUTES
  lane: number; // side-by-side position among overlapping blocks of the day
  lanes: number; // how many lanes the overlapping group needs
  continues: boolean; // the reservation goes on past this day
  continued: boolean; // the reservation began before this day
}

/**
 * Cut reservations into per-day blocks of the week starting at `start`, and give
 * overlapping blocks of a day separate lanes (like a calendar app does).
 * Cancelled and ended reservations are left to the caller to filter.
 */
export function layoutWeek<T extends Span>(items: T[], start: Date): Block<T>[] {
  const days = weekDays(start);
  days.push(addDays(start, 7));
  const blocks: Block<T>[] = [];
  for (const item of items) {
    const s = new Date(item.start).getTime();
    const e = new Date(item.end).getTime();
    if (!(e > s)) continue;
    for (let d = 0; d < 7; d++) {
      const from = days[d].getTime();
      const to = days[d + 1].getTime();
      if (e <= from || s >= to) continue;
      const top = Math.max(0, Math.round((s - from) / MINUTE));
      const bottom = Math.min(Math.round((to - from) / MINUTE), Math.round((e - from) / MINUTE));
      blocks.push({ item, day: d, top, bottom, lane: 0, lanes: 1, continues: e > to, continued: s < from });
    }
  }
  for (let d = 0; d < 7; d++) assignLanes(blocks.filter((b) => b.day === d));
  return blocks;
}

// Greedy interval colouring per group of transitively overlapping blocks.
function assignLanes(blocks: Block[]): void {
  blocks.sort((a, b) => a.top - b.top || b.bottom - a.bottom);
  let group: Block[] = [];
  let groupEnd = -1;
  const close = () => {
    const lanes = Math.max(1, ...group.map((b) => b.lane + 1));
    for (const b of group) b.lanes = lanes;
    group = [];
  };
  for (const b of blocks) {
    if (b.top >= groupEnd && group.length) close();
    const laneEnds: number[] = [];
    for (const g of group) laneEnds[g.lane] = Math.max(laneEnds[g.lane] ?? -1, g.bottom);
    let lane = 0;
    while (laneEnds[lane] !== undefined && laneEnds[lane] > b.top) lane++;
    b.lane = lane;
    group.push(b);
    groupEnd = Math.max(groupEnd, b.bottom);
  }
  if (group.length) close();
}

/** "HH:MM" of a minute count (24:00 allowed for the end of a day). */
export function clock(minutes: number): string {
  const h = Math.floor(minutes / 60);
  const m = minutes % 60;
  return `${String(h).padStart(2, "0")}:${String(m).padStart(2, "0")}`;
}

/** A Date as the value of an `<input type="datetime-local">` (local time, minutes). */
export function toLocalInput(d: Date): string {
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

/**
 * An `<input type="datetime-local">` value as an ISO time with a zone (the API
 * refuses times without one); null when it is not a time.
 */
export function fromLocalInput(value: string): string | null {
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$/.test(value)) return null;
  const d = new Date(value); // no zone in the string: read as local time
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}

/** The next whole hour after `now`, and the default one-hour slot from it. */
export function defaultSlot(now: Date): { start: Date; end: Date } {
  const start = new Date(now);
  start.setMinutes(0, 0, 0);
  start.setHours(start.getHours() + 1);
  return { start, end: new Date(start.getTime() + 60 * MINUTE) };
}

/**
 * The suggested start of a refused booking (409 `reservation.full`). The server
 * sends `next_free` in the body; the shared ApiError keeps only the issues, whose
 * hint reads "the next free slot starts at <ISO time>", so read that when the
 * body field is not available.
 */
export function nextFreeOf(err: Pick<ApiError, "code" | "issues"> & { body?: unknown }): string | null {
  if (err.code !== "reservation.full") return null;
  const body = err.body as { next_free?: unknown } | undefined;
  if (body && typeof body.next_free === "string") return body.next_free;
  for (const issue of err.issues) {
    const m = /next free slot starts at (\S+)/.exec(issue.hint ?? "");
    if (m && !Number.isNaN(new Date(m[1]).getTime())) return m[1];
  }
  return null;
}

/** Hours of holding (booked or active) reservations inside the week [start, start+7d). */
export function hoursInWeek(items: Span[], start: Date): number {
  const from = start.getTime();
  const to = addDays(start, 7).getTime();
  let ms = 0;
  for (const r of items) {
    if (r.state && r.state !== "booked" && r.state !== "active") continue;
    const s = Math.max(from, new Date(r.start).getTime());
    const e = Math.min(to, new Date(r.end).getTime());
    if (e > s) ms += e - s;
  }
  return Math.round((ms / 3_600_000) * 100) / 100;
}

/**
 * The state to show for a reservation at `now`. "End now" moves an active reservation's
 * end to the current minute and the server's next tick (within a minute) destroys the lab
 * and marks it ended: until then it is "ending", with nothing left to end or extend.
 */
export function shownState(r: Span, now: Date): string {
  if (r.state === "active" && new Date(r.end).getTime() <= now.getTime()) return "ending";
  return r.state ?? "";
}
