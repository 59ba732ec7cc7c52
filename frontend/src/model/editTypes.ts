export type { Endpoint, Interface, Link, NodeKind, Topology, TopoNode } from "./types";
export type { XY } from "./convert";
