// Asks before an imported file replaces the lab's design: what is there, what comes,
// and what it means for a running lab.
import { useEffect, useRef } from "react";
import { api } from "../api";
import type { Topology } from "../model/types";

/** The size the server takes (lab/topology/archive.py ARCHIVE_MAX_BYTES). */
export const ARCHIVE_MAX_BYTES = 2 * 1024 * 1024;

/** Import a containerlab lab folder sent as a .tar.gz or .zip; its binds become node files. */
export async function importArchive(file: File): Promise<{ topology: Topology; warnings: string[] }> {
  if (file.size > ARCHIVE_MAX_BYTES) throw new Error(`${file.name} is larger than ${ARCHIVE_MAX_BYTES / 1024 / 1024} MiB`);
  const typed = new Blob([file], { type: /\.zip$/i.test(file.name) ? "application/zip" : "application/gzip" });
  return api("POST", "/api/topology/import/archive", typed);
}

export interface PendingImport {
  file: string;
  topology: Topology;
  warnings: string[];
}

function counts(t: Pick<Topology, "nodes" | "links">): string {
  const n = t.nodes.length;
  const l = t.links.length;
  return `${n} node${n === 1 ? "" : "s"}, ${l} link${l === 1 ? "" : "s"}`;
}

export function ImportDialog(props: {
  pending: PendingImport;
  current: Topology;
  labName: string;
  state: string;
  onReplace: () => void;
  onCancel: () => void;
}) {
  const { pending, current } = props;
  const keep = useRef<HTMLButtonElement>(null);
  useEffect(() => keep.current?.focus(), []); // the safe choice has the focus
  const incoming = new Set(pending.topology.nodes.map((n) => n.name));
  const removed = current.nodes.map((n) => n.name).filter((n) => !incoming.has(n));
  const deployed = ["running", "deploying", "failed", "unknown"].includes(props.state);
  return (
    <div className="modal-backdrop" onKeyDown={(e) => e.key === "Escape" && props.onCancel()}>
      <div className="modal card" role="dialog" aria-modal="true" aria-labelledby="import-title" data-testid="import-dialog">
        <h3 id="import-title">Replace the design of “{props.labName || current.name}”?</h3>
        <p>
          <b>{pending.file}</b> holds {counts(pending.topology)}; this lab has {counts(current)}.
          Importing replaces the whole design.
        </p>
        {removed.length > 0 && (
          <p>
            Gone after the import: <b>{removed.slice(0, 12).join(", ")}</b>
            {removed.length > 12 ? ` and ${removed.length - 12} more` : ""}
            {" "}(their open consoles close).
          </p>
        )}
        {deployed && (
          <p className="muted">
            The lab host keeps running the current design until you press <b>Apply changes</b>.
          </p>
        )}
        {pending.warnings.length > 0 && (
          <ul className="small muted">{pending.warnings.map((w, i) => <li key={i}>{w}</li>)}</ul>
        )}
        <p className="muted small">Undo (Ctrl+Z) brings the current design back while this page is open.</p>
        <div className="row-actions">
          <button ref={keep} className="btn" onClick={props.onCancel}>Keep the current design</button>
          <button className="btn primary danger-outline" onClick={props.onReplace}>Replace the design</button>
        </div>
      </div>
    </div>
  );
}
