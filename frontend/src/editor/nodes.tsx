// The diagram's custom node and edge components.
import { memo, useContext } from "react";
import { BaseEdge, Handle, Position, getStraightPath, useInternalNode, type EdgeProps, type InternalNode, type NodeProps } from "@xyflow/react";
import type { AttachData, DeviceData, EdgeData } from "../model/convert";
import { linkEndpoints, type Link } from "../model/types";
import { CountersContext, ViewContext } from "./context";
import { hasKernelState } from "../model/labState";
import { AddressContext } from "./addressView";
import { linkSubnets, nodeAddressLines } from "../model/addresses";

const ICON: Record<string, string> = {
  host: "M4 5h16v10H4z M9 19h6 M12 15v4",
  router: "M12 3v18 M3 12h18 M7 7l-3 5 3 5 M17 7l3 5-3 5",
  switch: "M4 8h13l-3-3 M20 16H7l3 3",
};

export function KindIcon({ kind }: { kind: string }) {
  return (
    <svg className="kind-icon" viewBox="0 0 24 24" width="20" height="20" aria-hidden>
      <path d={ICON[kind] ?? ICON.host} fill="none" stroke="currentColor" strokeWidth="1.8" strokeLinecap="round" strokeLinejoin="round" />
    </svg>
  );
}

function issueTitle(list: { message: string; hint?: string }[] | undefined): string | undefined {
  return list?.map((i) => (i.hint ? `${i.message} (${i.hint})` : i.message)).join("\n");
}

export const DeviceNode = memo(function DeviceNode({ id, data, selected }: NodeProps) {
  const view = useContext(ViewContext);
  const addrs = useContext(AddressContext);
  const node = (data as DeviceData).node;
  const issues = view.issues.get(id);
  const journey = view.journeyNode === node.name;
  // Drawn since the lab host built the lab: it has no namespace until Apply.
  const unapplied = !!view.applied && hasKernelState(view.state) && !view.applied.has(node.name);
  const cls = [
    "device",
    `kind-${node.kind}`,
    unapplied ? "unapplied" : view.state ? `state-${view.state}` : "",
    issues ? "has-issue" : "",
    selected ? "selected" : "",
    journey ? "journey-active" : "",
  ].join(" ");
  return (
    <div
      className={cls}
      title={issueTitle(issues) ?? (unapplied ? `${node.name} is not built yet: Apply changes makes it` : undefined)}
      data-node={node.name}
      data-applied={unapplied ? "no" : undefined}
    >
      <Handle type="target" position={Position.Left} className="handle" />
      <KindIcon kind={node.kind} />
      <div className="device-text">
        <div className="device-name">{node.name}</div>
        <div className="device-kind">{node.kind}</div>
      </div>
      {view.state && <span className="state-dot" />}
      {issues && <span className="issue-mark" aria-label={`${issues.length} issue(s)`}>!</span>}
      <Handle type="source" position={Position.Right} className="handle" />
      {addrs.show && (
        <div className="device-addrs" data-testid="node-addresses">
          {nodeAddressLines(node, addrs.auto).map((l) => (
            <div key={l.iface}>
              <b>{l.iface}</b>{" "}
              {l.addresses.map((a) => (
                <span key={a.address} className={a.auto ? "auto-addr" : undefined}>{a.address} </span>
              ))}
            </div>
          ))}
        </div>
      )}
    </div>
  );
});

export const AttachNode = memo(function AttachNode({ id, data, selected }: NodeProps) {
  const view = useContext(ViewContext);
  const link = (data as AttachData).link as Link & { vni?: number; mode?: string };
  const ep = linkEndpoints(link)[0];
  const issues = view.issues.get(id);
  const detail = link.kind === "vxlan" ? `VNI ${link.vni}` : link.mode ?? ep?.interface ?? "";
  return (
    <div
      className={`attach kind-${link.kind} ${issues ? "has-issue" : ""} ${selected ? "selected" : ""}`}
      title={issueTitle(issues) ?? `${link.kind} ${ep ? `${ep.node}:${ep.interface}` : ""}`}
    >
      <Handle type="target" position={Position.Left} className="handle hidden" isConnectable={false} />
      <span className="attach-kind">{link.kind}</span>
      <span className="attach-detail">{detail}</span>
    </div>
  );
});

function throughputStyle(bps: number): { stroke: string; strokeWidth: number } | null {
  if (!bps) return null;
  // Width grows with the log of the rate; colour from calm blue to hot orange.
  const level = Math.min(1, Math.log10(Math.max(bps, 1)) / 9); // 1 Gbit/s = full
  const w = 2 + level * 6;
  const hue = 210 - level * 190;
  return { stroke: `hsl(${hue} 85% 50%)`, strokeWidth: w };
}

