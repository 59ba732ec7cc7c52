// The HTTP API (django-ninja under /api/): session auth + Django's CSRF cookie.
import type { Issue, Topology } from "./model/types";

export class ApiError extends Error {
  constructor(
    public status: number,
    public code: string,
    message: string,
    public issues: Issue[] = [],
    /** The parsed error body (for fields such as `next_free` on a 409). */
    public body: unknown = null,
  ) {
    super(message);
  }
}

function cookie(name: string): string | null {
  const m = document.cookie.match(new RegExp(`(?:^|; )${name}=([^;]*)`));
  return m ? decodeURIComponent(m[1]) : null;
}

let csrfReady: Promise<void> | null = null;
async function ensureCsrf(): Promise<void> {
  if (cookie("csrftoken")) return;
  csrfReady ??= fetch("/api/auth/csrf", { credentials: "same-origin" }).then(() => undefined);
  await csrfReady;
  csrfReady = null;
}

export async function api<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json" };
  if (method !== "GET") {
    await ensureCsrf();
    headers["X-CSRFToken"] = cookie("csrftoken") ?? "";
  }
  // A Blob (an archive to import) goes as it is; anything else as JSON.
  const raw = body instanceof Blob;
  if (body !== undefined) headers["Content-Type"] = raw ? body.type || "application/octet-stream" : "application/json";
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      headers,
      credentials: "same-origin",
      body: body === undefined ? undefined : raw ? body : JSON.stringify(body),
    });
  } catch (e) {
    throw new ApiError(0, "network", `cannot reach the server: ${(e as Error).message}`);
  }
  const text = await res.text();
  let data: unknown = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = text;
  }
  if (!res.ok) {
    const d = (data ?? {}) as { code?: string; message?: string; detail?: unknown; issues?: Issue[] };
    const message = d.message ?? (typeof d.detail === "string" ? d.detail : `${res.status} ${res.statusText}`);
    throw new ApiError(res.status, d.code ?? String(res.status), message, d.issues ?? [], data);
  }
  return data as T;
}

export interface Me {
  id?: number;
  username: string;
}
export interface Deployment {
  id: number;
  state: string;
  action?: string;
  progress?: { done: number; total: number; step: string };
  error_message?: string | null;
}
export interface LabSummary {
  id: number;
  name: string;
  description?: string;
  updated?: string;
  /** The lab's state (stopped, deploying, running, destroying, failed, unknown). */
  state: string;
  revision?: number | null;
}
/** What automatic addressing adds to a revision (lab/api/labs.py auto_addressing). */
export interface AutoAddressing {
  nodes: Record<string, { interfaces?: Record<string, string[]>; gateway?: string; routes?: string[] }>;
}
export interface LabDetail extends LabSummary {
  key?: string;
  topology: Topology | null;
  draft?: Topology | null;
  draft_issues?: Issue[];
  deployment?: Deployment | null;
  /** The revision the lab host runs; null when nothing runs. */
  applied_revision?: number | null;
  auto?: AutoAddressing | null;
  /** The demo library slug of a lab opened from the library. */
  demo?: string | null;
}
export interface Demo {
  slug: string;
  title: string;
  summary: string;
  explanation?: string;
  /** The explanation rendered by the server (Markdown, sanitized). */
  explanation_html?: string;
  /** Kernel modules no lab host that is up has ("bonding"): it cannot run there. */
  needs?: string[];
}
export interface LabDemo extends Demo {
  last_run: DemoRun | null;
  last_run_at: string | null;
}
export interface DemoRun {
  lab: string;
  slug: string;
  passed: boolean;
  seconds: number;
  errors: string[];
  probes: { label: string; src: string; dst: string; expected: string; reached: boolean; passed: boolean; rtt_ms: number | null; why: string; error: string }[];
  fdb: { node: string; bridge: string; port: string; mac: string; owner: string | null }[] | null;
  matrix: {
    modes: Record<string, string>;
    groups: { parent: string; mode: string; rows: string[]; cols: string[]; cells: { src: string; dst: string; address: string; reached: boolean }[] }[];
  } | null;
  journey: { hops: (Hop & { kind: string; text: string; t_us?: number })[]; missing: string[] } | null;
}
export interface Hop {
  node: string;
  interface: string;
  time?: number | string;
  direction?: string;
  summary?: string;
  changes?: string[];
}

export const Api = {
  me: () => api<Me>("GET", "/api/auth/me"),
  login: (username: string, password: string) => api<Me>("POST", "/api/auth/login", { username, password }),
  loginWithToken: (token: string) => api<Me>("POST", "/api/auth/token", { token }),
  logout: () => api("POST", "/api/auth/logout"),
  labs: () => api<LabSummary[] | { items: LabSummary[] }>("GET", "/api/labs").then((r) => (Array.isArray(r) ? r : r.items)),
  createLab: (name: string, topology?: Topology) =>
    api<LabDetail>("POST", "/api/labs", topology ? { name, topology } : { name }),
  lab: (id: number | string) => api<LabDetail>("GET", `/api/labs/${id}`),
  renameLab: (id: number, name: string) => api<LabDetail>("PATCH", `/api/labs/${id}`, { name }),
  deleteLab: (id: number) => api("DELETE", `/api/labs/${id}`),
  duplicateLab: (id: number) => api<LabDetail>("POST", `/api/labs/${id}/duplicate`),
  saveTopology: (id: number | string, doc: Topology) =>
    api<{ revision: number; topology: Topology; auto?: AutoAddressing | null }>("PUT", `/api/labs/${id}/topology`, doc),
  revision: (id: number | string, number: number) =>
    api<{ number: number; topology: Topology }>("GET", `/api/labs/${id}/revisions/${number}`),
  importTopology: (format: string, text: string) =>
    api<{ topology: Topology; warnings: string[] }>("POST", "/api/topology/import", { format, text }),
  action: (id: number | string, action: "deploy" | "apply" | "destroy") =>
    api<{ deployment: Deployment }>("POST", `/api/labs/${id}/${action}`),
  demos: () => api<Demo[]>("GET", "/api/demos"),
  openDemo: (slug: string) => api<{ lab_id: number; created: boolean; state: string }>("POST", `/api/demos/${slug}/open`),
  labDemo: (labId: number | string) => api<LabDemo>("GET", `/api/labs/${labId}/demo`),
  runDemo: (labId: number | string) => api<DemoRun>("POST", `/api/labs/${labId}/demo/run`),
  startCapture: (labId: number | string, node: string, iface: string, filter: string) =>
    api<{ id: number | string }>("POST", `/api/labs/${labId}/captures`, { node, interface: iface, filter }),
  stopCapture: (id: number | string) => api("POST", `/api/captures/${id}/stop`),
  /** Run a program in a node, in a console's sandbox (argv list, never a shell line). */
  exec: (labId: number | string, node: string, argv: string[], timeout = 10) =>
    api<{ status: number | null; timed_out?: boolean; stdout: string; stderr: string }>("POST", `/api/labs/${labId}/exec`, { node, argv, timeout }),
  journey: (labId: number | string, src: string, dst: string) =>
    api<{ hops: Hop[] }>("POST", `/api/labs/${labId}/journeys`, { src, dst }),
};
