// The checks builder's pure part: a check spec from the form's values and back, and
// the choices the form offers from the exercise's topology. The forms themselves come
// from the server (GET /api/classroom/check-forms), made from the check models.
import type { Issue, Topology } from "../model/types";
import type { CheckField, CheckForm } from "./api";

/** What the inputs of one check hold, as text (checkboxes: "true"/"false"). */
export type FormValues = Record<string, string>;

/** The starting values of a form: each field's default, "" where there is none. */
export function emptyValues(form: CheckForm): FormValues {
  const out: FormValues = {};
  for (const f of form.fields) out[f.name] = f.default === null || f.default === undefined ? "" : String(f.default);
  return out;
}

/** The values of a stored spec, for editing it in its form. */
export function valuesOf(form: CheckForm, spec: Record<string, unknown>): FormValues {
  const out = emptyValues(form);
  for (const f of form.fields) {
    const v = spec[f.name];
    if (v !== undefined && v !== null) out[f.name] = String(v);
  }
  return out;
}

function fieldValue(f: CheckField, raw: string): { value?: unknown; issue?: string } {
  const text = raw.trim();
  if (f.type === "boolean") return { value: text === "true" };
  if (!text) return f.required ? { issue: `${f.label} is required` } : {};
  if (f.type === "integer") {
    const n = Number(text);
    if (!Number.isInteger(n)) return { issue: `${f.label} must be a whole number` };
    if ((f.min != null && n < f.min) || (f.max != null && n > f.max)) {
      return { issue: `${f.label} must be from ${f.min ?? "…"} to ${f.max ?? "…"}` };
    }
    return { value: n };
  }
  if (f.type === "choice" && f.choices && !f.choices.includes(text)) return { issue: `${f.label} is one of ${f.choices.join(", ")}` };
  return { value: text };
}

/**
 * The check spec the API takes, or every problem at once (paths like the server's,
 * `checks[N].field`, with `index` the check's place in the list). Optional fields left
 * empty, and fields equal to their default, are left out: the server fills them in.
 */
export function specOf(form: CheckForm, values: FormValues, index: number): { spec: Record<string, unknown> } | { issues: Issue[] } {
  const spec: Record<string, unknown> = { kind: form.kind };
  const issues: Issue[] = [];
  for (const f of form.fields) {
    const { value, issue } = fieldValue(f, values[f.name] ?? "");
    if (issue) issues.push({ path: `checks[${index}].${f.name}`, code: "form.invalid", message: issue });
    else if (value !== undefined && !(value === f.default && !f.required)) spec[f.name] = value;
  }
  return issues.length ? { issues } : { spec };
}

/** The choices of a node or interface field: the topology's nodes, or the interfaces
 * (and bridges) of the node the form's `node` field names. */
export function choicesFor(f: CheckField, values: FormValues, topology: Topology | null): string[] {
  if (!topology) return [];
  if (f.type === "node") return topology.nodes.map((n) => n.name);
  if (f.type === "interface") {
    const node = topology.nodes.find((n) => n.name === values.node);
    if (!node) return [];
    return [...(node.interfaces ?? []).map((i) => i.name), ...(node.bridges ?? []).map((b) => b.name)];
  }
  return f.choices ?? [];
}

/** A one-line reading of a spec for the list of checks ("reach: src h1, dst 10.0.2.2"). */
export function specLine(spec: Record<string, unknown>): string {
  const { kind, title, hint, ...rest } = spec;
  const parts = Object.entries(rest).map(([k, v]) => `${k} ${String(v)}`);
  return `${String(kind)}: ${parts.join(", ")}${title ? ` — “${String(title)}”` : ""}${hint ? " (with a hint)" : ""}`;
}
