// Link conditioning of one interface (lab/api/conditioning.py): netem impairments, rate
// and up/down. "Apply" saves a revision and, on a running lab, applies it live; the
// panel shows what the lab host runs beside what was asked, and a refusal (a bad value,
// a host without sch_netem) next to the field it names.
import { useCallback, useEffect, useRef, useState } from "react";
import { ApiError, api } from "../api";
import type { Issue } from "../model/types";

export interface NetemValues {
  delay_ms: number;
  jitter_ms: number;
  loss_pct: number;
  duplicate_pct: number;
  reorder_pct: number;
  corrupt_pct: number;
}
export interface ConditioningValues {
  revision: number;
  netem: NetemValues | null;
  rate_mbit: number | null;
  up: boolean;
  mtu: number | null;
}
export interface ConditioningState {
  node: string;
  interface: string;
  lab_state: string;
  host: string | null;
  netem_available: boolean | null;
  latest: ConditioningValues;
  running: ConditioningValues | null;
  deployment?: { id: number; state: string } | null;
}

const NETEM: { key: keyof NetemValues; label: string; unit: string }[] = [
  { key: "delay_ms", label: "Delay", unit: "ms" },
  { key: "jitter_ms", label: "Jitter", unit: "ms" },
  { key: "loss_pct", label: "Loss", unit: "%" },
  { key: "duplicate_pct", label: "Duplicate", unit: "%" },
  { key: "reorder_pct", label: "Reorder", unit: "%" },
  { key: "corrupt_pct", label: "Corrupt", unit: "%" },
];

type Form = Record<keyof NetemValues | "rate_mbit", string> & { up: boolean };

const path = (labId: string, node: string, iface: string) =>
  `/api/labs/${labId}/nodes/${encodeURIComponent(node)}/interfaces/${encodeURIComponent(iface)}/conditioning`;

function formOf(v: ConditioningValues): Form {
  const n = v.netem;
  const text = (x: number | null | undefined) => (x ? String(x) : "");
  return {
    delay_ms: text(n?.delay_ms),
    jitter_ms: text(n?.jitter_ms),
    loss_pct: text(n?.loss_pct),
    duplicate_pct: text(n?.duplicate_pct),
    reorder_pct: text(n?.reorder_pct),
    corrupt_pct: text(n?.corrupt_pct),
    rate_mbit: text(v.rate_mbit),
    up: v.up,
  };
}

/** The request body; a text that is not a number goes as text, so the server names it. */
export function bodyOf(form: Form, mtu: number | null): Record<string, unknown> {
  const value = (s: string): number | string | null => (s.trim() === "" ? null : isNaN(Number(s)) ? s.trim() : Number(s));
  const netem: Record<string, unknown> = {};
  for (const { key } of NETEM) {
    const v = value(form[key]);
    if (v !== null && v !== 0) netem[key] = v;
  }
  return {
    netem: Object.keys(netem).length ? netem : null,
    rate_mbit: value(form.rate_mbit),
    up: form.up,
    mtu,
  };
}

/** One line for a set of values: "delay 10 ms, rate 10 Mbit/s, down". */
export function describe(v: ConditioningValues): string {
  const parts: string[] = [];
  for (const { key, label, unit } of NETEM) {
    const x = v.netem?.[key];
    if (x) parts.push(`${label.toLowerCase()} ${x} ${unit}`);
  }
  if (v.rate_mbit) parts.push(`rate ${v.rate_mbit} Mbit/s`);
  if (v.mtu) parts.push(`mtu ${v.mtu}`);
  parts.push(v.up ? "up" : "down");
  return parts.join(", ");
}

const POLL_MS = 1000;
const POLL_TIMES = 90;

