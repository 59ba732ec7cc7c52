// "My reservations": a week calendar of my bookings, the booking form (with the
// server's next free slot when the host is full), extend, cancel and my quota.
import { useEffect, useMemo, useRef, useState } from "react";
import { Api, ApiError, type LabSummary } from "../api";
import type { Issue } from "../model/types";
import { Link } from "../router";
import { ClassroomApi, type Quota, type Reservation } from "./api";
import { ErrorBox, FieldIssues, failure, usePolling } from "./common";
import {
  DAY_MINUTES, addDays, clock, defaultSlot, fromLocalInput, hoursInWeek, layoutWeek, nextFreeOf, shownState, toLocalInput, weekDays, weekStart,
} from "./calendar";

const HOUR_PX = 36;
const HOLDING = new Set(["booked", "active"]);
// After "End now" the server ends the reservation at its next tick (within a minute):
// read the list often until it has.
const ENDING_POLL_MS = 5_000;

export function ReservationsPage() {
  const [items, setItems] = useState<Reservation[] | null>(null);
  const [labs, setLabs] = useState<LabSummary[]>([]);
  const [quota, setQuota] = useState<Quota | null>(null);
  const [week, setWeek] = useState(() => weekStart(new Date()));
  const [error, setError] = useState("");
  const [selected, setSelected] = useState<number | null>(null);

  const load = () =>
    ClassroomApi.reservations().then(setItems).catch((e) => setError(failure(e)));
  useEffect(() => {
    Api.labs().then(setLabs).catch(() => setLabs([]));
    ClassroomApi.quota().then(setQuota).catch(() => setQuota(null));
  }, []);
  // States move on the server (booked -> active -> ended) by the minute.
  const [now, setNow] = useState(() => new Date());
  const ending = (items ?? []).some((r) => shownState(r, now) === "ending");
  usePolling(() => {
    setNow(new Date());
    load();
  }, ending ? ENDING_POLL_MS : 30_000);

  const labName = useMemo(() => new Map(labs.map((l) => [l.id, l.name])), [labs]);
  const shown = useMemo(() => (items ?? []).filter((r) => r.state !== "cancelled"), [items]);
  const upcoming = useMemo(() => (items ?? []).filter((r) => HOLDING.has(r.state)), [items]);

  async function act(f: () => Promise<unknown>) {
    setError("");
    try {
      await f();
      setNow(new Date());
      await load();
    } catch (e) {
      setError(failure(e));
    }
  }

  return (
    <div className="page cr-wide">
      <div className="page-head">
        <h1>My reservations</h1>
        <QuotaBox quota={quota} used={hoursInWeek(items ?? [], weekStart(new Date()))} />
      </div>
      <ErrorBox error={error} />
      <div className="cr-res-layout">
        <div>
          <div className="cr-section-head">
            <button className="btn" onClick={() => setWeek(addDays(week, -7))} aria-label="previous week">‹</button>
            <button className="btn" onClick={() => setWeek(weekStart(new Date()))}>This week</button>
            <button className="btn" onClick={() => setWeek(addDays(week, 7))} aria-label="next week">›</button>
            <h2 className="cr-week-title">
              {week.toLocaleDateString(undefined, { day: "numeric", month: "short" })} – {addDays(week, 6).toLocaleDateString(undefined, { day: "numeric", month: "short", year: "numeric" })}
            </h2>
          </div>
          <WeekCalendar week={week} items={shown} labName={labName} selected={selected} onSelect={setSelected} />
        </div>
        <div className="cr-side">
          <BookForm labs={labs} onBooked={(r) => { setSelected(r.id); setWeek(weekStart(new Date(r.start))); load(); }} />
          <section className="card cr-section">
            <h2>Upcoming</h2>
            {items === null ? <p className="muted">Loading…</p> : upcoming.length === 0 ? <p className="muted">No bookings.</p> : (
              <ul className="cr-res-list">
                {upcoming.map((r) => {
                  const st = shownState(r, now);
                  return (
                  <li key={r.id} className={selected === r.id ? "selected" : ""} onClick={() => { setSelected(r.id); setWeek(weekStart(new Date(r.start))); }} data-reservation={r.id}>
                    <div className="cr-res-line">
                      <Link to={`/labs/${r.lab}`}>{labName.get(r.lab) ?? `lab ${r.lab}`}</Link>
                      <span className={`badge cr-res-${st}`} data-state={st}>{st}</span>
                    </div>
                    <div className="small muted">
                      {new Date(r.start).toLocaleString(undefined, { weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" })}
                      {" – "}{new Date(r.end).toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" })}
                      {" · "}{r.nodes} nodes on {r.host}
                    </div>
                    {st === "ending" ? (
                      <div className="small muted">Ending: the lab is destroyed within a minute (its topology stays).</div>
                    ) : (
                    <div className="row-actions cr-left">
                      <button className="btn tiny" onClick={(e) => { e.stopPropagation(); act(() => ClassroomApi.extend(r.id, new Date(new Date(r.end).getTime() + 30 * 60_000).toISOString())); }}>+30 min</button>
                      <button className="btn tiny" onClick={(e) => { e.stopPropagation(); act(() => ClassroomApi.extend(r.id, new Date(new Date(r.end).getTime() + 60 * 60_000).toISOString())); }}>+1 h</button>
                      <button className="btn tiny danger" onClick={(e) => {
                        e.stopPropagation();
                        const msg = r.state === "active" ? "End this reservation now? The lab is destroyed (its topology stays)." : "Cancel this reservation?";
                        if (confirm(msg)) act(() => ClassroomApi.cancel(r.id));
                      }}>{r.state === "active" ? "End now" : "Cancel"}</button>
                    </div>
                    )}
                  </li>
                  );
                })}
              </ul>
            )}
          </section>
        </div>
      </div>
    </div>
  );
}

function QuotaBox({ quota, used }: { quota: Quota | null; used: number }) {
  if (!quota) return null;
  const show = (v: number | null) => (v === null ? "no limit" : String(v));
  return (
    <div className="cr-quota card" aria-label="my quota">
      <div><span className="muted small">Labs at once</span><b>{show(quota.concurrent_labs)}</b></div>
      <div><span className="muted small">Nodes per lab</span><b>{show(quota.nodes_per_lab)}</b></div>
      <div>
        <span className="muted small">Hours this week</span>
        <b>{used}{quota.hours_per_week !== null ? ` / ${quota.hours_per_week}` : ""}</b>
      </div>
    </div>
  );
}

function WeekCalendar(props: {
  week: Date;
  items: Reservation[];
  labName: Map<number, string>;
  selected: number | null;
  onSelect: (id: number) => void;
}) {
  const { week, items, labName, selected, onSelect } = props;
  const days = weekDays(week);
  const blocks = useMemo(() => layoutWeek(items, week), [items, week]);
  const scroller = useRef<HTMLDivElement>(null);
  const [now, setNow] = useState(() => new Date());
  useEffect(() => {
    const t = setInterval(() => setNow(new Date()), 60_000);
    return () => clearInterval(t);
  }, []);
  useEffect(() => {
    // Open an hour before the earliest booking shown; without one, at the current
    // hour in this week, or at 07:00 in another week.
    const thisWeek = weekStart(new Date()).getTime() === week.getTime();
    const now = new Date();
    const anchor = blocks.length ? Math.min(...blocks.map((b) => b.top)) : thisWeek ? now.getHours() * 60 : 7 * 60;
    if (scroller.current) scroller.current.scrollTop = Math.max(0, (anchor / 60 - 1) * HOUR_PX);
    // Only when the week or the bookings change, not every minute the clock line moves.
  }, [week, blocks]);
  const today = days.findIndex((d) => d.toDateString() === now.toDateString());
  const nowMinute = now.getHours() * 60 + now.getMinutes();

  return (
    <div className="cr-cal card">
      <div className="cr-cal-head">
        <div />
        {days.map((d, i) => (
          <div key={i} className={i === today ? "today" : ""}>
            {d.toLocaleDateString(undefined, { weekday: "short" })} <b>{d.getDate()}</b>
          </div>
        ))}
      </div>
      <div className="cr-cal-body" ref={scroller}>
        <div className="cr-cal-grid" style={{ height: (DAY_MINUTES / 60) * HOUR_PX }}>
          <div className="cr-hours">
            {Array.from({ length: 24 }, (_, h) => <div key={h} style={{ height: HOUR_PX }}>{clock(h * 60)}</div>)}
          </div>
          {days.map((_, d) => (
            <div key={d} className={`cr-day ${d === today ? "today" : ""}`} style={{ backgroundSize: `100% ${HOUR_PX}px` }}>
              {d === today && <div className="cr-now" style={{ top: (nowMinute / 60) * HOUR_PX }} />}
              {blocks.filter((b) => b.day === d).map((b) => (
                <button
                  key={`${b.item.id}-${d}`}
                  className={`cr-block cr-res-${b.item.state} ${selected === b.item.id ? "selected" : ""}`}
                  style={{
                    top: (b.top / 60) * HOUR_PX,
                    height: Math.max(14, ((b.bottom - b.top) / 60) * HOUR_PX - 2),
                    left: `${(b.lane / b.lanes) * 100}%`,
                    width: `calc(${100 / b.lanes}% - 3px)`,
                  }}
                  title={`${labName.get(b.item.lab) ?? `lab ${b.item.lab}`}: ${new Date(b.item.start).toLocaleString()} – ${new Date(b.item.end).toLocaleString()} (${b.item.state})`}
                  onClick={() => onSelect(b.item.id)}
                >
                  <span className="cr-block-time">{b.continued ? "…" : clock(b.top)}–{b.continues ? "…" : clock(b.bottom)}</span>
                  <span className="cr-block-lab">{labName.get(b.item.lab) ?? `lab ${b.item.lab}`}</span>
                </button>
              ))}
            </div>
          ))}
        </div>
      </div>
    </div>
  );
}

function BookForm({ labs, onBooked }: { labs: LabSummary[]; onBooked: (r: Reservation) => void }) {
  const initial = useMemo(() => defaultSlot(new Date()), []);
  const [lab, setLab] = useState("");
  const [start, setStart] = useState(toLocalInput(initial.start));
  const [end, setEnd] = useState(toLocalInput(initial.end));
  const [error, setError] = useState("");
  const [issues, setIssues] = useState<Issue[]>([]);
  const [nextFree, setNextFree] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function book(startIso: string | null, endIso: string | null) {
    setError("");
    setIssues([]);
    setNextFree(null);
    const local: Issue[] = [];
    if (!startIso) local.push({ path: "start", code: "time.invalid", message: "start is not a time" });
    if (!endIso) local.push({ path: "end", code: "time.invalid", message: "end is not a time" });
    if (local.length || !startIso || !endIso) {
      setIssues(local);
      return;
    }
    setBusy(true);
    try {
      const r = await ClassroomApi.book(Number(lab), startIso, endIso);
      onBooked(r);
    } catch (e) {
      setError(failure(e));
      if (e instanceof ApiError) {
        setIssues(e.issues.filter((i) => i.code !== "reservation.full"));
        setNextFree(nextFreeOf(e));
      }
    } finally {
      setBusy(false);
    }
  }

  function takeNextFree() {
    if (!nextFree) return;
    const s = fromLocalInput(start);
    const e = fromLocalInput(end);
    const length = s && e ? new Date(e).getTime() - new Date(s).getTime() : 3_600_000;
    const ns = new Date(nextFree);
    const ne = new Date(ns.getTime() + length);
    setStart(toLocalInput(ns));
    setEnd(toLocalInput(ne));
    book(ns.toISOString(), ne.toISOString());
  }

  const byPath = (p: string) => issues.filter((i) => i.path === p || i.path.startsWith(`${p}.`));
  const rest = issues.filter((i) => !["lab", "start", "end"].includes(i.path));
  return (
    <section className="card cr-section">
      <h2>Book a slot</h2>
      <form className="cr-form" onSubmit={(e) => { e.preventDefault(); book(fromLocalInput(start), fromLocalInput(end)); }}>
        <label className="field">
          Lab
          <select value={lab} onChange={(e) => setLab(e.target.value)} required>
            <option value="">Pick a lab</option>
            {labs.map((l) => <option key={l.id} value={l.id}>{l.name}</option>)}
          </select>
        </label>
        <FieldIssues issues={byPath("lab")} />
        <div className="cr-times">
          <label className="field">Start<input type="datetime-local" value={start} onChange={(e) => setStart(e.target.value)} required className={byPath("start").length ? "invalid" : ""} /></label>
          <label className="field">End<input type="datetime-local" value={end} onChange={(e) => setEnd(e.target.value)} required className={byPath("end").length ? "invalid" : ""} /></label>
        </div>
        <FieldIssues issues={[...byPath("start"), ...byPath("end"), ...rest]} />
        {error && !nextFree && !issues.length && <ErrorBox error={error} />}
        {nextFree && (
          <div className="cr-nextfree" role="alert">
            <div>{error}</div>
            <div>Next free slot: <b>{new Date(nextFree).toLocaleString(undefined, { weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" })}</b></div>
            <button type="button" className="btn primary" onClick={takeNextFree} disabled={busy}>Take it</button>
          </div>
        )}
        <div><button className="btn primary" disabled={busy || !lab}>{busy ? "Booking…" : "Book"}</button></div>
      </form>
    </section>
  );
}