export function formatBps(bps: number): string {
  if (bps >= 1e9) return `${(bps / 1e9).toFixed(1)} Gb/s`;
  if (bps >= 1e6) return `${(bps / 1e6).toFixed(1)} Mb/s`;
  if (bps >= 1e3) return `${(bps / 1e3).toFixed(1)} kb/s`;
  return `${Math.round(bps)} b/s`;
}

/** Where the line from the centre of `a` towards the centre of `b` leaves `a`'s box. */
function borderPoint(a: InternalNode, b: InternalNode): { x: number; y: number } {
  const w = (a.measured.width ?? 0) / 2;
  const h = (a.measured.height ?? 0) / 2;
  const ax = a.internals.positionAbsolute.x + w;
  const ay = a.internals.positionAbsolute.y + h;
  const bx = b.internals.positionAbsolute.x + (b.measured.width ?? 0) / 2;
  const by = b.internals.positionAbsolute.y + (b.measured.height ?? 0) / 2;
  const dx = bx - ax;
  const dy = by - ay;
  if (!dx && !dy) return { x: ax, y: ay };
  const t = Math.min(w / Math.abs(dx || 1e-9), h / Math.abs(dy || 1e-9));
  return { x: ax + dx * Math.min(t, 1), y: ay + dy * Math.min(t, 1) };
}

/** Network links run centre to centre (cut at the node borders), not handle to handle. */
function useFloating(props: EdgeProps) {
  const s = useInternalNode(props.source);
  const t = useInternalNode(props.target);
  if (!s || !t || props.source === props.target) return props;
  const a = borderPoint(s, t);
  const b = borderPoint(t, s);
  return { ...props, sourceX: a.x, sourceY: a.y, targetX: b.x, targetY: b.y };
}

export const LinkEdge = memo(function LinkEdge(raw: EdgeProps) {
  const props = useFloating(raw);
  const { id, sourceX, sourceY, targetX, targetY, selected } = props;
  const data = props.data as EdgeData;
  const view = useContext(ViewContext);
  const latest = useContext(CountersContext);
  const addrs = useContext(AddressContext);
  const [path] = getStraightPath({ sourceX, sourceY, targetX, targetY });
  const link = data.link;
  const eps = link ? linkEndpoints(link) : [];
  const issues = view.issues.get(id);
  let bps = 0;
  for (const e of eps) {
    const s = latest.get(`${e.node}:${e.interface}`);
    if (s) bps = Math.max(bps, s.rx_bps + s.tx_bps);
  }
  const live = throughputStyle(bps);
  const down = eps.some((e) => latest.get(`${e.node}:${e.interface}`)?.oper === "down");
  const journey = eps.some((e) => e.node === view.journeyNode && e.interface === view.journeyIface);
  const style: React.CSSProperties = {
    strokeWidth: 2,
    stroke: "#7b8797",
    ...(live ?? {}),
    ...(down ? { stroke: "#c2410c", strokeDasharray: "6 4" } : {}),
    ...(issues ? { stroke: "#dc2626", strokeWidth: 3 } : {}),
    ...(journey ? { stroke: "#7c3aed", strokeWidth: 5 } : {}),
    ...(selected ? { stroke: "#2563eb", strokeWidth: (live?.strokeWidth ?? 2) + 1.5 } : {}),
  };
  const label = (frac: number, e: { node: string; interface: string } | undefined) => {
    if (!e || eps.length < 2) return null;
    const x = sourceX + (targetX - sourceX) * frac;
    const y = sourceY + (targetY - sourceY) * frac;
    return (
      <text
        x={x}
        y={y - 6}
        className="if-label"
        textAnchor="middle"
        onClick={(ev) => {
          ev.stopPropagation();
          view.onInterfaceClick(e.node, e.interface);
        }}
      >
        {e.interface}
      </text>
    );
  };
  return (
    <g className={`link-edge ${issues ? "has-issue" : ""}`} data-link={id}>
      <BaseEdge id={id} path={path} style={style} interactionWidth={14} />
      {issues && <title>{issueTitle(issues)}</title>}
      {!issues && bps > 0 && <title>{formatBps(bps)}</title>}
      {label(0.25, eps[0])}
      {label(0.75, eps[1])}
      {addrs.show && addrs.doc && data.index !== undefined && (
        <text x={(sourceX + targetX) / 2} y={(sourceY + targetY) / 2 + 14} className="subnet-label" textAnchor="middle" data-testid="link-subnet">
          {linkSubnets(addrs.doc, data.index, addrs.auto).join("  ")}
        </text>
      )}
    </g>
  );
});

export const PeerEdge = memo(function PeerEdge(raw: EdgeProps) {
  const props = useFloating(raw);
  const [path] = getStraightPath(props);
  return <BaseEdge id={props.id} path={path} style={{ stroke: "#a78bfa", strokeDasharray: "4 4", strokeWidth: 1.5 }} />;
});

export const nodeTypes = { device: DeviceNode, attach: AttachNode };
export const edgeTypes = { link: LinkEdge, peer: PeerEdge };
