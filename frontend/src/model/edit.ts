// Pure edits of the topology document: each takes a document and returns a new one.
import { allocateInterface, allocateNodeName } from "./ifnames";
import type { Endpoint, Interface, Link, NodeKind, Topology, TopoNode, XY } from "./editTypes";
import { linkEndpoints } from "./types";

const NODE_PREFIX: Record<NodeKind, string> = { host: "h", router: "r", switch: "s" };

export function addNode(doc: Topology, kind: NodeKind, position: XY): { doc: Topology; name: string } {
  const name = allocateNodeName(
    doc.nodes.map((n) => n.name),
    NODE_PREFIX[kind],
  );
  const node: TopoNode = { name, kind, interfaces: [], position: { x: Math.round(position.x), y: Math.round(position.y) } };
  return { doc: { ...doc, nodes: [...doc.nodes, node] }, name };
}

function withInterface(doc: Topology, nodeName: string, iface: Interface): Topology {
  return {
    ...doc,
    nodes: doc.nodes.map((n) => (n.name === nodeName ? { ...n, interfaces: [...n.interfaces, iface] } : n)),
  };
}

function node(doc: Topology, name: string): TopoNode {
  const found = doc.nodes.find((n) => n.name === name);
  if (!found) throw new Error(`no node ${name}`);
  return found;
}

/** A free VNI (from 100 up) not used by any vxlan link of the document. */
export function nextVni(doc: Topology): number {
  const used = new Set(doc.links.filter((l) => l.kind === "vxlan").map((l) => (l as { vni: number }).vni));
  let vni = 100;
  while (used.has(vni)) vni++;
  return vni;
}

/**
 * Join two nodes. `veth` makes one pair; `vxlan` makes a tunnel: one vxlan device
 * on each node with the same fresh VNI (remote addresses are for the person or
 * auto addressing to fill in; the server says what is missing).
 */
export function connect(doc: Topology, a: string, b: string, kind = "veth"): Topology {
  if (kind === "vxlan") {
    const vni = nextVni(doc);
    const ia = allocateInterface(node(doc, a), "vxlan");
    let next = withInterface(doc, a, { name: ia, addresses: [] });
    const ib = allocateInterface(node(next, b), "vxlan");
    next = withInterface(next, b, { name: ib, addresses: [] });
    const links: Link[] = [
      { kind: "vxlan", endpoint: { node: a, interface: ia }, vni, dstport: 4789 },
      { kind: "vxlan", endpoint: { node: b, interface: ib }, vni, dstport: 4789 },
    ];
    return { ...next, links: [...next.links, ...links] };
  }
  if (kind !== "veth") return attach(attach(doc, a, kind), b, kind);
  const ia = allocateInterface(node(doc, a), "veth");
  let next = withInterface(doc, a, { name: ia, addresses: [] });
  const ib = allocateInterface(node(next, b), "veth");
  next = withInterface(next, b, { name: ib, addresses: [] });
  const link: Link = { kind: "veth", a: { node: a, interface: ia }, b: { node: b, interface: ib } };
  return { ...next, links: [...next.links, link] };
}

/** Add a one-interface link (vxlan, macvlan, macvtap, tap, tun) on a node. */
export function attach(doc: Topology, nodeName: string, kind: string): Topology {
  const n = node(doc, nodeName);
  const ifname = allocateInterface(n, kind);
  const endpoint: Endpoint = { node: nodeName, interface: ifname };
  let link: Link;
  if (kind === "vxlan") link = { kind: "vxlan", endpoint, vni: nextVni(doc), dstport: 4789 };
  else if (kind === "macvlan" || kind === "macvtap") {
    // The parent is the node's first interface some other link creates.
    const realized = new Set(
      doc.links.flatMap(linkEndpoints).filter((e) => e.node === nodeName).map((e) => e.interface),
    );
    const parent = n.interfaces.find((i) => realized.has(i.name))?.name ?? "eth0";
    link = { kind, endpoint, parent: { node: nodeName, interface: parent }, mode: "bridge" };
  } else if (kind === "tap" || kind === "tun") link = { kind, endpoint, program: { app: "hold", args: [] } };
  else throw new Error(`unknown link kind ${kind}`);
  const next = withInterface(doc, nodeName, { name: ifname, addresses: [] });
  return { ...next, links: [...next.links, link] };
}

/**
 * Delete nodes (with every link touching them) and links (by index). Interfaces a
 * deleted link created are removed from their nodes too, so no dangling eth1 stays.
 */
