// Course dashboard: my courses, and per course its exercises, live results,
// enrolment by CSV and the "make an exercise from a lab" form (instructors).
import { useEffect, useMemo, useState } from "react";
import { Api, ApiError, type LabSummary } from "../api";
import type { Issue } from "../model/types";
import { Link, navigate } from "../router";
import { ClassroomApi, type CourseSummary, type Results, type StudentAdded } from "./api";
import { ErrorBox, FieldIssues, failure, usePolling, useSubmit } from "./common";
import { absoluteLink, ago, cellState, issuesByField, linksCsv, preconfigureOf, shapeResults } from "./results";
import { ChecksBuilder } from "./ChecksBuilder";
import { BulkActions, QuotaForm } from "./CourseTools";
import { TemplatePicker } from "./TemplatePicker";
import type { Topology } from "../model/types";

export function CoursesPage() {
  const [courses, setCourses] = useState<CourseSummary[] | null>(null);
  const [error, setError] = useState("");
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const [canCreate, setCanCreate] = useState(false);

  useEffect(() => {
    ClassroomApi.courses().then(setCourses).catch((e) => setError(failure(e)));
    // Only instructors and admins make courses: nobody else is offered the form.
    ClassroomApi.me().then((m) => setCanCreate(m.can_create_courses)).catch(() => setCanCreate(false));
  }, []);

  async function create(e: React.FormEvent) {
    e.preventDefault();
    setError("");
    try {
      const c = await ClassroomApi.createCourse(name.trim(), description);
      navigate(`/classroom/courses/${c.id}`);
    } catch (err) {
      setError(failure(err));
    }
  }

  return (
    <div className="page">
      <div className="page-head"><h1>My courses</h1></div>
      <ErrorBox error={error} />
      {courses === null ? (
        !error && <p className="muted">Loading…</p>
      ) : courses.length === 0 ? (
        <div className="empty card">You do not teach or take a course yet.</div>
      ) : (
        <div className="cards">
          {courses.map((c) => (
            <div key={c.id} className="card cr-course" data-course={c.id}>
              <div className="cr-course-head">
                <h3><Link to={`/classroom/courses/${c.id}`}>{c.name}</Link></h3>
                <span className={`badge cr-role-${c.role}`}>{c.role}</span>
              </div>
              {c.description && <p className="muted">{c.description}</p>}
              <div className="small muted">{c.exercises.length} exercise{c.exercises.length === 1 ? "" : "s"}</div>
            </div>
          ))}
        </div>
      )}
      {canCreate && <details className="card cr-section" data-testid="new-course">
        <summary>New course</summary>
        <form className="cr-form" onSubmit={create}>
          <label className="field">Name<input value={name} onChange={(e) => setName(e.target.value)} required maxLength={200} /></label>
          <label className="field">Description<textarea rows={2} value={description} onChange={(e) => setDescription(e.target.value)} /></label>
          <div><button className="btn primary" type="submit" disabled={!name.trim()}>Create course</button></div>
        </form>
      </details>}
    </div>
  );
}

