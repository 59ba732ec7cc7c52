// The demo tab of a lab opened from the library: its explanation, a run button, and what
// the run showed (probes, the bridge's learned addresses, the macvlan matrix, the journey).
import { useEffect, useRef, useState } from "react";
import { Api, ApiError, type DemoRun, type LabDemo } from "../api";

function Probes({ run }: { run: DemoRun }) {
  return (
    <table className="demo-probes" data-testid="demo-probes">
      <thead>
        <tr><th>Probe</th><th>From → to</th><th>Expected</th><th>Result</th><th>Why</th></tr>
      </thead>
      <tbody>
        {run.probes.map((p, i) => (
          <tr key={i} className={p.passed ? "pass" : "fail"}>
            <td>{p.label}</td>
            <td><code>{p.src} → {p.dst}</code></td>
            <td>{p.expected === "reach" ? "reaches" : "is refused"}</td>
            <td>{p.passed ? "✔" : "✘"} {p.reached ? `reached${p.rtt_ms != null ? ` (${p.rtt_ms} ms)` : ""}` : "no reply"}{p.error ? ` — ${p.error}` : ""}</td>
            <td className="muted">{p.why}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Fdb({ rows }: { rows: NonNullable<DemoRun["fdb"]> }) {
  if (!rows.length) return <p className="muted">The bridge has learned no addresses yet.</p>;
  return (
    <table className="demo-fdb">
      <caption>What the bridge learned (its forwarding table)</caption>
      <thead><tr><th>Bridge</th><th>Port</th><th>MAC</th><th>Belongs to</th></tr></thead>
      <tbody>
        {rows.map((r, i) => (
          <tr key={i}><td>{r.node}:{r.bridge}</td><td>{r.port}</td><td><code>{r.mac}</code></td><td>{r.owner ?? "?"}</td></tr>
        ))}
      </tbody>
    </table>
  );
}

function Matrix({ matrix }: { matrix: NonNullable<DemoRun["matrix"]> }) {
  return (
    <div className="demo-matrix">
      {matrix.groups.map((g) => {
        const cell = (src: string, dst: string) => g.cells.find((c) => c.src === src && c.dst === dst);
        return (
          <table key={`${g.parent}-${g.mode}`}>
            <caption>{g.mode} children of <code>{g.parent}</code></caption>
            <thead><tr><th>from \ to</th>{g.cols.map((c) => <th key={c}>{c}</th>)}</tr></thead>
            <tbody>
              {g.rows.map((r) => (
                <tr key={r}>
                  <th>{r}</th>
                  {g.cols.map((c) => {
                    const x = cell(r, c);
                    return <td key={c} className={x ? (x.reached ? "pass" : "fail") : "muted"}>{x ? (x.reached ? "✔" : "✘") : "—"}</td>;
                  })}
                </tr>
              ))}
            </tbody>
          </table>
        );
      })}
      <dl>
        {Object.entries(matrix.modes).map(([m, why]) => (
          <div key={m}><dt>{m}</dt><dd>{why}</dd></div>
        ))}
      </dl>
    </div>
  );
}

export function DemoPanel(props: {
  labId: string;
  demo: LabDemo;
  running: boolean;
  run: DemoRun | null;
  onRun: (run: DemoRun) => void;
  /** Run once as soon as the lab is running ("Open & run" in the library). */
  autoRun?: boolean;
}) {
  const [busy, setBusy] = useState(false);
  const autoRan = useRef(false);
  const [error, setError] = useState("");
  const run = props.run;

  async function go() {
    setBusy(true);
    setError("");
    try {
      props.onRun(await Api.runDemo(props.labId));
    } catch (e) {
      setError(e instanceof ApiError ? e.message : String(e));
    } finally {
      setBusy(false);
    }
  }

  useEffect(() => {
    if (props.autoRun && props.running && !autoRan.current) {
      autoRan.current = true;
      void go();
    }
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [props.autoRun, props.running]);

  return (
    <div className="demo-panel" data-testid="demo-panel">
      <div className="toolbar">
        <b>{props.demo.title}</b>
        <button className="btn primary" onClick={go} disabled={busy || !props.running} title={props.running ? "Make the demo's traffic and trace it" : "Deploy the lab first"}>
          {busy ? "Running…" : "Run demo"}
        </button>
        {!props.running && <span className="muted">Deploy the lab, then run its traffic.</span>}
        {run && (
          <span className={run.passed ? "ok" : "error"} data-testid="demo-verdict">
            {run.passed ? "Everything behaved as explained" : "Something did not behave as explained"} · {run.seconds.toFixed(2)} s
          </span>
        )}
      </div>
      {error && <div className="error" role="alert">{error}</div>}
      <div className="demo-body">
        {/* Rendered by the server from the demo's Markdown, raw HTML off, sanitized by nh3. */}
        <div className="explanation" dangerouslySetInnerHTML={{ __html: props.demo.explanation_html ?? "" }} />
        {run && (
          <div className="demo-results">
            {run.errors.length > 0 && <ul className="error">{run.errors.map((e, i) => <li key={i}>{e}</li>)}</ul>}
            <Probes run={run} />
            {run.fdb && <Fdb rows={run.fdb} />}
            {run.matrix && <Matrix matrix={run.matrix} />}
            {run.journey && (
              <div className="demo-journey">
                <h4>Packet journey: {run.journey.hops.length} sightings (the canvas replays it)</h4>
                <ol className="demo-hops" data-testid="demo-hops">
                  {run.journey.hops.map((h, i) => (
                    <li key={i} className={h.kind === "program" ? "program" : ""}>
                      <code>{h.text}</code>
                    </li>
                  ))}
                </ol>
              </div>
            )}
          </div>
        )}
      </div>
    </div>
  );
}
