// The right panel: properties of the selected node, link or interface; the lab's
// own settings when nothing is selected. Fields commit on blur or Enter, so one
// edit is one undo step.
import { useEffect, useState } from "react";
import type { AttachData, DeviceData, Graph } from "../model/convert";
import * as edit from "../model/edit";
import { parseRoutes } from "./routes";
import { humanPath, issueTarget } from "../model/issues";
import type { AutoAddressing } from "../api";
import { Conditioning } from "./Conditioning";
import { NodeFiles } from "./NodeFiles";
import type { Interface, Issue, Link, MacvlanMode, Route, Topology, TopoNode, VethLink, VxlanLink } from "../model/types";

export interface Selection {
  nodes: string[];
  edges: string[];
}

type Commit = (f: (d: Topology) => Topology) => void;

const none = (v: string): string | null => (v.trim() === "" ? null : v.trim());
const num = (v: string): number | null => (v.trim() === "" || isNaN(Number(v)) ? null : Number(v));

/** A text input that commits on blur/Enter and follows outside changes. */
function Field(props: {
  label: string;
  value: string | number | null | undefined;
  onCommit: (v: string) => void;
  placeholder?: string;
  name?: string;
  multiline?: boolean;
  invalid?: Issue[];
}) {
  const shown = props.value === null || props.value === undefined ? "" : String(props.value);
  const [v, setV] = useState(shown);
  useEffect(() => setV(shown), [shown]);
  const done = () => {
    if (v !== shown) props.onCommit(v);
  };
  const common = {
    name: props.name,
    value: v,
    placeholder: props.placeholder,
    "aria-label": props.label,
    className: props.invalid?.length ? "invalid" : "",
    title: props.invalid?.map((i) => i.message).join("\n"),
    onChange: (e: React.ChangeEvent<HTMLInputElement | HTMLTextAreaElement>) => setV(e.target.value),
    onBlur: done,
  };
  return (
    <label className="field">
      <span>{props.label}</span>
      {props.multiline ? (
        <textarea rows={Math.max(1, v.split("\n").length)} {...common} onKeyDown={(e) => e.key === "Enter" && e.ctrlKey && done()} />
      ) : (
        <input {...common} onKeyDown={(e) => e.key === "Enter" && done()} />
      )}
      {props.invalid?.map((i, k) => (
        <span className="field-issue" key={k}>{i.message}</span>
      ))}
    </label>
  );
}

function Check(props: { label: string; checked: boolean; onChange: (v: boolean) => void; name?: string }) {
  return (
    <label className="check">
      <input type="checkbox" name={props.name} checked={props.checked} onChange={(e) => props.onChange(e.target.checked)} />
      {props.label}
    </label>
  );
}

function issuesUnder(issues: Issue[], doc: Topology, id: string, prefix: string): Issue[] {
  return issues.filter((i) => {
    const t = issueTarget(i.path, doc);
    return t && (t.id === id || t.also.includes(id)) && t.field.startsWith(prefix);
  });
}

