// Asks before Apply: what the lab host will create, remove and change, from the
// revision it runs to the design on the canvas (model/diff.ts).
import { useEffect, useMemo, useRef } from "react";
import "./pendingChanges.css";
import { changeSummary, diffTopologies, type Change } from "../model/diff";
import type { Topology } from "../model/types";

const VERB: Record<Change["op"], string> = { create: "Create", remove: "Remove", change: "Change" };

export function PendingChanges(props: {
  /** The revision the lab host runs; null when it could not be read. */
  running: Topology | null;
  draft: Topology;
  onApply: () => void;
  onCancel: () => void;
}) {
  const changes = useMemo(() => (props.running ? diffTopologies(props.running, props.draft) : null), [props.running, props.draft]);
  const apply = useRef<HTMLButtonElement>(null);
  useEffect(() => apply.current?.focus(), []);
  return (
    <div className="modal-backdrop" onKeyDown={(e) => e.key === "Escape" && props.onCancel()}>
      <div className="modal card pending-changes" role="dialog" aria-modal="true" aria-labelledby="pending-title" data-testid="pending-changes">
        <h3 id="pending-title">Apply these changes to the running lab?</h3>
        {changes === null ? (
          <p className="muted">The revision the lab host runs could not be read: Apply makes the lab match the design.</p>
        ) : changes.length === 0 ? (
          <p data-testid="pending-summary">No changes: the lab host already runs this design.</p>
        ) : (
          <>
            <p data-testid="pending-summary">{changeSummary(changes)}</p>
            <ul className="pending-list">
              {changes.map((c, i) => (
                <li key={i} className={`pending-${c.op}`} data-op={c.op} data-subject={c.subject}>
                  <span className="pending-op">{VERB[c.op]}</span> {c.subject} <b>{c.name}</b>
                  {c.details.length > 0 && <ul className="small muted">{c.details.map((d, k) => <li key={k}>{d}</li>)}</ul>}
                </li>
              ))}
            </ul>
          </>
        )}
        <div className="row-actions">
          <button className="btn" onClick={props.onCancel}>Cancel</button>
          <button ref={apply} className="btn primary" data-testid="pending-apply" onClick={props.onApply}>Apply changes</button>
        </div>
      </div>
    </div>
  );
}
