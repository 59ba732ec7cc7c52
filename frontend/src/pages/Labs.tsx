import { useEffect, useState } from "react";
import { Api, ApiError, type LabSummary } from "../api";
import { isBusy, stateLabel } from "../model/labState";
import { Link, navigate } from "../router";

// A lab's state moves on the server (a deploy, a reservation's end): read it again
// every few seconds while one is busy, and now and then otherwise.
const BUSY_POLL_MS = 2_000;
const IDLE_POLL_MS = 15_000;
// The server refuses to delete a lab that may still have kernel objects.
const DELETABLE = new Set(["stopped", "failed", "unknown"]);

export function LabsPage() {
  const [labs, setLabs] = useState<LabSummary[] | null>(null);
  const [name, setName] = useState("");
  const [error, setError] = useState("");

  const load = () =>
    Api.labs()
      .then(setLabs)
      .catch((e) => {
        if (e instanceof ApiError && e.status === 401) navigate("/login?next=/labs");
        else setError(String(e.message ?? e));
      });
  useEffect(() => {
    load();
  }, []);
  const busy = !!labs?.some((l) => isBusy(l.state));
  useEffect(() => {
    const t = setInterval(() => {
      if (document.visibilityState !== "hidden") load();
    }, busy ? BUSY_POLL_MS : IDLE_POLL_MS);
    return () => clearInterval(t);
  }, [busy]);

  async function run(f: () => Promise<unknown>) {
    setError("");
    try {
      await f();
      await load();
    } catch (e) {
      setError(e instanceof ApiError ? e.message : String(e));
    }
  }

  async function create(e: React.FormEvent) {
    e.preventDefault();
    const labName = name.trim() || "untitled";
    try {
      const lab = await Api.createLab(labName);
      navigate(`/labs/${lab.id}`);
    } catch (err) {
      setError(err instanceof ApiError ? err.message : String(err));
    }
  }

  return (
    <div className="page">
      <div className="page-head">
        <h1>My labs</h1>
        <form className="inline-form" onSubmit={create}>
          <input placeholder="New lab name" value={name} onChange={(e) => setName(e.target.value)} aria-label="New lab name" />
          <button className="btn primary" type="submit">Create lab</button>
        </form>
      </div>
      {error && <div className="error">{error}</div>}
      {labs === null ? (
        <p className="muted">Loading…</p>
      ) : labs.length === 0 ? (
        <div className="empty card">No labs yet. Create one, or open a ready-made lab from the <Link to="/demos">demo library</Link>.</div>
      ) : (
        <table className="table">
          <thead>
            <tr><th>Name</th><th>State</th><th>Updated</th><th /></tr>
          </thead>
          <tbody>
            {labs.map((lab) => (
              <tr key={lab.id} data-lab={lab.id}>
                <td><Link to={`/labs/${lab.id}`} className="lab-link">{lab.name}</Link></td>
                <td><span className={`badge state-${lab.state}`} data-state={lab.state}>{stateLabel(lab.state)}</span></td>
                <td className="muted">{lab.updated ? new Date(lab.updated).toLocaleString() : ""}</td>
                <td className="row-actions">
                  <button className="btn ghost" onClick={() => { const n = prompt("Rename lab", lab.name); if (n) run(() => Api.renameLab(lab.id, n)); }}>Rename</button>
                  <button className="btn ghost" onClick={() => run(() => Api.duplicateLab(lab.id))}>Duplicate</button>
                  {["running", "failed", "unknown"].includes(lab.state) && (
                    <button className="btn ghost" onClick={() => { if (confirm(`Destroy lab ${lab.name}? Its nodes go; its topology stays.`)) run(() => Api.action(lab.id, "destroy")); }}>Destroy</button>
                  )}
                  <button
                    className="btn ghost danger"
                    disabled={!DELETABLE.has(lab.state)}
                    title={DELETABLE.has(lab.state) ? undefined : `the lab is ${stateLabel(lab.state)}: destroy it before deleting it`}
                    onClick={() => { if (confirm(`Delete lab ${lab.name}?`)) run(() => Api.deleteLab(lab.id)); }}
                  >
                    Delete
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}
