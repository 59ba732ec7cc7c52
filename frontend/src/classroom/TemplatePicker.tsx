// "From a template…": an instructor adds one of the ready exercises (OSPF, BGP, DHCP) to
// the course without building its lab first (lab/classroom/templates_api.py).
import { useEffect, useState } from "react";
import { navigate } from "../router";
import { ClassroomApi, type ExerciseTemplate } from "./api";
import { ErrorBox, FieldIssues, failure, useSubmit } from "./common";
import { issuesByField } from "./results";
import { fromTemplateBody, summaryOf } from "./templates";

export function TemplatePicker({ courseId, onCreated }: { courseId: number; onCreated: () => void }) {
  const [templates, setTemplates] = useState<ExerciseTemplate[] | null>(null);
  const [open, setOpen] = useState(false);
  const [slug, setSlug] = useState("");
  const [title, setTitle] = useState("");
  const { busy, error, setError, issues, run } = useSubmit();
  const byField = issuesByField(issues);

  // Loaded when first opened: most visits of the course page never pick a template.
  useEffect(() => {
    if (open && templates === null) ClassroomApi.exerciseTemplates().then(setTemplates).catch((e) => setError(failure(e)));
  }, [open, templates]);

  function submit(e: React.FormEvent) {
    e.preventDefault();
    void run(async () => {
      const ex = await ClassroomApi.exerciseFromTemplate(courseId, fromTemplateBody(slug, title));
      onCreated();
      navigate(`/classroom/exercises/${ex.id}`);
    });
  }

  const picked = templates?.find((t) => t.slug === slug);
  return (
    <details className="card cr-section" data-testid="from-template" onToggle={(e) => setOpen((e.target as HTMLDetailsElement).open)}>
      <summary>From a template…</summary>
      <form className="cr-form" onSubmit={submit}>
        {templates === null ? (
          !error && <p className="muted">Loading…</p>
        ) : (
          <fieldset className="cr-templates">
            <legend>A ready lab with its checks; the students' copy lacks the configuration they write</legend>
            {templates.map((t) => (
              <label key={t.slug} className="check cr-template" data-template={t.slug}>
                <input type="radio" name="template" value={t.slug} checked={slug === t.slug} onChange={() => setSlug(t.slug)} />
                <span><strong>{t.title}</strong> <span className="small muted">({t.nodes} nodes)</span>
                  <span className="small muted cr-template-desc">{summaryOf(t.description)}</span></span>
              </label>
            ))}
          </fieldset>
        )}
        <FieldIssues issues={byField.get("template")} />
        <label className="field">
          Title (empty: the template's)
          <input value={title} onChange={(e) => setTitle(e.target.value)} maxLength={200} placeholder={picked?.title ?? ""} className={byField.has("title") ? "invalid" : ""} />
        </label>
        <FieldIssues issues={byField.get("title")} />
        <ErrorBox error={byField.has("template") || byField.has("title") ? "" : error} />
        <div><button className="btn primary" disabled={busy || !slug}>{busy ? "Creating…" : "Create exercise"}</button></div>
      </form>
    </details>
  );
}
