// A node's files and services in the node inspector.
// Files: list, add, edit, remove; saving edits the document's node `files` (autosaved like
// every edit), and Apply changes rewrites a running node's file in place. The bounds are
// the server's (lab/topology/schema.py), checked here too so the editor says it first.
// Services: each one's state and the end of its log from the lab host
// (lab/api/nodes.py), with start / stop / restart.
import { useCallback, useEffect, useState } from "react";
import { ApiError, api } from "../api";
import type { TopoNode } from "../model/types";

export const FILE_MAX_BYTES = 256 * 1024;
export const FILES_MAX = 32;
export const FILES_TOTAL_MAX_BYTES = 1024 * 1024;

export interface NodeFile {
  path: string;
  content: string;
}
export interface ServiceStatus {
  kind: string;
  state: "running" | "stopped" | "failed" | string;
  message: string;
  log: string;
}
interface NodeServices {
  node: string;
  lab_running: boolean;
  error: string;
  services: ServiceStatus[];
}

const bytes = (text: string): number => new TextEncoder().encode(text).length;
const kib = (n: number): string => `${Math.ceil(n / 1024)} KiB`;

/** A node's files as a list, whichever way the document writes them (list or mapping). */
export function filesOf(node: TopoNode): NodeFile[] {
  const files = node.files as NodeFile[] | Record<string, string> | undefined;
  if (!files) return [];
  if (Array.isArray(files)) return files.map((f) => ({ path: f.path, content: f.content }));
  return Object.entries(files).map(([path, content]) => ({ path, content }));
}

/** Why a file set cannot be saved (the first reason), or "" when it can. */
export function filesProblem(files: NodeFile[]): string {
  if (files.length > FILES_MAX) return `a node has at most ${FILES_MAX} files`;
  for (const f of files) {
    if (!f.path.startsWith("/")) return `${f.path || "a file"}: the path must be absolute`;
    if (bytes(f.content) > FILE_MAX_BYTES) return `${f.path}: larger than ${kib(FILE_MAX_BYTES)}`;
  }
  const total = files.reduce((n, f) => n + bytes(f.content), 0);
  if (total > FILES_TOTAL_MAX_BYTES) return `the node's files are larger than ${kib(FILES_TOTAL_MAX_BYTES)} together`;
  return "";
}

function Files(props: { node: TopoNode; onChange: (files: NodeFile[]) => void }) {
  const files = filesOf(props.node);
  const [open, setOpen] = useState<string | null>(null);
  const [text, setText] = useState("");
  const [newPath, setNewPath] = useState("");
  const current = files.find((f) => f.path === open);
  useEffect(() => setText(current?.content ?? ""), [open, current?.content]);
  useEffect(() => setOpen(null), [props.node.name]);
  const edited = open !== null ? files.map((f) => (f.path === open ? { ...f, content: text } : f)) : files;
  const problem = filesProblem(edited);
  const size = bytes(text);
  const add = () => {
    const path = newPath.trim();
    if (!path || files.some((f) => f.path === path)) return setOpen(path || null);
    const next = [...files, { path, content: "" }];
    if (filesProblem(next)) return;
    props.onChange(next);
    setNewPath("");
    setOpen(path);
  };
  return (
    <div className="node-files" data-testid="node-files">
      <h4>Files</h4>
      {files.length === 0 && <p className="muted small">No files. Add one, e.g. /etc/frr/frr.conf.</p>}
      <ul className="file-list">
        {files.map((f) => (
          <li key={f.path}>
            <button className={`btn tiny link ${f.path === open ? "active" : ""}`} data-file={f.path} onClick={() => setOpen(f.path === open ? null : f.path)}>
              {f.path}
            </button>
            <span className="muted small"> {kib(bytes(f.content))}</span>
          </li>
        ))}
      </ul>
      <div className="row">
        <input name="node-file-path" aria-label="New file path" placeholder="/etc/frr/frr.conf" value={newPath} onChange={(e) => setNewPath(e.target.value)} onKeyDown={(e) => e.key === "Enter" && add()} />
        <button className="btn tiny" onClick={add} disabled={!newPath.trim().startsWith("/") || files.length >= FILES_MAX}>Add file</button>
      </div>
      {current && (
        <div className="file-editor">
          <textarea
            name="node-file-content"
            aria-label={`Content of ${current.path}`}
            spellCheck={false}
            style={{ width: "100%", fontFamily: "monospace", fontSize: "12px" }}
            rows={Math.min(24, Math.max(6, text.split("\n").length + 1))}
            value={text}
            onChange={(e) => setText(e.target.value)}
          />
          <p className={`small ${size > FILE_MAX_BYTES ? "field-issue" : "muted"}`} data-testid="file-size">
            {kib(size)} of {kib(FILE_MAX_BYTES)}
          </p>
          {problem && <div className="field-issue">{problem}</div>}
          <div className="row">
            <button className="btn tiny primary" name="node-file-save" disabled={!!problem || text === current.content} onClick={() => props.onChange(edited)}>
              Save file
            </button>
            <button className="btn tiny" onClick={() => { props.onChange(files.filter((f) => f.path !== current.path)); setOpen(null); }}>
              Remove
            </button>
          </div>
          <p className="muted small">Saved files reach a running node with Apply changes; they are read-only inside it.</p>
        </div>
      )}
    </div>
  );
}

