// The instructor's course tools: destroy or reset every student's lab copy at once,
// and the course's quota for its students.
import { useEffect, useState } from "react";
import { ApiError } from "../api";
import type { Issue } from "../model/types";
import { ClassroomApi, type BulkRow, type CourseSummary, type Limits, type QuotaName } from "./api";
import { ErrorBox, FieldIssues, failure } from "./common";
import { issuesByField } from "./results";

const OUTCOME: Record<string, string> = {
  destroying: "destroying",
  skipped: "already stopped",
  applying: "reset, applying",
  deploying: "reset, deploying",
  refused: "refused",
};

export function BulkActions({ course, onDone }: { course: CourseSummary; onDone: () => void }) {
  const [exercise, setExercise] = useState("");
  const [rows, setRows] = useState<BulkRow[] | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState("");

  async function run(action: "destroy" | "reset") {
    const scope = exercise ? `the copies of “${course.exercises.find((e) => String(e.id) === exercise)?.title}”` : "every student's lab in this course";
    const what = action === "destroy"
      ? `Destroy ${scope}? Their topologies stay; the labs stop running.`
      : `Reset ${scope} to the exercise's starting point? The students' changes are lost.`;
    if (!confirm(what)) return;
    setBusy(true);
    setError("");
    try {
      setRows(await ClassroomApi.bulk(course.id, action, exercise ? Number(exercise) : null));
      onDone();
    } catch (e) {
      setError(failure(e));
    } finally {
      setBusy(false);
    }
  }

  const refused = rows?.filter((r) => r.outcome === "refused") ?? [];
  return (
    <section className="card cr-section" data-testid="bulk-actions">
      <h2>Students' labs</h2>
      <div className="cr-bulk">
        <select value={exercise} onChange={(e) => setExercise(e.target.value)} aria-label="which exercise">
          <option value="">every exercise</option>
          {course.exercises.map((e) => <option key={e.id} value={e.id}>{e.title}</option>)}
        </select>
        <button className="btn danger" disabled={busy} onClick={() => run("destroy")} data-testid="bulk-destroy">Destroy all</button>
        <button className="btn" disabled={busy} onClick={() => run("reset")} data-testid="bulk-reset">Reset all to the template</button>
      </div>
      <ErrorBox error={error} />
      {rows && (
        <div className="cr-bulk-result" data-testid="bulk-result" role="status">
          {rows.length === 0 ? "No student has started a copy yet." : `${rows.length - refused.length} of ${rows.length} labs done.`}
          <ul>
            {rows.map((r) => (
              <li key={r.lab} className={r.outcome === "refused" ? "refused" : ""}>
                {r.student}: {OUTCOME[r.outcome] ?? r.outcome}{r.message && r.outcome === "refused" ? ` — ${r.message}` : ""}
              </li>
            ))}
          </ul>
        </div>
      )}
    </section>
  );
}

const QUOTAS: { name: QuotaName; label: string }[] = [
  { name: "nodes_per_lab", label: "Nodes per lab" },
  { name: "concurrent_labs", label: "Labs running at once" },
  { name: "labs_owned", label: "Labs owned" },
  { name: "hours_per_week", label: "Booked hours per week" },
];

export function QuotaForm({ courseId }: { courseId: number }) {
  const [values, setValues] = useState<Record<QuotaName, string> | null>(null);
  const [site, setSite] = useState<Limits | null>(null);
  const [issues, setIssues] = useState<Issue[]>([]);
  const [error, setError] = useState("");
  const [saved, setSaved] = useState(false);

  const show = (q: Limits) =>
    setValues(Object.fromEntries(QUOTAS.map(({ name }) => [name, q[name] === null ? "" : String(q[name])])) as Record<QuotaName, string>);
  useEffect(() => {
    ClassroomApi.courseQuota(courseId)
      .then((q) => {
        show(q.quota);
        setSite(q.site);
      })
      .catch((e) => setError(failure(e)));
  }, [courseId]);

  async function submit(e: React.FormEvent) {
    e.preventDefault();
    if (!values) return;
    setIssues([]);
    setError("");
    setSaved(false);
    // An empty field clears the course's limit; anything else goes as typed, so the
    // server names the field of a value it refuses.
    const body = Object.fromEntries(QUOTAS.map(({ name }) => {
      const t = values[name].trim();
      return [name, t === "" ? null : /^\d+$/.test(t) ? Number(t) : t];
    })) as Limits;
    try {
      const q = await ClassroomApi.setCourseQuota(courseId, body);
      show(q.quota);
      setSaved(true);
    } catch (err) {
      setError(failure(err));
      if (err instanceof ApiError) setIssues(err.issues);
    }
  }

  const byField = issuesByField(issues);
  return (
    <section className="card cr-section cr-form-card" data-testid="quota-form">
      <h2>Course quota</h2>
      <p className="small muted">Limits for this course's students (the smallest of their courses wins). Empty: the site's limit.</p>
      {values && (
        <form onSubmit={submit}>
          <div className="cr-quota-form">
            {QUOTAS.map(({ name, label }) => (
              <label key={name} className="field">
                {label}
                <input value={values[name]} inputMode="numeric" data-quota={name} className={byField.has(name) ? "invalid" : ""}
                  placeholder={site?.[name] != null ? `site: ${site[name]}` : "no limit"}
                  onChange={(e) => setValues({ ...values, [name]: e.target.value })} />
              </label>
            ))}
          </div>
          <FieldIssues issues={issues} />
          <ErrorBox error={issues.length ? "" : error} />
          <div className="row-actions cr-left">
            <button className="btn primary" data-testid="quota-save">Save quota</button>
            {saved && <span className="small muted" role="status">saved</span>}
          </div>
        </form>
      )}
      {!values && <ErrorBox error={error} />}
    </section>
  );
}