function InterfaceEditor(props: {
  node: TopoNode;
  iface: Interface;
  index: number;
  issues: Issue[];
  /** Addresses automatic addressing gives this interface (not in the document). */
  autoAddresses: string[];
  unconnected: boolean;
  open: boolean;
  onToggle: () => void;
  onChange: Commit;
  onStats: () => void;
  /** The lab, for the conditioning panel (absent: no panel). */
  labId?: string;
}) {
  const { node, iface, onChange } = props;
  const set = (patch: Partial<Interface>) =>
    onChange((d) => edit.updateNode(d, node.name, { ...node, interfaces: node.interfaces.map((i) => (i.name === iface.name ? { ...i, ...patch } : i)) }));
  const byField = (f: string) => props.issues.filter((i) => i.path.includes(`.interfaces[${props.index}]${f}`));
  return (
    <div className={`iface ${props.issues.length ? "has-issue" : ""}`} data-iface={iface.name}>
      <div className="iface-head" onClick={props.onToggle}>
        <span className="caret">{props.open ? "▾" : "▸"}</span>
        <b>{iface.name}</b>
        <span className="muted" data-testid="iface-addresses">
          {(iface.addresses ?? []).join(", ")}
          {props.autoAddresses.length > 0 && (
            <span className="auto-addr" title="given by automatic addressing (the kernel gets it at deploy)">
              {(iface.addresses ?? []).length ? ", " : ""}
              {props.autoAddresses.join(", ")} <span className="auto-chip">auto</span>
            </span>
          )}
        </span>
        {props.unconnected && <span className="chip-unlinked" title="no link joins this interface: the kernel has no such device until one does">not connected</span>}
        <button className="btn tiny" title="Counters of this interface" onClick={(e) => { e.stopPropagation(); props.onStats(); }}>stats</button>
      </div>
      {props.open && (
        <div className="iface-body">
          <Field label="Name" name="iface-name" value={iface.name} onCommit={(v) => v.trim() && onChange((d) => edit.renameInterface(d, node.name, iface.name, v.trim()))} invalid={byField(".name")} />
          <Field
            label="Addresses (one per line, CIDR)"
            name="iface-addresses"
            multiline
            value={(iface.addresses ?? []).join("\n")}
            placeholder="10.0.0.1/24"
            onCommit={(v) => set({ addresses: v.split(/[\n,]+/).map((s) => s.trim()).filter(Boolean) })}
            invalid={byField(".addresses")}
          />
          <div className="row">
            <Field label="MTU" name="iface-mtu" value={iface.mtu} onCommit={(v) => set({ mtu: num(v) })} invalid={byField(".mtu")} />
            <Field label="MAC" name="iface-mac" value={iface.mac} placeholder="auto" onCommit={(v) => set({ mac: none(v) })} invalid={byField(".mac")} />
          </div>
          <Field label="Bridge" name="iface-bridge" value={iface.bridge} placeholder={node.kind === "switch" ? "br0" : "none"} onCommit={(v) => set({ bridge: none(v) })} invalid={byField(".bridge")} />
          {props.issues.filter((i) => !/\.(name|addresses|mtu|mac|bridge)/.test(i.path.split(`.interfaces[${props.index}]`)[1] ?? "")).map((i, k) => (
            <div className="field-issue" key={k}>{i.message}</div>
          ))}
          {props.labId && !props.unconnected && (
            <Conditioning labId={props.labId} node={node.name} iface={iface.name} mtu={iface.mtu ?? null} onSaved={(v) => set({ netem: v.netem, rate_mbit: v.rate_mbit, up: v.up })} />
          )}
        </div>
      )}
    </div>
  );
}

