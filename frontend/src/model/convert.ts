// Topology document <-> graph (the nodes and edges React Flow draws).
//
// The document is the single source of truth; the graph is derived from it and
// carries every field of the document in `data`, so graphToTopology(topologyToGraph(d))
// gives back d (with positions filled in). Links that realize one interface
// (vxlan, macvlan, macvtap, tap, tun ...) are drawn as a small "attachment" node
// beside their node, joined to it by an edge; edges marked `derived` (vxlan peers
// sharing a VNI, a macvlan's parent) are drawing aids, not document links.
import type { Link, Topology, TopoNode } from "./types";
import { linkEndpoints } from "./types";

export interface XY {
  x: number;
  y: number;
}

export interface DeviceData extends Record<string, unknown> {
  node: TopoNode; // without position: the graph node's own position is the truth
  index: number;
}
export interface AttachData extends Record<string, unknown> {
  link: Link;
  index: number;
}
export interface EdgeData extends Record<string, unknown> {
  link?: Link;
  index?: number;
  derived?: "vxlan-peer" | "parent";
}

export interface GraphNode {
  id: string;
  type: "device" | "attach";
  position: XY;
  data: DeviceData | AttachData;
}
export interface GraphEdge {
  id: string;
  source: string;
  target: string;
  type: string;
  data: EdgeData;
}
export interface Graph {
  nodes: GraphNode[];
  edges: GraphEdge[];
  meta: Omit<Topology, "nodes" | "links">;
}

const GRID = 160;

/** Where a node without a stored position is drawn: a grid, row by row. */
export function defaultPosition(index: number, count: number): XY {
  const cols = Math.max(1, Math.ceil(Math.sqrt(count)));
  return { x: (index % cols) * GRID, y: Math.floor(index / cols) * GRID };
}

/** Graph ids of the document's nodes, in order; duplicate names stay distinct. */
export function nodeIds(doc: Pick<Topology, "nodes">): string[] {
  const seen = new Set<string>();
  return doc.nodes.map((n, i) => {
    let id = `n:${n.name}`;
    if (seen.has(id)) id = `${id}#${i}`;
    seen.add(id);
    return id;
  });
}

export const edgeId = (linkIndex: number): string => `l${linkIndex}`;
export const attachId = (linkIndex: number): string => `p${linkIndex}`;

/** Whether a link is drawn as an edge between two nodes (else as an attachment). */
export function isPairLink(link: Link): boolean {
  return linkEndpoints(link).length === 2;
}

export function topologyToGraph(doc: Topology): Graph {
  const { nodes: docNodes, links, ...meta } = doc;
  const ids = nodeIds(doc);
  const idByName = new Map<string, string>();
  docNodes.forEach((n, i) => {
    if (!idByName.has(n.name)) idByName.set(n.name, ids[i]);
  });
  const nodes: GraphNode[] = docNodes.map((n, i) => {
    const { position, ...rest } = n;
    return {
      id: ids[i],
      type: "device",
      position: position ? { x: position.x, y: position.y } : defaultPosition(i, docNodes.length),
      data: { node: rest as TopoNode, index: i },
    };
  });
  const posById = new Map(nodes.map((n) => [n.id, n.position]));
  const edges: GraphEdge[] = [];
  const attachCount = new Map<string, number>();
  const vxlanByVni = new Map<number, string[]>();
  links.forEach((link, j) => {
    const eps = linkEndpoints(link);
    if (eps.length === 2) {
      edges.push({
        id: edgeId(j),
        source: idByName.get(eps[0].node) ?? `missing:${eps[0].node}`,
        target: idByName.get(eps[1].node) ?? `missing:${eps[1].node}`,
        type: "link",
        data: { link, index: j },
      });
      return;
    }
    const owner = eps[0] ? idByName.get(eps[0].node) : undefined;
    const base = (owner && posById.get(owner)) || { x: 0, y: 0 };
    const k = owner ? (attachCount.get(owner) ?? 0) : 0;
    if (owner) attachCount.set(owner, k + 1);
    nodes.push({
      id: attachId(j),
      type: "attach",
      position: { x: base.x + 90 + 70 * k, y: base.y - 60 },
      data: { link, index: j },
    });
    edges.push({
      id: edgeId(j),
      source: owner ?? `missing:${eps[0]?.node ?? "?"}`,
      target: attachId(j),
      type: "link",
      data: { link, index: j },
    });
    if (link.kind === "vxlan" && typeof (link as { vni?: unknown }).vni === "number") {
      const vni = (link as { vni: number }).vni;
      const peers = vxlanByVni.get(vni) ?? [];
      peers.forEach((peer) =>
        edges.push({
          id: `vx:${peer}:${attachId(j)}`,
          source: peer,
          target: attachId(j),
          type: "peer",
          data: { derived: "vxlan-peer" },
        }),
      );
      vxlanByVni.set(vni, [...peers, attachId(j)]);
    }
    const parent = (link as { parent?: unknown }).parent;
    if (parent && typeof parent === "object" && "node" in parent) {
      const pid = idByName.get((parent as { node: string }).node);
      if (pid && pid !== owner) {
        edges.push({
          id: `pa:${attachId(j)}`,
          source: attachId(j),
          target: pid,
          type: "peer",
          data: { derived: "parent" },
        });
      }
    }
  });
  return { nodes, edges, meta };
}

export function graphToTopology(graph: Graph): Topology {
  const nodes: TopoNode[] = graph.nodes
    .filter((n) => n.type === "device")
    .map((n) => ({ ...(n.data as DeviceData).node, position: { x: n.position.x, y: n.position.y } }));
  const byIndex = new Map<number, Link>();
  for (const e of graph.edges) {
    if (e.data.link && e.data.index !== undefined && !e.data.derived) byIndex.set(e.data.index, e.data.link);
  }
  for (const n of graph.nodes) {
    if (n.type === "attach") {
      const d = n.data as AttachData;
      byIndex.set(d.index, d.link);
    }
  }
  const links = [...byIndex.entries()].sort((a, b) => a[0] - b[0]).map(([, l]) => l);
  return { ...graph.meta, nodes, links } as Topology;
}
