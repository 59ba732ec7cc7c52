// Shaping the course results table and the instructor's forms: pure functions.
import type { Issue } from "../model/types";
import type { ResultCell, ResultColumn, Results, StudentLab } from "./api";

export interface HeaderGroup {
  exercise: number;
  title: string;
  span: number;
}
export interface ShapedColumn extends ResultColumn {
  check_title: string; // the column title without the "<exercise>: " prefix
}
export interface ShapedRow {
  student: string;
  cells: ResultCell[];
  passed: number;
  total: number;
  /** The student's copies, one per exercise started, with their live state. */
  labs: StudentLab[];
}
export interface ShapedResults {
  groups: HeaderGroup[];
  columns: ShapedColumn[];
  rows: ShapedRow[];
  column_passes: number[]; // per column, how many students pass it
}

/**
 * Two header rows (exercise, then check) and per-row/per-column pass counts.
 * The server titles a column "<exercise title>: <check title>"; the exercise
 * titles come from the course, so the prefix is cut exactly (a title may hold ": ").
 */
export function shapeResults(results: Results, exerciseTitles: Map<number, string>): ShapedResults {
  const groups: HeaderGroup[] = [];
  const columns: ShapedColumn[] = results.columns.map((c) => {
    const ex = exerciseTitles.get(c.exercise);
    const prefix = ex !== undefined ? `${ex}: ` : null;
    const check_title = prefix && c.title.startsWith(prefix) ? c.title.slice(prefix.length) : c.title;
    const last = groups[groups.length - 1];
    if (last && last.exercise === c.exercise) last.span++;
    else groups.push({ exercise: c.exercise, title: ex ?? `Exercise ${c.exercise}`, span: 1 });
    return { ...c, check_title };
  });
  const column_passes = columns.map(() => 0);
  const rows = results.rows.map((r) => {
    let passed = 0;
    r.cells.forEach((cell, i) => {
      if (cell.passed) {
        passed++;
        column_passes[i]++;
      }
    });
    return { student: r.student, cells: r.cells, passed, total: r.cells.length, labs: r.labs ?? [] };
  });
  return { groups, columns, rows, column_passes };
}

/** A short "how long ago" for a time of last pass ("just now", "5 min ago", "3 h ago", "2 d ago"). */
export function ago(iso: string | null, now: Date): string {
  if (!iso) return "";
  const s = Math.max(0, Math.round((now.getTime() - new Date(iso).getTime()) / 1000));
  if (s < 45) return "just now";
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}

/** Which state a results cell shows: not started, started but failing, or passed. */
export function cellState(cell: ResultCell): "pass" | "fail" | "none" {
  if (cell.passed) return "pass";
  return cell.started ? "fail" : "none";
}

/**
 * Parse the checks textarea. The API wants a JSON list; a JSON syntax error is
 * reported here with its line, in the same Issue shape the server uses.
 */
export function parseChecks(text: string): { value: unknown[] } | { issue: Issue } {
  if (!text.trim()) return { value: [] };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    const msg = (e as Error).message;
    const pos = /position (\d+)/.exec(msg);
    const line = pos ? text.slice(0, Number(pos[1])).split("\n").length : null;
    return {
      issue: { path: "checks", code: "json.invalid", message: line ? `not JSON (line ${line}): ${msg}` : `not JSON: ${msg}` },
    };
  }
  if (!Array.isArray(value)) {
    return { issue: { path: "checks", code: "json.not_list", message: "checks must be a JSON list of check objects" } };
  }
  return { value };
}

/** The form field an issue path belongs to ("checks[2].src" -> "checks"). */
export function fieldOf(path: string): string {
  const m = /^[A-Za-z_]+/.exec(path);
  return m ? m[0] : "";
}

/** Issues grouped by form field, keeping their order. */
export function issuesByField(issues: Issue[]): Map<string, Issue[]> {
  const out = new Map<string, Issue[]>();
  for (const issue of issues) {
    const f = fieldOf(issue.path);
    out.set(f, [...(out.get(f) ?? []), issue]);
  }
  return out;
}

/** The sign-in link as a full URL a student can open (the API gives the path). */
export function absoluteLink(path: string, origin: string): string {
  return path.startsWith("/") ? origin.replace(/\/$/, "") + path : path;
}

/** Login links as "username,email,link" CSV lines, to send to the students (new accounts only). */
export function linksCsv(rows: { username: string; email: string; login_link: string | null }[], origin: string): string {
  const q = (s: string) => (/[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
  const linked = rows.filter((r) => r.login_link !== null);
  return ["username,email,link", ...linked.map((r) => [r.username, r.email, absoluteLink(r.login_link ?? "", origin)].map(q).join(","))].join("\n");
}

/**
 * The API's `preconfigure` from the form: what to strip from the students' copy,
 * on which nodes (a comma/space separated list; empty means every node).
 */
export function preconfigureOf(
  strip: { addresses: boolean; routes: boolean; forwarding: boolean },
  nodes: string,
): { addresses: boolean; routes: boolean; forwarding: boolean; nodes: string[] | null } {
  const names = nodes.split(/[\s,]+/).filter(Boolean);
  return { addresses: !strip.addresses, routes: !strip.routes, forwarding: !strip.forwarding, nodes: names.length ? names : null };
}

/** An example of every check kind, for the placeholder of the checks field. */
export const CHECKS_EXAMPLE = `[
  {"kind": "reach", "src": "h1", "dst": "10.0.2.2", "hint": "h1 needs a default route"},
  {"kind": "forwarding", "node": "r1"},
  {"kind": "route", "node": "h1", "dst": "default", "via": "10.0.1.1"}
]`;