export function CoursePage({ id }: { id: string }) {
  const [course, setCourse] = useState<CourseSummary | null>(null);
  const [error, setError] = useState("");

  const load = () => ClassroomApi.course(id).then(setCourse).catch((e) => setError(failure(e)));
  useEffect(() => {
    setCourse(null);
    setError("");
    load();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [id]);

  if (!course) return <div className="page"><ErrorBox error={error} />{!error && <p className="muted">Loading…</p>}</div>;
  const instructor = course.role === "instructor";
  return (
    <div className="page cr-wide">
      <div className="page-head">
        <div>
          <div className="small"><Link to="/classroom">My courses</Link> /</div>
          <h1>{course.name}</h1>
          {course.description && <p className="muted cr-desc">{course.description}</p>}
        </div>
        <span className={`badge cr-role-${course.role}`}>{course.role}</span>
      </div>
      <ErrorBox error={error} />
      <section className="cr-section">
        <h2>Exercises</h2>
        {course.exercises.length === 0 ? (
          <div className="empty card">No exercises yet.{instructor && " Make one from a lab or a template below."}</div>
        ) : (
          <ol className="cr-exercises card">
            {course.exercises.map((ex) => (
              <li key={ex.id}><Link to={`/classroom/exercises/${ex.id}`}>{ex.title}</Link>{!ex.published && <span className="badge cr-draft">draft</span>}</li>
            ))}
          </ol>
        )}
        {instructor && <TemplatePicker courseId={course.id} onCreated={load} />}
      </section>
      {instructor && (
        <>
          <ResultsTable course={course} />
          <div className="cr-two">
            <BulkActions course={course} onDone={load} />
            <QuotaForm courseId={course.id} />
          </div>
          <div className="cr-two">
            <EnrolForm courseId={course.id} />
            <ExerciseForm courseId={course.id} onCreated={load} />
          </div>
        </>
      )}
    </div>
  );
}

function ResultsTable({ course }: { course: CourseSummary }) {
  const [results, setResults] = useState<Results | null>(null);
  const [error, setError] = useState("");
  const [updated, setUpdated] = useState<Date | null>(null);
  usePolling(() => {
    ClassroomApi.results(course.id)
      .then((r) => {
        setResults(r);
        setUpdated(new Date());
        setError("");
      })
      .catch((e) => setError(failure(e)));
  }, 5000);
  const titles = useMemo(() => new Map(course.exercises.map((e) => [e.id, e.title])), [course]);
  const shaped = useMemo(() => (results ? shapeResults(results, titles) : null), [results, titles]);
  const now = updated ?? new Date();

  return (
    <section className="cr-section">
      <div className="cr-section-head">
        <h2>Results</h2>
        <span className="small muted">{updated ? `live, updated ${updated.toLocaleTimeString()}` : "loading…"}</span>
        <div className="spacer" />
        <a className="btn" href={ClassroomApi.resultsCsvUrl(course.id)} download>Download CSV</a>
      </div>
      <ErrorBox error={error} />
      {shaped && (shaped.rows.length === 0 || shaped.columns.length === 0) ? (
        <div className="empty card">
          {shaped.rows.length === 0 ? "No students yet: enrol them with the CSV form below." : "No checks yet: add an exercise with checks."}
        </div>
      ) : shaped ? (
        <div className="cr-scroll card">
          <table className="cr-results">
            <thead>
              <tr>
                <th rowSpan={2} className="cr-student">Student</th>
                {shaped.groups.map((g) => (
                  <th key={g.exercise} colSpan={g.span} className="cr-group">
                    <Link to={`/classroom/exercises/${g.exercise}`}>{g.title}</Link>
                  </th>
                ))}
                <th rowSpan={2}>Passed</th>
              </tr>
              <tr>
                {shaped.columns.map((c, i) => (
                  <th key={i} className="cr-check" title={c.title}>{c.check_title}</th>
                ))}
              </tr>
            </thead>
            <tbody>
              {shaped.rows.map((r) => (
                <tr key={r.student}>
                  <td className="cr-student">
                    {r.student}
                    {r.labs.length > 0 && (
                      <div className="cr-student-labs">
                        {r.labs.map((l) => (
                          <Link key={l.lab} to={`/classroom/labs/${l.lab}`} title={`${titles.get(l.exercise) ?? "exercise"}: open the lab, read-only, with its consoles`}>
                            <span className={`badge state-${l.state}`} data-lab={l.lab}>{r.labs.length > 1 ? `${titles.get(l.exercise) ?? "lab"}: ` : "lab: "}{l.state}</span>
                          </Link>
                        ))}
                      </div>
                    )}
                  </td>
                  {r.cells.map((cell, i) => {
                    const state = cellState(cell);
                    const when = cell.last_pass ? new Date(cell.last_pass) : null;
                    return (
                      <td key={i} className={`cr-cell cr-${state}`} title={when ? `last passed ${when.toLocaleString()}` : state === "none" ? "not started" : "not passing"}>
                        <span className="cr-mark">{state === "pass" ? "✓" : state === "fail" ? "✗" : "–"}</span>
                        {cell.last_pass && <span className="cr-when">{state === "pass" ? "" : "passed "}{ago(cell.last_pass, now)}</span>}
                      </td>
                    );
                  })}
                  <td className="cr-total">{r.passed}/{r.total}</td>
                </tr>
              ))}
            </tbody>
            <tfoot>
              <tr>
                <td className="cr-student muted">passing</td>
                {shaped.column_passes.map((n, i) => <td key={i} className="cr-total">{n}/{shaped.rows.length}</td>)}
                <td />
              </tr>
            </tfoot>
          </table>
        </div>
      ) : null}
    </section>
  );
}

function EnrolForm({ courseId }: { courseId: number }) {
  const [csv, setCsv] = useState("");
  const [added, setAdded] = useState<StudentAdded[] | null>(null);
  const [error, setError] = useState("");
  const [issues, setIssues] = useState<Issue[]>([]);
  const [busy, setBusy] = useState(false);

  async function submit(e: React.FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError("");
    setIssues([]);
    try {
      setAdded(await ClassroomApi.addStudents(courseId, csv));
      setCsv("");
    } catch (err) {
      setError(failure(err));
      if (err instanceof ApiError) setIssues(err.issues);
    } finally {
      setBusy(false);
    }
  }

  return (
    <section className="card cr-section cr-form-card">
      <h2>Enrol students</h2>
      <form className="cr-form" onSubmit={submit}>
        <label className="field">
          <span>CSV, one <code>username,email</code> per line</span>
          <textarea className={issues.length ? "invalid" : ""} rows={5} value={csv} onChange={(e) => setCsv(e.target.value)}
            placeholder={"username,email\nada,ada@example.org\nalan,alan@example.org"} />
        </label>
        <ErrorBox error={error} />
        <FieldIssues issues={issues} />
        <div><button className="btn primary" disabled={busy || !csv.trim()}>{busy ? "Adding…" : "Add students"}</button></div>
      </form>
      {added && (
        <div className="cr-links">
          <h4>Sign-in links (one use each, valid 7 days)</h4>
          <table className="cr-mini">
            <tbody>
              {added.map((s) => (
                <tr key={s.username}>
                  <td>{s.username}{s.created && <span className="badge cr-new">new</span>}</td>
                  <td>{s.login_link === null
                    ? <span className="muted">existing account: signs in as before</span>
                    : <input readOnly className="cr-link" value={absoluteLink(s.login_link, location.origin)} onFocus={(e) => e.target.select()} />}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <a className="btn" download={`course-${courseId}-links.csv`}
            href={`data:text/csv;charset=utf-8,${encodeURIComponent(linksCsv(added, location.origin))}`}>Download links as CSV</a>
        </div>
      )}
    </section>
  );
}

function ExerciseForm({ courseId, onCreated }: { courseId: number; onCreated: () => void }) {
  const [labs, setLabs] = useState<LabSummary[] | null>(null);
  const [lab, setLab] = useState("");
  const [title, setTitle] = useState("");
  const [instructions, setInstructions] = useState("");
  const [checks, setChecks] = useState<Record<string, unknown>[]>([]);
  const [topology, setTopology] = useState<Topology | null>(null);
  const [strip, setStrip] = useState({ addresses: true, routes: true, forwarding: false });
  const [stripNodes, setStripNodes] = useState("");
  const { busy, error, setError, issues, run } = useSubmit();
  const byField = useMemo(() => issuesByField(issues), [issues]);

  useEffect(() => {
    Api.labs().then(setLabs).catch((e) => setError(failure(e)));
  }, []);
  // The builder offers the picked lab's nodes and interfaces.
  useEffect(() => {
    setTopology(null);
    if (lab) Api.lab(lab).then((l) => setTopology(l.topology ?? null)).catch(() => setTopology(null));
  }, [lab]);

  function submit(e: React.FormEvent) {
    e.preventDefault();
    void run(async () => {
      const ex = await ClassroomApi.createExercise(courseId, {
        lab: Number(lab),
        title: title.trim(),
        instructions,
        preconfigure: preconfigureOf(strip, stripNodes),
        checks,
      });
      onCreated();
      navigate(`/classroom/exercises/${ex.id}`);
    });
  }

  // Issues whose path is none of the fields below (e.g. "preconfigure", "template") still show.
  const other = issues.filter((i) => !["lab", "title", "instructions", "preconfigure", "checks"].includes(i.path.replace(/[.[].*$/, "")));
  return (
    <section className="card cr-section cr-form-card">
      <h2>Make an exercise from a lab</h2>
      <form className="cr-form" onSubmit={submit}>
        <label className="field">
          Lab (its latest valid topology is copied for each student)
          <select value={lab} onChange={(e) => setLab(e.target.value)} required className={byField.has("lab") ? "invalid" : ""}>
            <option value="">{labs === null ? "Loading…" : "Pick one of my labs"}</option>
            {labs?.map((l) => <option key={l.id} value={l.id}>{l.name}</option>)}
          </select>
        </label>
        <FieldIssues issues={byField.get("lab")} />
        <fieldset className="cr-strip">
          <legend>Take out of the students' copy (they configure it)</legend>
          {(["addresses", "routes", "forwarding"] as const).map((k) => (
            <label key={k} className="check">
              <input type="checkbox" checked={strip[k]} onChange={(e) => setStrip({ ...strip, [k]: e.target.checked })} /> {k === "routes" ? "routes and gateways" : k}
            </label>
          ))}
          <label className="field">
            on nodes (empty: every node)
            <input value={stripNodes} onChange={(e) => setStripNodes(e.target.value)} placeholder="h2, r1" className={byField.has("preconfigure") ? "invalid" : ""} />
          </label>
        </fieldset>
        <FieldIssues issues={byField.get("preconfigure")} />
        <label className="field">Title<input value={title} onChange={(e) => setTitle(e.target.value)} required maxLength={200} className={byField.has("title") ? "invalid" : ""} /></label>
        <FieldIssues issues={byField.get("title")} />
        <label className="field">
          Instructions (Markdown)
          <textarea rows={5} value={instructions} onChange={(e) => setInstructions(e.target.value)} placeholder={"## Goal\nMake **h1** reach h2 through r1."} />
        </label>
        <FieldIssues issues={byField.get("instructions")} />
        <div className="field">
          Checks
          <ChecksBuilder checks={checks} onChange={setChecks} topology={topology} issues={byField.get("checks")} />
        </div>
        <FieldIssues issues={byField.get("checks")} />
        <FieldIssues issues={other} />
        <ErrorBox error={issues.length ? "" : error} />
        <div><button className="btn primary" disabled={busy || !lab || !title.trim()}>{busy ? "Creating…" : "Create exercise"}</button></div>
      </form>
    </section>
  );
}