export function deleteElements(doc: Topology, nodeNames: string[], linkIndexes: number[]): Topology {
  const goneNodes = new Set(nodeNames);
  const goneLinks = new Set(linkIndexes);
  doc.links.forEach((l, j) => {
    const touches = [...linkEndpoints(l), (l as { parent?: Endpoint }).parent].some(
      (e) => e && typeof e === "object" && goneNodes.has(e.node),
    );
    if (touches) goneLinks.add(j);
  });
  const freed = new Set<string>();
  doc.links.forEach((l, j) => {
    if (goneLinks.has(j)) linkEndpoints(l).forEach((e) => freed.add(`${e.node}\u0000${e.interface}`));
  });
  const links = doc.links.filter((_, j) => !goneLinks.has(j));
  const nodes = doc.nodes
    .filter((n) => !goneNodes.has(n.name))
    .map((n) => {
      const interfaces = n.interfaces.filter((i) => !freed.has(`${n.name}\u0000${i.name}`));
      return interfaces.length === n.interfaces.length ? n : { ...n, interfaces };
    });
  return { ...doc, nodes, links };
}

/** Set node positions (after a drag or an auto-layout). */
export function moveNodes(doc: Topology, positions: Map<string, XY>): Topology {
  return {
    ...doc,
    nodes: doc.nodes.map((n) => {
      const p = positions.get(n.name);
      return p ? { ...n, position: { x: Math.round(p.x), y: Math.round(p.y) } } : n;
    }),
  };
}

function renameEndpoint(e: Endpoint, from: string, to: string, iface?: [string, string]): Endpoint {
  if (e.node !== from) return e;
  if (iface && e.interface === iface[0]) return { node: to, interface: iface[1] };
  return iface ? e : { ...e, node: to };
}

function mapLinkEndpoints(link: Link, f: (e: Endpoint) => Endpoint): Link {
  const out: Record<string, unknown> = { ...link };
  for (const key of ["a", "b", "endpoint", "parent"]) {
    const v = out[key];
    if (v && typeof v === "object" && "node" in v) out[key] = f(v as Endpoint);
  }
  return out as Link;
}

/** Replace node `name`; a new name is carried into every link that names the node. */
export function updateNode(doc: Topology, name: string, next: TopoNode): Topology {
  let links = doc.links;
  if (next.name !== name) links = links.map((l) => mapLinkEndpoints(l, (e) => renameEndpoint(e, name, next.name)));
  return { ...doc, nodes: doc.nodes.map((n) => (n.name === name ? next : n)), links };
}

/** Rename interface `from` of node `nodeName` everywhere (node and links). */
export function renameInterface(doc: Topology, nodeName: string, from: string, to: string): Topology {
  return {
    ...doc,
    nodes: doc.nodes.map((n) =>
      n.name === nodeName ? { ...n, interfaces: n.interfaces.map((i) => (i.name === from ? { ...i, name: to } : i)) } : n,
    ),
    links: doc.links.map((l) => mapLinkEndpoints(l, (e) => renameEndpoint(e, nodeName, nodeName, [from, to]))),
  };
}

export function updateLink(doc: Topology, index: number, next: Link): Topology {
  return { ...doc, links: doc.links.map((l, j) => (j === index ? next : l)) };
}

export interface Clip {
  nodes: TopoNode[];
  links: Link[];
}

/** The selected nodes and the links wholly among them. */
export function copySelection(doc: Topology, nodeNames: string[]): Clip {
  const names = new Set(nodeNames);
  const nodes = doc.nodes.filter((n) => names.has(n.name));
  const links = doc.links.filter((l) => {
    const eps = [...linkEndpoints(l), (l as { parent?: Endpoint }).parent].filter(Boolean) as Endpoint[];
    return eps.length > 0 && eps.every((e) => names.has(e.node));
  });
  return { nodes, links };
}

/** Paste a clip with fresh node names, shifted by `offset`; returns the new names. */
export function paste(doc: Topology, clip: Clip, offset: XY = { x: 40, y: 40 }): { doc: Topology; names: string[] } {
  const taken = new Set(doc.nodes.map((n) => n.name));
  const rename = new Map<string, string>();
  for (const n of clip.nodes) {
    const prefix = n.name.replace(/\d+$/, "") || NODE_PREFIX[n.kind];
    const fresh = allocateNodeName(taken, prefix);
    taken.add(fresh);
    rename.set(n.name, fresh);
  }
  const nodes = clip.nodes.map((n) => ({
    ...n,
    name: rename.get(n.name)!,
    position: { x: (n.position?.x ?? 0) + offset.x, y: (n.position?.y ?? 0) + offset.y },
  }));
  const links = clip.links.map((l) =>
    mapLinkEndpoints(l, (e) => ({ node: rename.get(e.node) ?? e.node, interface: e.interface })),
  );
  return { doc: { ...doc, nodes: [...doc.nodes, ...nodes], links: [...doc.links, ...links] }, names: nodes.map((n) => n.name) };
}
