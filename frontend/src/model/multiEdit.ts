// Edits of several nodes at once (the properties panel of a multi-selection): pure, each
// takes a document and the selected node names and returns a new document.
import type { NodeKind, Topology, TopoNode } from "./types";

/** The value every selected node shares for `read`, or "mixed" (undefined: none selected). */
export function common<T>(doc: Topology, names: string[], read: (n: TopoNode) => T): T | "mixed" | undefined {
  const vals = doc.nodes.filter((n) => names.includes(n.name)).map(read);
  if (!vals.length) return undefined;
  return vals.every((v) => v === vals[0]) ? vals[0] : "mixed";
}

function mapSelected(doc: Topology, names: string[], f: (n: TopoNode) => TopoNode): Topology {
  const chosen = new Set(names);
  return { ...doc, nodes: doc.nodes.map((n) => (chosen.has(n.name) ? f(n) : n)) };
}

/** Hosts and routers swap kinds (a switch is a bridge, not a kind to switch to or from). */
export function setKind(doc: Topology, names: string[], kind: Exclude<NodeKind, "switch">): Topology {
  return mapSelected(doc, names, (n) => (n.kind === "switch" ? n : { ...n, kind }));
}

/** The IPv4 default gateway of every selected host or router (null removes it). */
export function setGateway(doc: Topology, names: string[], gateway: string | null): Topology {
  return mapSelected(doc, names, (n) => {
    if (n.kind === "switch") return n;
    const { gateway: _old, ...rest } = n;
    return gateway ? { ...rest, gateway } : (rest as TopoNode);
  });
}

/** One MTU on every interface of the selected nodes (null: the kernel's default). */
export function setMtu(doc: Topology, names: string[], mtu: number | null): Topology {
  return mapSelected(doc, names, (n) => ({
    ...n,
    interfaces: n.interfaces.map((i) => {
      const { mtu: _old, ...rest } = i;
      return mtu === null ? rest : { ...rest, mtu };
    }),
  }));
}

export function setDescription(doc: Topology, names: string[], description: string): Topology {
  return mapSelected(doc, names, (n) => ({ ...n, description }));
}

/** Line the selected nodes up: a row (same y, spaced along x) or a column. */
export function align(doc: Topology, names: string[], how: "row" | "column", gap = 170): Topology {
  const chosen = doc.nodes.filter((n) => names.includes(n.name) && n.position);
  if (chosen.length < 2) return doc;
  const axis = how === "row" ? "x" : "y";
  const other = how === "row" ? "y" : "x";
  const sorted = [...chosen].sort((a, b) => a.position![axis] - b.position![axis]);
  const start = sorted[0].position![axis];
  const line = Math.round(chosen.reduce((s, n) => s + n.position![other], 0) / chosen.length);
  const place = new Map(sorted.map((n, i) => [n.name, { [axis]: start + i * (how === "row" ? gap : gap * 0.65), [other]: line } as { x: number; y: number }]));
  return { ...doc, nodes: doc.nodes.map((n) => (place.has(n.name) ? { ...n, position: place.get(n.name)! } : n)) };
}
