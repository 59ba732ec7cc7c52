// The topology document as lab/topology/schema.py defines it (JSON form).
// Fields the editor does not know are kept as they are (index signatures) so a
// round trip through the editor never drops what the server or an import wrote.

export type NodeKind = "host" | "router" | "switch";

export interface Endpoint {
  node: string;
  interface: string;
}

export interface Interface {
  name: string;
  addresses?: string[];
  mtu?: number | null;
  mac?: string | null;
  bridge?: string | null;
  description?: string;
  [extra: string]: unknown;
}

export interface Route {
  dst: string;
  via?: string | null;
  dev?: string | null;
  metric?: number | null;
}

export interface TopoNode {
  name: string;
  kind: NodeKind;
  interfaces: Interface[];
  gateway?: string | null;
  gateway6?: string | null;
  routes?: Route[];
  stp?: boolean;
  bridges?: { name: string; stp?: boolean; addresses?: string[]; mtu?: number | null }[];
  forwarding?: boolean | null;
  host?: string | null;
  position?: { x: number; y: number } | null;
  description?: string;
  [extra: string]: unknown;
}

export type MacvlanMode = "private" | "vepa" | "bridge" | "passthru" | "source";

export interface Program {
  app: "tunnel" | "tap-endpoint" | "macvtap-reader" | "hold";
  args?: string[];
}

export interface VethLink {
  kind: "veth";
  a: Endpoint;
  b: Endpoint;
  mtu?: number | null;
  rate_mbit?: number | null;
}
export interface VxlanLink {
  kind: "vxlan";
  endpoint: Endpoint;
  vni: number;
  local?: string | null;
  remote?: string | null;
  group?: string | null;
  dstport?: number;
  underlay?: string | null;
  ttl?: number | null;
  learning?: boolean;
}
export interface MacvlanLink {
  kind: "macvlan" | "macvtap";
  endpoint: Endpoint;
  parent: Endpoint;
  mode?: MacvlanMode;
  program?: Program | null;
}
export interface TapTunLink {
  kind: "tap" | "tun";
  endpoint: Endpoint;
  program?: Program | null;
}
/** Kinds the editor shows but does not draw specially (vlan, bond, ...). */
export interface OtherLink {
  kind: string;
  endpoint?: Endpoint;
  a?: Endpoint;
  b?: Endpoint;
  [extra: string]: unknown;
}

export type Link = VethLink | VxlanLink | MacvlanLink | TapTunLink | OtherLink;

export interface Addressing {
  auto?: boolean;
  pool?: string;
  p2p_prefix?: 30 | 31;
  segment_prefix?: number;
  routes?: boolean;
}

/** A note or shape the editor draws beside the network (schema.py `Annotation`). */
export type AnnotationKind = "note" | "rect" | "ellipse";
export interface Annotation {
  kind: AnnotationKind;
  position: { x: number; y: number }; // a shape's top-left corner
  width?: number | null; // shapes: 8 to 20000
  height?: number | null;
  text?: string; // a note's text (required), a shape's label
  color?: string | null; // #rrggbb
}

export interface Topology {
  schema_version?: 1;
  name: string;
  description?: string;
  nodes: TopoNode[];
  links: Link[];
  addressing?: Addressing;
  annotations?: Annotation[];
  [extra: string]: unknown;
}

export interface Issue {
  path: string;
  code: string;
  message: string;
  hint?: string;
}

/** Endpoints a link realizes on nodes (the same notion as `Link.endpoints()` in Python). */
export function linkEndpoints(link: Link): Endpoint[] {
  const l = link as OtherLink;
  if (l.a && l.b) return [l.a, l.b];
  if (l.endpoint) return [l.endpoint];
  return [];
}

export function emptyTopology(name = "lab"): Topology {
  return { schema_version: 1, name, description: "", nodes: [], links: [], addressing: { auto: false } };
}