function routesText(routes: Route[] | undefined): string {
  return (routes ?? []).map((r) => [r.dst, r.via && `via ${r.via}`, r.dev && `dev ${r.dev}`, r.metric != null && `metric ${r.metric}`].filter(Boolean).join(" ")).join("\n");
}
function NodeProps(props: {
  doc: Topology;
  node: TopoNode;
  id: string;
  issues: Issue[];
  notes: Issue[];
  auto: AutoAddressing["nodes"][string] | undefined;
  focus: string | null;
  onChange: Commit;
  onOpenConsole: (n: string) => void;
  onStats: (n: string, i: string) => void;
  labId?: string;
}) {
  const { node, onChange } = props;
  const [open, setOpen] = useState<string | null>(props.focus);
  useEffect(() => {
    if (props.focus) setOpen(props.focus);
  }, [props.focus, node.name]);
  // Open the interface an issue names, so its message is in view.
  useEffect(() => {
    const withIssue = props.issues.map((i) => issueTarget(i.path, props.doc)?.interface).find(Boolean);
    if (withIssue && !props.focus) setOpen(withIssue);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [props.issues.length, node.name]);
  const set = (patch: Partial<TopoNode>) => onChange((d) => edit.updateNode(d, node.name, { ...node, ...patch }));
  const top = (f: string) => props.issues.filter((i) => issueTarget(i.path, props.doc)?.field.startsWith(f));
  const nodeLevel = props.issues.filter((i) => {
    const f = issueTarget(i.path, props.doc)?.field ?? "";
    return !/^\.(interfaces\[|gateway|routes|name)/.test(f);
  });
  return (
    <div className="props" data-props-node={node.name}>
      <div className="props-title">
        <span className={`kind-chip kind-${node.kind}`}>{node.kind}</span>
        <h3>{node.name}</h3>
        <button className="btn tiny" onClick={() => props.onOpenConsole(node.name)}>Console</button>
      </div>
      {nodeLevel.map((i, k) => <div className="issue-box" key={k}>{i.message}{i.hint && <div className="hint">{i.hint}</div>}</div>)}
      <Field label="Name" name="node-name" value={node.name} onCommit={(v) => v.trim() && set({ name: v.trim() })} invalid={top(".name")} />
      <label className="field">
        <span>Kind</span>
        <select value={node.kind} onChange={(e) => set({ kind: e.target.value as TopoNode["kind"] })}>
          <option value="host">host</option>
          <option value="router">router</option>
          <option value="switch">switch</option>
        </select>
      </label>
      {props.auto?.gateway && !node.gateway && (
        <p className="muted small auto-addr">Gateway {props.auto.gateway} <span className="auto-chip">auto</span></p>
      )}
      {node.kind !== "switch" && (
        <div className="row">
          <Field label="Gateway" name="node-gateway" value={node.gateway} placeholder="none" onCommit={(v) => set({ gateway: none(v) })} invalid={top(".gateway").filter((i) => !i.path.includes("gateway6"))} />
          <Field label="Gateway v6" name="node-gateway6" value={node.gateway6} placeholder="none" onCommit={(v) => set({ gateway6: none(v) })} invalid={top(".gateway6")} />
        </div>
      )}
      {node.kind === "switch" && <Check label="Spanning tree (STP)" name="node-stp" checked={!!node.stp} onChange={(v) => set({ stp: v })} />}
      {node.kind !== "switch" && (
        <Check label="IP forwarding" checked={node.forwarding ?? node.kind === "router"} onChange={(v) => set({ forwarding: v === (node.kind === "router") ? null : v })} />
      )}
      <Field label="Static routes (dst via A dev D)" name="node-routes" multiline value={routesText(node.routes)} placeholder="10.2.0.0/24 via 10.0.0.2" onCommit={(v) => set({ routes: parseRoutes(v) })} invalid={top(".routes")} />
      <h4>Interfaces</h4>
      {node.interfaces.length === 0 && <p className="muted">Link this node to another to give it interfaces.</p>}
      {node.interfaces.map((iface, j) => (
        <InterfaceEditor
          key={iface.name + j}
          node={node}
          iface={iface}
          index={j}
          issues={props.issues.filter((i) => issueTarget(i.path, props.doc)?.field.startsWith(`.interfaces[${j}]`))}
          autoAddresses={props.auto?.interfaces?.[iface.name] ?? []}
          unconnected={props.notes.some((n) => issueTarget(n.path, props.doc)?.interface === iface.name)}
          open={open === iface.name}
          onToggle={() => setOpen(open === iface.name ? null : iface.name)}
          onChange={onChange}
          onStats={() => props.onStats(node.name, iface.name)}
          labId={props.labId}
        />
      ))}
      <NodeFiles node={node} labId={props.labId} onChange={(files) => set({ files })} />
      <Field label="Description" name="node-description" multiline value={node.description ?? ""} onCommit={(v) => set({ description: v })} />
    </div>
  );
}

function LinkProps(props: { doc: Topology; link: Link; index: number; issues: Issue[]; onChange: Commit }) {
  const { link, index, onChange } = props;
  const set = (patch: Record<string, unknown>) => onChange((d) => edit.updateLink(d, index, { ...(d.links[index] as object), ...patch } as Link));
  const f = (name: string) => props.issues.filter((i) => i.path.startsWith(`links[${index}].${name}`));
  const whole = props.issues.filter((i) => !/^links\[\d+\]\.\w/.test(i.path) || /\.(a|b|endpoint)\b/.test(i.path));
  const ep = (label: string, e: { node: string; interface: string }, key: string) => (
    <div className="endpoint">
      <span className="muted">{label}</span> <b>{e.node}</b>:
      <input
        className="ep-iface"
        aria-label={`${label} interface`}
        defaultValue={e.interface}
        key={e.node + e.interface}
        onBlur={(ev) => {
          const v = ev.target.value.trim();
          if (v && v !== e.interface) onChange((d) => edit.renameInterface(d, e.node, e.interface, v));
        }}
        onKeyDown={(ev) => ev.key === "Enter" && (ev.target as HTMLInputElement).blur()}
        data-endpoint={key}
      />
    </div>
  );
  return (
    <div className="props" data-props-link={index}>
      <div className="props-title">
        <span className={`kind-chip link-${link.kind}`}>{link.kind}</span>
        <h3>link {index}</h3>
      </div>
      {whole.map((i, k) => <div className="issue-box" key={k}>{i.message}{i.hint && <div className="hint">{i.hint}</div>}</div>)}
      {link.kind === "veth" && (
        <>
          {ep("A", (link as VethLink).a, "a")}
          {ep("B", (link as VethLink).b, "b")}
          <div className="row">
            <Field label="MTU" value={(link as VethLink).mtu} onCommit={(v) => set({ mtu: num(v) })} invalid={f("mtu")} />
            <Field label="Rate limit (Mbit/s)" value={(link as VethLink).rate_mbit} onCommit={(v) => set({ rate_mbit: num(v) })} invalid={f("rate_mbit")} />
          </div>
        </>
      )}
      {"endpoint" in link && link.endpoint && ep("On", link.endpoint as { node: string; interface: string }, "endpoint")}
      {link.kind === "vxlan" && (
        <>
          <div className="row">
            <Field label="VNI" name="vxlan-vni" value={(link as VxlanLink).vni} onCommit={(v) => set({ vni: num(v) ?? 0 })} invalid={f("vni")} />
            <Field label="UDP port" value={(link as VxlanLink).dstport ?? 4789} onCommit={(v) => set({ dstport: num(v) ?? 4789 })} invalid={f("dstport")} />
          </div>
          <Field label="Remote" name="vxlan-remote" value={(link as VxlanLink).remote} placeholder="peer underlay address" onCommit={(v) => set({ remote: none(v) })} invalid={f("remote")} />
          <Field label="Group (multicast)" value={(link as VxlanLink).group} onCommit={(v) => set({ group: none(v) })} invalid={f("group")} />
          <div className="row">
            <Field label="Local" value={(link as VxlanLink).local} onCommit={(v) => set({ local: none(v) })} invalid={f("local")} />
            <Field label="Underlay interface" value={(link as VxlanLink).underlay} onCommit={(v) => set({ underlay: none(v) })} invalid={f("underlay")} />
          </div>
          <Check label="MAC learning" checked={(link as VxlanLink).learning ?? true} onChange={(v) => set({ learning: v })} />
        </>
      )}
      {(link.kind === "macvlan" || link.kind === "macvtap") && "parent" in link && (
        <>
          <label className="field">
            <span>Mode</span>
            <select name="macvlan-mode" value={((link as { mode?: MacvlanMode }).mode) ?? "bridge"} onChange={(e) => set({ mode: e.target.value })}>
              {["private", "vepa", "bridge", "passthru", "source"].map((m) => <option key={m}>{m}</option>)}
            </select>
          </label>
          <Field label="Parent interface" value={(link.parent as { interface: string }).interface} onCommit={(v) => set({ parent: { ...(link.parent as object), interface: v.trim() } })} invalid={f("parent")} />
        </>
      )}
      {["tap", "tun", "macvtap"].includes(link.kind) && (
        <label className="field">
          <span>Program</span>
          <select
            value={((link as { program?: { app: string } | null }).program?.app) ?? ""}
            onChange={(e) => set({ program: e.target.value ? { app: e.target.value, args: [] } : null })}
          >
            <option value="">none</option>
            {["hold", "tunnel", "tap-endpoint", "macvtap-reader"].map((a) => <option key={a}>{a}</option>)}
          </select>
        </label>
      )}
    </div>
  );
}

function LabProps({ doc, issues, onChange }: { doc: Topology; issues: Issue[]; onChange: Commit }) {
  const a = doc.addressing ?? {};
  const setA = (patch: Record<string, unknown>) => onChange((d) => ({ ...d, addressing: { ...(d.addressing ?? {}), ...patch } }));
  const docIssues = issues.filter((i) => !/^(nodes|links)\[/.test(i.path));
  return (
    <div className="props">
      <div className="props-title"><h3>Lab</h3></div>
      {docIssues.map((i, k) => <div className="issue-box" key={k}>{i.path && <b>{humanPath(i.path, doc)}:</b>} {i.message}</div>)}
      <Field label="Topology name" value={doc.name} onCommit={(v) => onChange((d) => ({ ...d, name: v.trim() }))} />
      <Field label="Description" multiline value={doc.description ?? ""} onCommit={(v) => onChange((d) => ({ ...d, description: v }))} />
      <h4>Automatic addressing</h4>
      <Check label="Assign addresses automatically" checked={!!a.auto} onChange={(v) => setA({ auto: v })} />
      {a.auto && (
        <>
          <Field label="Pool" value={a.pool ?? "10.0.0.0/16"} onCommit={(v) => setA({ pool: v.trim() })} />
          <div className="row">
            <Field label="Point-to-point prefix" value={a.p2p_prefix ?? 30} onCommit={(v) => setA({ p2p_prefix: num(v) ?? 30 })} />
            <Field label="Segment prefix" value={a.segment_prefix ?? 24} onCommit={(v) => setA({ segment_prefix: num(v) ?? 24 })} />
          </div>
          <Check label="Add routes" checked={a.routes ?? true} onChange={(v) => setA({ routes: v })} />
        </>
      )}
      <p className="muted small">{doc.nodes.length} nodes · {doc.links.length} links</p>
    </div>
  );
}

export function Properties(props: {
  doc: Topology;
  graph: Graph;
  selection: Selection;
  issues: Issue[];
  notes: Issue[];
  auto: AutoAddressing | null;
  focusIface: { node: string; iface: string } | null;
  onChange: Commit;
  onOpenConsole: (node: string) => void;
  onStats: (node: string, iface: string) => void;
  onSelectElement: (s: Selection) => void;
  /** The lab being edited: its interfaces then show their live conditioning. */
  labId?: string;
}) {
  const { doc, graph, selection } = props;
  let body: React.ReactNode;
  const nodeId = selection.nodes[0];
  const edgeIdSel = selection.edges[0];
  const gnode = nodeId ? graph.nodes.find((n) => n.id === nodeId) : undefined;
  if (gnode?.type === "device") {
    const node = doc.nodes[(gnode.data as DeviceData).index];
    body = node && (
      <NodeProps
        doc={doc}
        node={node}
        id={gnode.id}
        issues={issuesUnder(props.issues, doc, gnode.id, "")}
        notes={issuesUnder(props.notes, doc, gnode.id, "")}
        auto={props.auto?.nodes[node.name]}
        focus={props.focusIface?.node === node.name ? props.focusIface.iface : null}
        onChange={props.onChange}
        onOpenConsole={props.onOpenConsole}
        onStats={props.onStats}
        labId={props.labId}
      />
    );
  } else if (gnode?.type === "attach" || edgeIdSel) {
    const index = gnode ? (gnode.data as AttachData).index : graph.edges.find((e) => e.id === edgeIdSel)?.data.index;
    const link = index !== undefined ? doc.links[index] : undefined;
    body = link && index !== undefined && (
      <LinkProps doc={doc} link={link} index={index} issues={props.issues.filter((i) => i.path.startsWith(`links[${index}]`))} onChange={props.onChange} />
    );
  }
  return <aside className="properties">{body || <LabProps doc={doc} issues={props.issues} onChange={props.onChange} />}</aside>;
}
