// Exercise page: the rendered instructions beside the student's own copy of the
// lab (state, a picture of it, Start / Reset, Run checks and the results with hints).
import { useEffect, useMemo, useRef, useState } from "react";
import { Api, ApiError, type LabDetail } from "../api";
import type { Issue, Topology } from "../model/types";
import { Link, navigate } from "../router";
import { ClassroomApi, type Attempt, type CheckRow, type Exercise } from "./api";
import { ChecksBuilder } from "./ChecksBuilder";
import { ErrorBox, FieldIssues, failure, stateBadge, usePolling } from "./common";
import { issuesByField } from "./results";
import { NODE_H, NODE_W, previewOf } from "./preview";
import { ago } from "./results";

const BUSY_LAB = new Set(["deploying", "destroying"]);
const CHECK_TIMEOUT_MS = 90_000;

function latestRun(checks: CheckRow[]): string {
  return checks.reduce((m, c) => (c.last_run && c.last_run > m ? c.last_run : m), "");
}

export function ExercisePage({ id }: { id: string }) {
  const [exercise, setExercise] = useState<Exercise | null>(null);
  const [lab, setLab] = useState<LabDetail | null>(null);
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  // While checks run: the latest last_run before asking, and when we asked.
  const [checking, setChecking] = useState<{ before: string; since: number } | null>(null);
  const labRev = useRef<string>("");

  const attempt = exercise?.attempt ?? null;

  const load = () =>
    ClassroomApi.exercise(id)
      .then((ex) => {
        setExercise(ex);
        const a = ex.attempt;
        if (a && checking && (latestRun(a.checks) > checking.before || Date.now() - checking.since > CHECK_TIMEOUT_MS)) {
          setChecking(null);
        }
        // Refetch the lab picture only when the state changes (it is the heavier call).
        const rev = a ? `${a.lab}:${a.lab_state}` : "";
        if (a && rev !== labRev.current) {
          labRev.current = rev;
          Api.lab(a.lab).then(setLab).catch(() => setLab(null));
        }
      })
      .catch((e) => setError(failure(e)));

  useEffect(() => {
    setExercise(null);
    setLab(null);
    labRev.current = "";
    setError("");
    load();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [id]);
  // Poll only while something is moving: a deploy or a check run.
  usePolling(load, 2500, Boolean(checking || (attempt && BUSY_LAB.has(attempt.lab_state))));

  async function act(what: "start" | "reset") {
    if (what === "reset" && !confirm("Reset your lab to the exercise's starting point? Your changes to it are lost.")) return;
    setBusy(true);
    setError("");
    try {
      const a = await (what === "start" ? ClassroomApi.start(id) : ClassroomApi.reset(id));
      setExercise((ex) => (ex ? { ...ex, attempt: a } : ex));
      await load();
    } catch (e) {
      setError(failure(e));
    } finally {
      setBusy(false);
    }
  }

  async function runChecks(a: Attempt) {
    setError("");
    try {
      const before = latestRun(a.checks);
      await ClassroomApi.runChecks(a.lab);
      setChecking({ before, since: Date.now() });
    } catch (e) {
      setError(failure(e));
    }
  }

  if (!exercise) return <div className="page"><ErrorBox error={error} />{!error && <p className="muted">Loading…</p>}</div>;
  const passed = attempt ? attempt.checks.filter((c) => c.passed).length : 0;
  return (
    <div className="cr-exercise">
      <article className="cr-instructions">
        <div className="small"><Link to={`/classroom/courses/${exercise.course}`}>Course</Link> /</div>
        <h1>{exercise.title}{!exercise.published && <span className="badge cr-draft" data-testid="draft-badge" title="students do not see this exercise">draft</span>}</h1>
        {exercise.instructions_html ? (
          // instructions_html is rendered by the server with raw HTML disabled in the
          // Markdown parser and then cleaned by nh3 (lab/classroom/services.py
          // render_instructions): no scripts, handlers or javascript: URLs remain.
          <div className="cr-markdown" dangerouslySetInnerHTML={{ __html: exercise.instructions_html }} />
        ) : (
          <p className="muted">No instructions.</p>
        )}
        {exercise.checks.length > 0 && (
          <>
            <h4>What is checked</h4>
            <ol className="cr-goals">{exercise.checks.map((c) => <li key={c.index}>{c.title}</li>)}</ol>
          </>
        )}
        {exercise.manage && <ExerciseEditor exercise={exercise} onSaved={setExercise} />}
      </article>
      <aside className="cr-labpane">
        <div className="cr-labhead">
          <h2>Your lab</h2>
          {attempt && stateBadge(attempt.lab_state)}
          <div className="spacer" />
          {!attempt ? (
            <button className="btn primary" disabled={busy} onClick={() => act("start")}>{busy ? "Starting…" : "Start"}</button>
          ) : (
            <>
              {attempt.lab_state !== "running" && !BUSY_LAB.has(attempt.lab_state) && (
                <button className="btn primary" disabled={busy} onClick={() => act("start")}>Deploy</button>
              )}
              <button className="btn" disabled={busy || BUSY_LAB.has(attempt.lab_state)} onClick={() => act("reset")}>Reset</button>
              <Link to={`/labs/${attempt.lab}`} className="btn">Open in editor ↗</Link>
            </>
          )}
        </div>
        <ErrorBox error={error} />
        {!attempt ? (
          <div className="empty card">Start the exercise to get your own copy of its lab, deployed for you.</div>
        ) : (
          <>
            <div className="card cr-picture">
              {lab?.topology ? <TopologyPicture doc={lab.topology} state={attempt.lab_state} /> : <p className="muted">Loading the lab…</p>}
            </div>
            <div className="cr-section-head">
              <h2>Checks</h2>
              <span className="small muted">{passed}/{attempt.checks.length} passing</span>
              <div className="spacer" />
              <button className="btn primary" disabled={Boolean(checking) || attempt.lab_state !== "running"}
                title={attempt.lab_state !== "running" ? "the lab must be running" : ""} onClick={() => runChecks(attempt)}>
                {checking ? "Checking…" : "Run checks"}
              </button>
            </div>
            <ul className="cr-checks">
              {attempt.checks.map((c) => <CheckItem key={c.index} check={c} />)}
            </ul>
          </>
        )}
      </aside>
    </div>
  );
}

function CheckItem({ check }: { check: CheckRow }) {
  const ran = Boolean(check.last_run);
  const state = check.passed ? "pass" : ran ? "fail" : "none";
  return (
    <li className={`cr-checkrow cr-${state}`} data-check={check.index}>
      <span className="cr-mark">{state === "pass" ? "✓" : state === "fail" ? "✗" : "○"}</span>
      <div>
        <div className="cr-check-title">{check.title}</div>
        {ran && <div className="small">{check.message}</div>}
        {!check.passed && check.hint && <div className="hint">Hint: {check.hint}</div>}
        <div className="small muted">
          {ran ? `checked ${ago(check.last_run, new Date())}` : "not run yet"}
          {check.last_pass && !check.passed && ` · last passed ${ago(check.last_pass, new Date())}`}
        </div>
      </div>
    </li>
  );
}

/** A small drawing of a topology (nodes on a grid, links as lines), coloured by state. */
export function TopologyPicture({ doc, state }: { doc: Topology; state: string }) {
  const p = useMemo(() => previewOf(doc), [doc]);
  const at = new Map(p.nodes.map((n) => [n.name, n]));
  if (p.nodes.length === 0) return <p className="muted">The lab has no nodes.</p>;
  return (
    <svg className={`cr-topo state-${state}`} viewBox={`0 0 ${p.width} ${p.height}`} role="img" aria-label={`topology of ${doc.name}`}>
      {p.edges.map((e, i) => {
        const a = at.get(e.a)!;
        const b = at.get(e.b)!;
        return <line key={i} x1={a.x} y1={a.y} x2={b.x} y2={b.y} className={`cr-edge link-${e.kind}`} />;
      })}
      {p.nodes.map((n) => (
        <g key={n.name} transform={`translate(${n.x - NODE_W / 2},${n.y - NODE_H / 2})`} className={`cr-node kind-${n.kind}`}>
          <rect width={NODE_W} height={NODE_H} rx={8} />
          <text x={NODE_W / 2} y={17} textAnchor="middle" className="cr-node-name">{n.name}</text>
          <text x={NODE_W / 2} y={31} textAnchor="middle" className="cr-node-kind">{n.kind}</text>
        </g>
      ))}
    </svg>
  );
}

/** The instructor's edit panel of an exercise: title, instructions and checks; a
 * Duplicate that copies it into the course; Unpublish / Publish. Students never get
 * it (``manage``). */
function ExerciseEditor({ exercise, onSaved }: { exercise: Exercise; onSaved: (e: Exercise) => void }) {
  const [open, setOpen] = useState(false);
  const [title, setTitle] = useState(exercise.title);
  const [instructions, setInstructions] = useState(exercise.instructions);
  const [checks, setChecks] = useState<Record<string, unknown>[]>(exercise.specs ?? []);
  const [issues, setIssues] = useState<Issue[]>([]);
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  const byField = useMemo(() => issuesByField(issues), [issues]);

  function start() {
    setTitle(exercise.title);
    setInstructions(exercise.instructions);
    setChecks(exercise.specs ?? []);
    setIssues([]);
    setError("");
    setOpen(true);
  }

  async function save(e: React.FormEvent) {
    e.preventDefault();
    setBusy(true);
    setIssues([]);
    setError("");
    try {
      onSaved(await ClassroomApi.updateExercise(exercise.id, { title: title.trim(), instructions, checks }));
      setOpen(false);
    } catch (err) {
      setError(failure(err));
      if (err instanceof ApiError) setIssues(err.issues);
    } finally {
      setBusy(false);
    }
  }

  async function setPublished(published: boolean) {
    setError("");
    try {
      onSaved(await ClassroomApi.updateExercise(exercise.id, { published }));
    } catch (err) {
      setError(failure(err));
    }
  }

  async function duplicate() {
    setError("");
    try {
      const copy = await ClassroomApi.duplicateExercise(exercise.id);
      navigate(`/classroom/exercises/${copy.id}`);
    } catch (err) {
      setError(failure(err));
    }
  }

  return (
    <section className="cr-edit" data-testid="exercise-editor">
      <div className="row-actions cr-left">
        {!open && <button className="btn" onClick={start} data-testid="edit-exercise">Edit exercise</button>}
        <button className="btn" onClick={duplicate} data-testid="duplicate-exercise">Duplicate</button>
        <button className="btn" onClick={() => setPublished(!exercise.published)} data-testid="publish-exercise"
          title={exercise.published ? "hide it from students; their copies stay theirs" : "show it to the course's students"}>
          {exercise.published ? "Unpublish" : "Publish"}
        </button>
      </div>
      {open && (
        <form className="cr-form" onSubmit={save}>
          <label className="field">Title<input value={title} onChange={(e) => setTitle(e.target.value)} maxLength={200} className={byField.has("title") ? "invalid" : ""} data-testid="edit-title" /></label>
          <FieldIssues issues={byField.get("title")} />
          <label className="field">Instructions (Markdown)<textarea rows={6} value={instructions} onChange={(e) => setInstructions(e.target.value)} /></label>
          <FieldIssues issues={byField.get("instructions")} />
          <div className="field">
            Checks <span className="small muted">(changed checks clear the students' results; they run them again)</span>
            <ChecksBuilder checks={checks} onChange={setChecks} topology={exercise.template as unknown as Topology} issues={byField.get("checks")} />
          </div>
          <ErrorBox error={issues.length ? "" : error} />
          <FieldIssues issues={issues.filter((i) => !["title", "instructions", "checks"].includes(i.path.replace(/[.[].*$/, "")))} />
          <div className="row-actions cr-left">
            <button className="btn primary" disabled={busy || !title.trim()} data-testid="save-exercise">{busy ? "Saving…" : "Save"}</button>
            <button type="button" className="btn ghost" onClick={() => setOpen(false)}>Cancel</button>
          </div>
        </form>
      )}
      {!open && <ErrorBox error={error} />}
    </section>
  );
}
