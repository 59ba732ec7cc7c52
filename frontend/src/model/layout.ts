// Auto-layout with dagre: switches and routers end up in the middle, hosts around them.
import dagre from "@dagrejs/dagre";
import type { Topology } from "./types";
import { linkEndpoints } from "./types";
import type { XY } from "./convert";

/** Return a position for every node (by name), laid out left to right. */
export function autoLayout(doc: Topology): Map<string, XY> {
  const g = new dagre.graphlib.Graph();
  g.setGraph({ rankdir: doc.nodes.length > 40 ? "TB" : "LR", nodesep: 40, ranksep: 90, marginx: 20, marginy: 20 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const n of doc.nodes) g.setNode(n.name, { width: 110, height: 56 });
  for (const l of doc.links) {
    const eps = linkEndpoints(l);
    if (eps.length === 2 && g.hasNode(eps[0].node) && g.hasNode(eps[1].node)) g.setEdge(eps[0].node, eps[1].node);
  }
  dagre.layout(g);
  const out = new Map<string, XY>();
  for (const n of doc.nodes) {
    const p = g.node(n.name);
    if (p) out.set(n.name, { x: Math.round(p.x - 55), y: Math.round(p.y - 28) });
  }
  return out;
}
