// A student's exercise copy as its instructor sees it: read-only (its state, a picture,
// the checks' results) with a console into each node. The server lets an instructor
// read, watch and type in consoles of a copy, never edit or delete it
// (lab/classroom/permissions.py INSTRUCTOR_ON_COPY).
import { lazy, Suspense, useState } from "react";
import { Api, type LabDetail } from "../api";
import { Link } from "../router";
import { ClassroomApi, type Attempt } from "./api";
import { ErrorBox, failure, stateBadge, usePolling } from "./common";
import { TopologyPicture } from "./ExercisePage";

const ConsoleTerminal = lazy(() => import("../editor/Terminal").then((m) => ({ default: m.ConsoleTerminal })));

export function StudentLabPage({ id }: { id: string }) {
  const [lab, setLab] = useState<LabDetail | null>(null);
  const [attempt, setAttempt] = useState<Attempt | null>(null);
  const [error, setError] = useState("");
  const [console_, setConsole] = useState<string | null>(null);

  usePolling(() => {
    Api.lab(id).then(setLab).catch((e) => setError(failure(e)));
    ClassroomApi.checks(Number(id)).then(setAttempt).catch(() => setAttempt(null));
  }, 5000);

  if (!lab) return <div className="page"><ErrorBox error={error} />{!error && <p className="muted">Loading…</p>}</div>;
  const running = lab.state === "running";
  const nodes = lab.topology?.nodes ?? [];
  return (
    <div className="page cr-wide" data-testid="student-lab">
      <div className="page-head">
        <div>
          <div className="small">
            <Link to="/classroom">My courses</Link> /{attempt && <> <Link to={`/classroom/exercises/${attempt.exercise}`}>exercise</Link> /</>}
          </div>
          <h1>{lab.name}</h1>
        </div>
        {stateBadge(lab.state)}
      </div>
      <p className="cr-readonly" data-testid="read-only">
        Read-only: this is a student's lab. You can watch it and open its consoles; the design is the student's to change.
        Destroy or reset it from the course page.
      </p>
      <ErrorBox error={error} />
      <div className="cr-watch">
        <div className="card cr-picture">
          {lab.topology ? <TopologyPicture doc={lab.topology} state={lab.state} /> : <p className="muted">No topology yet.</p>}
        </div>
        <section className="cr-section">
          <h2>Checks</h2>
          {attempt ? (
            <ul className="cr-checks">
              {attempt.checks.map((c) => (
                <li key={c.index} className={`cr-checkrow cr-${c.passed ? "pass" : c.last_run ? "fail" : "none"}`}>
                  <span className="cr-mark">{c.passed ? "✓" : c.last_run ? "✗" : "○"}</span>
                  <div><div className="cr-check-title">{c.title}</div><div className="small">{c.message}</div></div>
                </li>
              ))}
            </ul>
          ) : <p className="muted small">Not an exercise copy.</p>}
        </section>
      </div>
      <section className="cr-section">
        <h2>Consoles</h2>
        {!running && <p className="muted small">The lab is {lab.state}: consoles open while it runs.</p>}
        <ul className="cr-nodes">
          {nodes.map((n) => (
            <li key={n.name}>
              <button className={`btn ${console_ === n.name ? "primary" : ""}`} disabled={!running} onClick={() => setConsole(n.name)} data-open-console={n.name}>
                Console {n.name}
              </button>
            </li>
          ))}
        </ul>
        {console_ && running && (
          <div className="cr-console" data-testid="console">
            <Suspense fallback={<p className="muted">Opening the console…</p>}>
              <ConsoleTerminal key={console_} labId={String(lab.id)} node={console_} />
            </Suspense>
          </div>
        )}
      </section>
    </div>
  );
}
