import { useEffect, useState } from "react";
import { Api, ApiError, type Demo } from "../api";
import { isBusy } from "../model/labState";
import { navigate } from "../router";

export function DemosPage() {
  const [demos, setDemos] = useState<Demo[] | null>(null);
  const [error, setError] = useState("");
  const [missing, setMissing] = useState(false);

  useEffect(() => {
    Api.demos()
      .then((d) => setDemos(Array.isArray(d) ? d : []))
      .catch((e) => {
        // The demo API comes from another room; until it exists, say so calmly.
        if (e instanceof ApiError && (e.status === 404 || e.status === 405)) setMissing(true);
        else setError(e instanceof ApiError ? e.message : String(e));
        setDemos([]);
      });
  }, []);

  async function open(slug: string, run: boolean) {
    setError("");
    try {
      // One lab per demo: opening again gives back the lab made the first time.
      const { lab_id, state } = await Api.openDemo(slug);
      if (run && (state === "running" || isBusy(state))) {
        navigate(`/labs/${lab_id}?run=1`); // already up (or on its way): run its traffic
        return;
      }
      if (run) {
        // Deploy now; the lab page runs the demo's traffic as soon as the lab is running.
        try {
          await Api.action(lab_id, "deploy");
        } catch (e) {
          setError(e instanceof ApiError ? `opened, but could not deploy: ${e.message}` : String(e));
          navigate(`/labs/${lab_id}`);
          return;
        }
        navigate(`/labs/${lab_id}?run=1`);
        return;
      }
      navigate(`/labs/${lab_id}`);
    } catch (e) {
      setError(e instanceof ApiError ? e.message : String(e));
    }
  }

  return (
    <div className="page">
      <div className="page-head"><h1>Demo library</h1></div>
      {error && <div className="error">{error}</div>}
      {missing && <div className="empty card">The demo library is not available on this server yet.</div>}
      <div className="cards">
        {demos?.map((d) => (
          <div className="card demo" key={d.slug} data-demo={d.slug}>
            <h3>{d.title}</h3>
            <p>{d.summary}</p>
            {!!d.needs?.length && (
              <p>
                <span className="chip-unlinked" data-testid="demo-needs" title="no lab host that is up has these kernel modules: opening works, deploying fails">
                  needs {d.needs.join(", ")}
                </span>
              </p>
            )}
            {(d.explanation_html || d.explanation) && (
              <details>
                <summary>How it works</summary>
                {d.explanation_html ? (
                  // Rendered by the server from Markdown with raw HTML off, then sanitized (nh3).
                  <div className="explanation" dangerouslySetInnerHTML={{ __html: d.explanation_html }} />
                ) : (
                  <div className="explanation">{d.explanation}</div>
                )}
              </details>
            )}
            <div className="row-actions">
              <button className="btn primary" onClick={() => open(d.slug, false)}>Open</button>
              <button className="btn" onClick={() => open(d.slug, true)} title="Open, deploy, and run the traffic once it is up">Open &amp; run</button>
            </div>
          </div>
        ))}
      </div>
    </div>
  );
}