export function Conditioning(props: {
  labId: string;
  node: string;
  iface: string;
  /** The interface's MTU in the editor's document (sent back unchanged). */
  mtu: number | null;
  /** Called with what was saved, so the editor's document follows. */
  onSaved: (v: ConditioningValues) => void;
}) {
  const { labId, node, iface } = props;
  const [state, setState] = useState<ConditioningState | null>(null);
  const [form, setForm] = useState<Form | null>(null);
  const [issues, setIssues] = useState<Issue[]>([]);
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  const poll = useRef<ReturnType<typeof setTimeout> | null>(null);

  const load = useCallback(
    (times = 0) =>
      api<ConditioningState>("GET", path(labId, node, iface))
        .then((s) => {
          setState(s);
          setForm((f) => f ?? formOf(s.latest));
          // After an apply, ask again until the lab host runs what was saved.
          const pending = s.lab_state === "running" || s.lab_state === "deploying";
          if (times > 0 && pending && (s.running?.revision ?? 0) < s.latest.revision) {
            poll.current = setTimeout(() => void load(times - 1), POLL_MS);
          }
        })
        .catch((e) => setError(e instanceof ApiError && e.status === 404 ? "Save the lab first: this interface is not in a saved revision yet." : String(e instanceof ApiError ? e.message : e))),
    [labId, node, iface],
  );
  useEffect(() => {
    setForm(null);
    setState(null);
    setIssues([]);
    setError("");
    void load();
    return () => {
      if (poll.current) clearTimeout(poll.current);
    };
  }, [load]);

  const apply = async () => {
    if (!form) return;
    setBusy(true);
    setIssues([]);
    setError("");
    try {
      const s = await api<ConditioningState>("PUT", path(labId, node, iface), bodyOf(form, props.mtu));
      setState(s);
      setForm(formOf(s.latest));
      props.onSaved(s.latest);
      if (s.deployment) void load(POLL_TIMES);
    } catch (e) {
      if (e instanceof ApiError && e.status === 400) {
        setIssues(e.issues.length ? e.issues : [{ path: "", code: e.code, message: e.message }]);
      } else {
        setError(e instanceof ApiError ? e.message : String(e));
      }
    } finally {
      setBusy(false);
    }
  };

  const at = (p: string) => issues.filter((i) => i.path === p);
  const known = new Set(["netem", "rate_mbit", "up", ...NETEM.map((n) => `netem.${n.key}`)]);
  const shown = (i: Issue, k: number) => (
    <span className="field-issue" key={k} data-testid={`cond-issue-${i.path || "all"}`}>{i.message}</span>
  );
  if (error && !state) return <div className="conditioning muted small">{error}</div>;
  if (!form || !state) return <div className="conditioning muted small">Loading conditioning…</div>;
  const input = (key: keyof NetemValues | "rate_mbit", label: string) => (
    <label className="field" key={key}>
      <span>{label}</span>
      <input
        name={`cond-${key}`}
        aria-label={label}
        value={form[key]}
        placeholder="0"
        className={at(key === "rate_mbit" ? key : `netem.${key}`).length ? "invalid" : ""}
        onChange={(e) => setForm({ ...form, [key]: e.target.value })}
        onKeyDown={(e) => e.key === "Enter" && void apply()}
      />
      {at(key === "rate_mbit" ? key : `netem.${key}`).map(shown)}
    </label>
  );
  const applied = state.running;
  const waiting = applied !== null && applied.revision < state.latest.revision;
  return (
    <div className="conditioning" data-conditioning={`${node}:${iface}`}>
      <h5>Conditioning</h5>
      <div className="row">{NETEM.slice(0, 3).map((n) => input(n.key, `${n.label} (${n.unit})`))}</div>
      <div className="row">{NETEM.slice(3).map((n) => input(n.key, `${n.label} (${n.unit})`))}</div>
      {at("netem").map(shown)}
      {state.netem_available === false && !at("netem").length && (
        <p className="muted small">Lab host {state.host} lacks sch_netem: only a rate limit and up/down work there.</p>
      )}
      <div className="row">
        {input("rate_mbit", "Rate (Mbit/s)")}
        <label className="check">
          <input type="checkbox" name="cond-up" checked={form.up} onChange={(e) => setForm({ ...form, up: e.target.checked })} />
          Link up
        </label>
      </div>
      {at("up").map(shown)}
      {issues.filter((i) => !known.has(i.path)).map(shown)}
      {error && <div className="field-issue">{error}</div>}
      <button className="btn tiny" name="cond-apply" disabled={busy} onClick={() => void apply()}>
        {state.lab_state === "running" ? "Apply now" : "Save"}
      </button>
      <p className="muted small" data-testid="cond-applied">
        {applied
          ? `Running (revision ${applied.revision}): ${describe(applied)}${waiting ? ` · revision ${state.latest.revision} not applied yet` : ""}`
          : `Not running: saved values apply at the next deploy (${describe(state.latest)}).`}
      </p>
    </div>
  );
}
