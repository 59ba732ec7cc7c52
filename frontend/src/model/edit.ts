// Pure edits of the topology document: each takes a document and returns a new one.
import { allocateInterface, allocateNodeName, prefixFor } from "./ifnames";
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

/** Names of `nodeName`'s interfaces some link makes or uses (end, parent, underlay, member). */
export function linkedInterfaces(doc: Topology, nodeName: string): Set<string> {
  const used = new Set<string>();
  for (const l of doc.links) {
    const eps = linkEndpoints(l);
    for (const e of eps) if (e.node === nodeName) used.add(e.interface);
    const parent = (l as { parent?: unknown }).parent;
    if (parent && typeof parent === "object" && (parent as Endpoint).node === nodeName) used.add((parent as Endpoint).interface);
    if (eps[0]?.node !== nodeName) continue;
    // Fields that name another interface of the link's own node.
    for (const key of ["underlay", "parent", "members"]) {
      const v = (l as Record<string, unknown>)[key];
      for (const name of Array.isArray(v) ? v : [v]) if (typeof name === "string") used.add(name);
    }
  }
  return used;
}

/**
 * The interface a new link of `kind` takes on `nodeName`: the first one of that kind's
 * name pattern (eth0, eth1 ... for veth) that no link uses, so a deleted link drawn
 * again gets its interfaces back with their addresses; else a fresh name.
 */
function endFor(doc: Topology, nodeName: string, kind: string, not?: string): { doc: Topology; name: string } {
  const n = node(doc, nodeName);
  const used = linkedInterfaces(doc, nodeName);
  const pattern = new RegExp(`^${prefixFor(kind)}\\d+$`);
  const free = n.interfaces.find((i) => pattern.test(i.name) && !used.has(i.name) && i.name !== not);
  if (free) return { doc, name: free.name };
  const name = allocateInterface(n, kind);
  return { doc: withInterface(doc, nodeName, { name, addresses: [] }), name };
}

/**
 * Join two nodes. `veth` makes one pair; `vxlan` makes a tunnel: one vxlan device
 * on each node with the same fresh VNI (remote addresses are for the person or
 * auto addressing to fill in; the server says what is missing). Free interfaces
 * (left by a deleted link) are taken before new ones are made.
 */
export function connect(doc: Topology, a: string, b: string, kind = "veth"): Topology {
  if (kind === "vxlan") {
    const vni = nextVni(doc);
    const ea = endFor(doc, a, "vxlan");
    const eb = endFor(ea.doc, b, "vxlan", a === b ? ea.name : undefined);
    const links: Link[] = [
      { kind: "vxlan", endpoint: { node: a, interface: ea.name }, vni, dstport: 4789 },
      { kind: "vxlan", endpoint: { node: b, interface: eb.name }, vni, dstport: 4789 },
    ];
    return { ...eb.doc, links: [...eb.doc.links, ...links] };
  }
  if (kind !== "veth") return attach(attach(doc, a, kind), b, kind);
  const ea = endFor(doc, a, "veth");
  const eb = endFor(ea.doc, b, "veth", a === b ? ea.name : undefined);
  const link: Link = { kind: "veth", a: { node: a, interface: ea.name }, b: { node: b, interface: eb.name } };
  return { ...eb.doc, links: [...eb.doc.links, link] };
}

/** Add a one-interface link (vxlan, macvlan, macvtap, tap, tun) on a node. */
export function attach(doc: Topology, nodeName: string, kind: string): Topology {
  const n = node(doc, nodeName);
  const end = endFor(doc, nodeName, kind);
  const ifname = end.name;
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
  return { ...end.doc, links: [...end.doc.links, link] };
}

/**
 * Delete nodes (with every link touching them) and links (by index). The interfaces a
 * deleted link joined stay on their nodes with their addresses, as in GNS3 and CML:
 * the node's gateway and routes still make sense, and a link drawn again between the
 * same nodes takes them back (see `connect`).
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
  const links = doc.links.filter((_, j) => !goneLinks.has(j));
  const nodes = doc.nodes.filter((n) => !goneNodes.has(n.name));
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
