// Geometry of the small read-only topology picture on the exercise page.
import { autoLayout } from "../model/layout";
import { linkEndpoints, type Topology } from "../model/types";

export interface PreviewNode {
  name: string;
  kind: string;
  x: number; // centre, in the picture's own units
  y: number;
}
export interface PreviewEdge {
  a: string;
  b: string;
  kind: string;
}
export interface Preview {
  width: number;
  height: number;
  nodes: PreviewNode[];
  edges: PreviewEdge[];
}

export const NODE_W = 96;
export const NODE_H = 40;
const MARGIN = 16;

/**
 * Node centres shifted so the picture starts at the margin; the editor's saved
 * positions are used when every node has one, an automatic layout otherwise.
 * Links with two node endpoints become edges; single-ended ones (vxlan, tap) are left out.
 */
export function previewOf(doc: Topology): Preview {
  const placed = doc.nodes.every((n) => n.position);
  const auto = placed ? null : autoLayout(doc);
  const raw = doc.nodes.map((n) => {
    const p = placed ? n.position! : (auto!.get(n.name) ?? { x: 0, y: 0 });
    return { name: n.name, kind: n.kind, x: p.x + NODE_W / 2, y: p.y + NODE_H / 2 };
  });
  if (raw.length === 0) return { width: 200, height: 80, nodes: [], edges: [] };
  const minX = Math.min(...raw.map((n) => n.x)) - NODE_W / 2 - MARGIN;
  const minY = Math.min(...raw.map((n) => n.y)) - NODE_H / 2 - MARGIN;
  const nodes = raw.map((n) => ({ ...n, x: n.x - minX, y: n.y - minY }));
  const width = Math.max(...nodes.map((n) => n.x)) + NODE_W / 2 + MARGIN;
  const height = Math.max(...nodes.map((n) => n.y)) + NODE_H / 2 + MARGIN;
  const names = new Set(nodes.map((n) => n.name));
  const edges: PreviewEdge[] = [];
  for (const link of doc.links) {
    const eps = linkEndpoints(link);
    if (eps.length === 2 && names.has(eps[0].node) && names.has(eps[1].node)) {
      edges.push({ a: eps[0].node, b: eps[1].node, kind: link.kind });
    }
  }
  return { width, height, nodes, edges };
}
