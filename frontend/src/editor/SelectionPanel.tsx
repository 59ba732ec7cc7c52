// The right panel for what Properties does not show: several nodes at once (shift-click
// or a box selection) and one annotation (a note or a shape).
import { useEffect, useState } from "react";
import * as multi from "../model/multiEdit";
import { setAnnotationText, updateAnnotation, TEXT_MAX } from "../model/annotations";
import type { Annotation, Topology } from "../model/types";

type Commit = (f: (d: Topology) => Topology) => void;

/** An input that commits on blur or Enter (one undo step per change). */
function Commits(props: { label: string; value: string; placeholder?: string; onCommit: (v: string) => void; testId?: string }) {
  const [v, setV] = useState(props.value);
  useEffect(() => setV(props.value), [props.value]);
  const done = () => v !== props.value && props.onCommit(v);
  return (
    <label className="field">
      <span>{props.label}</span>
      <input aria-label={props.label} data-testid={props.testId} value={v} placeholder={props.placeholder} onChange={(e) => setV(e.target.value)} onBlur={done} onKeyDown={(e) => e.key === "Enter" && done()} />
    </label>
  );
}

const shown = (v: unknown): string => (v === "mixed" || v === undefined || v === null ? "" : String(v));
const hint = (v: unknown): string | undefined => (v === "mixed" ? "several values" : undefined);

export function MultiNodeProperties(props: { doc: Topology; names: string[]; onChange: Commit; onDelete: () => void }) {
  const { doc, names, onChange } = props;
  const kind = multi.common(doc, names, (n) => n.kind);
  const hasSwitch = doc.nodes.some((n) => names.includes(n.name) && n.kind === "switch");
  const gateway = multi.common(doc, names.filter((n) => doc.nodes.find((x) => x.name === n)?.kind !== "switch"), (n) => n.gateway ?? "");
  const mtus = doc.nodes.filter((n) => names.includes(n.name)).flatMap((n) => n.interfaces.map((i) => i.mtu ?? null));
  const mtu = mtus.length && mtus.every((m) => m === mtus[0]) ? mtus[0] : mtus.length ? "mixed" : null;
  const description = multi.common(doc, names, (n) => n.description ?? "");
  return (
    <aside className="properties" data-testid="multi-properties">
      <div className="props-title">
        <h3>{names.length} nodes</h3>
        <button className="btn tiny danger" onClick={props.onDelete}>Delete all</button>
      </div>
      <p className="multi-names">{names.map((n) => <span key={n} className="kind-chip">{n}</span>)}</p>
      <label className="field">
        <span>Kind</span>
        <select
          aria-label="Kind"
          value={kind === "mixed" || kind === undefined ? "" : kind}
          disabled={hasSwitch}
          title={hasSwitch ? "a switch is a bridge: its kind stays" : undefined}
          onChange={(e) => e.target.value && onChange((d) => multi.setKind(d, names, e.target.value as "host" | "router"))}
        >
          {(kind === "mixed" || hasSwitch) && <option value="">{kind === "mixed" ? "several kinds" : String(kind)}</option>}
          <option value="host">host</option>
          <option value="router">router</option>
        </select>
      </label>
      <Commits label="Default gateway (IPv4)" testId="multi-gateway" value={shown(gateway)} placeholder={hint(gateway) ?? "none"} onCommit={(v) => onChange((d) => multi.setGateway(d, names, v.trim() || null))} />
      <Commits
        label="MTU of every interface"
        testId="multi-mtu"
        value={shown(mtu)}
        placeholder={hint(mtu) ?? "kernel default (1500)"}
        onCommit={(v) => {
          const n = v.trim() === "" ? null : Number(v);
          // The server checks the range (68 to 65535) and says so on the nodes.
          if (n === null || Number.isInteger(n)) onChange((d) => multi.setMtu(d, names, n));
        }}
      />
      <Commits label="Description" value={shown(description)} placeholder={hint(description)} onCommit={(v) => onChange((d) => multi.setDescription(d, names, v))} />
      <div className="row">
        <button className="btn" onClick={() => onChange((d) => multi.align(d, names, "row"))}>Align in a row</button>
        <button className="btn" onClick={() => onChange((d) => multi.align(d, names, "column"))}>Align in a column</button>
      </div>
      <p className="hint">Shift-click adds or removes a node; Shift-drag selects a box.</p>
    </aside>
  );
}

// Colours a person picks from (the schema takes any #rrggbb).
const SWATCHES = ["#2563eb", "#16a34a", "#d97706", "#dc2626", "#7c3aed", "#64748b"];

export function AnnotationProperties(props: { annotation: Annotation; index: number; onChange: Commit; onDelete: () => void }) {
  const { annotation: a, index, onChange } = props;
  const [text, setText] = useState(a.text ?? "");
  useEffect(() => setText(a.text ?? ""), [a.text]);
  const label = { note: "Note", rect: "Rectangle", ellipse: "Ellipse" }[a.kind];
  return (
    <aside className="properties" data-testid="annotation-properties">
      <div className="props-title">
        <h3>{label}</h3>
        {/* Through the selection's own delete: the selection goes with it. */}
        <button className="btn tiny danger" onClick={props.onDelete}>Delete</button>
      </div>
      <label className="field">
        <span>{a.kind === "note" ? "Text" : "Label"}</span>
        <textarea aria-label="Annotation text" rows={3} maxLength={TEXT_MAX} value={text} onChange={(e) => setText(e.target.value)} onBlur={() => text !== (a.text ?? "") && onChange((d) => setAnnotationText(d, index, text))} />
      </label>
      <div className="field">
        <span>Colour</span>
        <div className="swatches">
          {SWATCHES.map((c) => (
            <button key={c} className={`swatch ${a.color === c ? "on" : ""}`} style={{ background: c }} aria-label={`colour ${c}`} onClick={() => onChange((d) => updateAnnotation(d, index, { color: c }))} />
          ))}
          <button className={`swatch none ${a.color ? "" : "on"}`} aria-label="no colour" onClick={() => onChange((d) => updateAnnotation(d, index, { color: null }))}>×</button>
        </div>
      </div>
      {a.kind !== "note" && <p className="hint">Drag the handles on the canvas to resize.</p>}
      <p className="hint">Saved with the lab; nothing is built from it.</p>
    </aside>
  );
}