function Services(props: { labId: string; node: string; kinds: string[] }) {
  const { labId, node } = props;
  const [state, setState] = useState<NodeServices | null>(null);
  const [error, setError] = useState("");
  const [busy, setBusy] = useState<string | null>(null);
  const base = `/api/labs/${labId}/nodes/${encodeURIComponent(node)}/services`;
  const load = useCallback(
    () =>
      api<NodeServices>("GET", base)
        .then((s) => { setState(s); setError(""); })
        .catch((e) => setError(e instanceof ApiError && e.status === 404 ? "Save the lab first: this node is not in a saved revision yet." : String(e instanceof ApiError ? e.message : e))),
    [base],
  );
  useEffect(() => { setState(null); void load(); }, [load, props.kinds.join(",")]);
  const act = async (kind: string, action: string) => {
    setBusy(`${kind}:${action}`);
    setError("");
    try {
      const s = await api<ServiceStatus>("POST", `${base}/${kind}/${action}`);
      setState((old) => old && { ...old, services: old.services.map((x) => (x.kind === kind ? s : x)) });
    } catch (e) {
      setError(e instanceof ApiError ? e.message : String(e));
    } finally {
      setBusy(null);
    }
  };
  return (
    <div className="node-services" data-testid="node-services">
      <h4>Services <button className="btn tiny" title="Ask the lab host again" onClick={() => void load()}>refresh</button></h4>
      {state && !state.lab_running && <p className="muted small">The lab is not running: services start with it.</p>}
      {state?.error && <div className="issue-box">{state.error}</div>}
      {error && <div className="field-issue">{error}</div>}
      {(state?.services ?? props.kinds.map((kind) => ({ kind, state: "…", message: "", log: "" }))).map((s) => (
        <div className="service" key={s.kind} data-service={s.kind} data-state={s.state}>
          <div className="row">
            <b>{s.kind}</b>
            <span className={`chip state-${s.state}`} data-testid="service-state">{s.state}</span>
            {(["start", "stop", "restart"] as const).map((action) => (
              <button
                key={action}
                className="btn tiny"
                name={`service-${action}`}
                disabled={!state?.lab_running || busy !== null}
                onClick={() => void act(s.kind, action)}
              >
                {busy === `${s.kind}:${action}` ? `${action}…` : action}
              </button>
            ))}
          </div>
          {s.message && <div className="field-issue">{s.message}</div>}
          {s.log && <pre className="service-log" data-testid="service-log" style={{ maxHeight: "12em", overflow: "auto", fontSize: "11px" }}>{s.log.split("\n").slice(-40).join("\n")}</pre>}
        </div>
      ))}
    </div>
  );
}

/** The node inspector's files and services sections. */
export function NodeFiles(props: { node: TopoNode; labId?: string; onChange: (files: NodeFile[]) => void }) {
  const kinds = ((props.node.services as ({ kind: string } | string)[] | undefined) ?? []).map((s) => (typeof s === "string" ? s : s.kind));
  return (
    <>
      <Files node={props.node} onChange={props.onChange} />
      {props.labId && kinds.length > 0 && <Services labId={props.labId} node={props.node.name} kinds={kinds} />}
    </>
  );
}
