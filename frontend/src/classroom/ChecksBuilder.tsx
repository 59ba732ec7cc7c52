// The checks builder: pick a check kind, a node and a target; the checks so far are
// listed with a way to edit or remove each. Forms come from the server's description
// of the check models, so every kind it knows can be built here.
import { useEffect, useMemo, useState } from "react";
import type { Issue, Topology } from "../model/types";
import { ClassroomApi, type CheckForm } from "./api";
import { choicesFor, emptyValues, specLine, specOf, valuesOf, type FormValues } from "./checkForm";
import { CHECKS_EXAMPLE, parseChecks } from "./results";
import { FieldIssues, failure } from "./common";

export function ChecksBuilder(props: {
  checks: Record<string, unknown>[];
  onChange: (checks: Record<string, unknown>[]) => void;
  /** The topology whose nodes and interfaces the checks name (null while loading). */
  topology: Topology | null;
  /** The server's issues about the checks (paths `checks[N].field`). */
  issues?: Issue[];
}) {
  const [forms, setForms] = useState<CheckForm[] | null>(null);
  const [error, setError] = useState("");
  const [kind, setKind] = useState("");
  const [values, setValues] = useState<FormValues>({});
  const [editing, setEditing] = useState<number | null>(null); // index being edited
  const [issues, setIssues] = useState<Issue[]>([]);
  const [json, setJson] = useState("");

  useEffect(() => {
    ClassroomApi.checkForms().then(setForms).catch((e) => setError(failure(e)));
  }, []);
  const form = useMemo(() => forms?.find((f) => f.kind === kind) ?? null, [forms, kind]);

  function pick(k: string) {
    setKind(k);
    const f = forms?.find((x) => x.kind === k);
    setValues(f ? emptyValues(f) : {});
    setIssues([]);
  }

  function save() {
    if (!form) return;
    const index = editing ?? props.checks.length;
    const out = specOf(form, values, index);
    if ("issues" in out) {
      setIssues(out.issues);
      return;
    }
    const next = [...props.checks];
    if (editing === null) next.push(out.spec);
    else next[editing] = out.spec;
    props.onChange(next);
    setEditing(null);
    pick("");
  }

  function edit(i: number) {
    const spec = props.checks[i];
    const f = forms?.find((x) => x.kind === spec.kind);
    if (!f) return;
    setEditing(i);
    setKind(f.kind);
    setValues(valuesOf(f, spec));
    setIssues([]);
  }

  // Checks written elsewhere (another exercise, a colleague) can be pasted as a JSON list.
  function paste() {
    const parsed = parseChecks(json);
    if ("issue" in parsed) {
      setIssues([parsed.issue]);
      return;
    }
    setIssues([]);
    props.onChange([...props.checks, ...(parsed.value as Record<string, unknown>[])]);
    setJson("");
  }

  const serverIssues = props.issues ?? [];
  return (
    <div className="cr-builder" data-testid="checks-builder">
      {props.checks.length === 0 ? (
        <p className="small muted">No checks yet: students then see no goals ticked off.</p>
      ) : (
        <ol className="cr-builder-list">
          {props.checks.map((c, i) => {
            const mine = serverIssues.filter((x) => x.path.startsWith(`checks[${i}]`));
            return (
              <li key={i} className={mine.length ? "invalid" : ""} data-check={i}>
                <span className="cr-builder-line">{specLine(c)}</span>
                <button type="button" className="btn small" onClick={() => edit(i)}>Edit</button>
                <button type="button" className="btn small" aria-label={`remove check ${i + 1}`}
                  onClick={() => props.onChange(props.checks.filter((_, k) => k !== i))}>Remove</button>
                <FieldIssues issues={mine} />
              </li>
            );
          })}
        </ol>
      )}
      {error && <div className="error">{error}</div>}
      <div className="cr-builder-form">
        <label className="field">
          {editing === null ? "Add a check" : `Edit check ${editing + 1}`}
          <select value={kind} onChange={(e) => pick(e.target.value)} data-testid="check-kind">
            <option value="">{forms === null ? "Loading…" : "Pick a kind of check"}</option>
            {forms?.map((f) => <option key={f.kind} value={f.kind}>{f.kind}</option>)}
          </select>
        </label>
        {form && (
          <>
            <p className="small muted">{form.description}</p>
            <div className="cr-builder-fields">
              {form.fields.map((f) => {
                const id = `check-${f.name}`;
                const set = (v: string) => setValues((vs) => ({ ...vs, [f.name]: v }));
                const choices = choicesFor(f, values, props.topology);
                const bad = issues.some((x) => x.path.endsWith(`.${f.name}`));
                if (f.type === "boolean") {
                  return (
                    <label key={f.name} className="check">
                      <input type="checkbox" checked={values[f.name] === "true"} onChange={(e) => set(String(e.target.checked))} data-field={f.name} /> {f.label}
                    </label>
                  );
                }
                const pickList = f.type === "node" || f.type === "interface" || f.type === "choice";
                return (
                  <label key={f.name} className="field">
                    {f.label}{f.required ? " *" : ""}
                    {pickList && choices.length > 0 ? (
                      <select id={id} data-field={f.name} value={values[f.name] ?? ""} onChange={(e) => set(e.target.value)} className={bad ? "invalid" : ""}>
                        <option value="">{f.required ? "pick one" : "(default)"}</option>
                        {choices.map((c) => <option key={c} value={c}>{c}</option>)}
                      </select>
                    ) : (
                      <input id={id} data-field={f.name} value={values[f.name] ?? ""} onChange={(e) => set(e.target.value)} className={bad ? "invalid" : ""}
                        inputMode={f.type === "integer" ? "numeric" : undefined} list={f.suggestions?.length ? `${id}-list` : undefined}
                        placeholder={f.formats?.length ? f.formats.join(" or ") : f.type === "integer" && f.min != null ? `${f.min}–${f.max}` : ""} />
                    )}
                    {f.suggestions && f.suggestions.length > 0 && (
                      <datalist id={`${id}-list`}>{f.suggestions.map((s) => <option key={s} value={s} />)}</datalist>
                    )}
                  </label>
                );
              })}
            </div>
            <div className="row-actions cr-left">
              <button type="button" className="btn" data-testid="check-save" onClick={save}>{editing === null ? "Add check" : "Save check"}</button>
              <button type="button" className="btn ghost" onClick={() => { setEditing(null); pick(""); }}>Cancel</button>
            </div>
          </>
        )}
        <FieldIssues issues={issues} />
      </div>
      <details className="small">
        <summary>Paste checks as JSON</summary>
        <textarea rows={4} value={json} onChange={(e) => setJson(e.target.value)} placeholder={CHECKS_EXAMPLE} spellCheck={false} aria-label="checks as JSON" />
        <div><button type="button" className="btn small" onClick={paste} disabled={!json.trim()}>Add these checks</button></div>
      </details>
    </div>
  );
}
