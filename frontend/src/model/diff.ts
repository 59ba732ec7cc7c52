// What Apply will change: the revision the lab host runs against the design, as a list
// of creations, removals and changes a person reads before confirming. Pure.
//
// The lab host reconciles the kernel with the new revision (worker/plan.py); this view
// follows the same identities: a node by name, an interface by node and name, a link
// by its kind and endpoints. Layout (positions) and descriptions change nothing in the
// kernel and are left out.
import { linkEndpoints, type Interface, type Link, type Topology, type TopoNode } from "./types";

export type ChangeOp = "create" | "remove" | "change";
export type ChangeSubject = "node" | "interface" | "link" | "addressing";

export interface Change {
  op: ChangeOp;
  subject: ChangeSubject;
  /** How a person names it: "h1", "h1 › eth0", "veth h1:eth0 – r1:eth0", "addressing". */
  name: string;
  /** For a change: one "field: before → after" line per field that differs. */
  details: string[];
}

// Keys that do not reach the kernel: where a node is drawn, free text.
const NODE_IGNORED = new Set(["name", "interfaces", "position", "description"]);
const IFACE_IGNORED = new Set(["name", "description"]);
const LINK_IGNORED = new Set(["description"]);

/** A link's identity: kind and endpoints, either way round for a two-ended link. */
export function linkKey(link: Link): string {
  const ends = linkEndpoints(link).map((e) => `${e.node}:${e.interface}`);
  const sorted = ends.length === 2 ? [...ends].sort() : ends;
  return `${link.kind} ${sorted.join(" – ")}`;
}

function show(v: unknown): string {
  if (v === undefined || v === null || v === "") return "none";
  if (Array.isArray(v)) return v.length ? v.map(show).join(", ") : "none";
  if (typeof v === "object") {
    const o = v as Record<string, unknown>;
    if ("dst" in o) return `${o.dst}${o.via ? ` via ${o.via}` : ""}${o.dev ? ` dev ${o.dev}` : ""}`;
    if ("node" in o && "interface" in o) return `${o.node}:${o.interface}`;
    return JSON.stringify(v);
  }
  return String(v);
}

// Absent, null, empty list and false-by-default mean the same to the kernel's build.
function normal(v: unknown): unknown {
  if (v === undefined || v === null || v === "") return null;
  if (Array.isArray(v) && v.length === 0) return null;
  if (typeof v === "object" && !Array.isArray(v) && Object.keys(v as object).length === 0) return null;
  return v;
}

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(sortKeys(normal(a))) === JSON.stringify(sortKeys(normal(b)));
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === "object") {
    const o = v as Record<string, unknown>;
    return Object.fromEntries(Object.keys(o).sort().map((k) => [k, sortKeys(o[k])]));
  }
  return v;
}

/** One "field: before → after" line per field of two objects that differs. */
function fieldChanges(before: object, after: object, ignored: Set<string>): string[] {
  const b = before as Record<string, unknown>;
  const a = after as Record<string, unknown>;
  const keys = [...new Set([...Object.keys(b), ...Object.keys(a)])].filter((k) => !ignored.has(k)).sort();
  return keys.filter((k) => !same(b[k], a[k])).map((k) => `${k}: ${show(b[k])} → ${show(a[k])}`);
}

function byName<T extends { name: string }>(items: T[]): Map<string, T> {
  return new Map(items.map((i) => [i.name, i]));
}

function nodeChanges(before: TopoNode, after: TopoNode): Change[] {
  const out: Change[] = [];
  const details = fieldChanges(before, after, NODE_IGNORED);
  if (details.length) out.push({ op: "change", subject: "node", name: after.name, details });
  const was = byName<Interface>(before.interfaces ?? []);
  const now = byName<Interface>(after.interfaces ?? []);
  for (const [name, iface] of now) {
    const label = `${after.name} › ${name}`;
    const old = was.get(name);
    if (!old) out.push({ op: "create", subject: "interface", name: label, details: fieldChanges({}, iface, IFACE_IGNORED) });
    else {
      const d = fieldChanges(old, iface, IFACE_IGNORED);
      if (d.length) out.push({ op: "change", subject: "interface", name: label, details: d });
    }
  }
  for (const name of was.keys()) {
    if (!now.has(name)) out.push({ op: "remove", subject: "interface", name: `${after.name} › ${name}`, details: [] });
  }
  return out;
}

/**
 * What applying `draft` to a lab running `running` creates, removes and changes, in
 * reading order: nodes (with their interfaces), then links, then the addressing.
 * An empty list means Apply would change nothing.
 */
export function diffTopologies(running: Topology, draft: Topology): Change[] {
  const out: Change[] = [];
  const was = byName(running.nodes);
  const now = byName(draft.nodes);
  for (const [name, node] of now) {
    const old = was.get(name);
    if (!old) {
      const ifaces = (node.interfaces ?? []).map((i) => i.name);
      out.push({ op: "create", subject: "node", name, details: [`${node.kind}${ifaces.length ? `, interfaces ${ifaces.join(", ")}` : ""}`] });
    } else if (old.kind !== node.kind) {
      // Another kind is another namespace set-up: the host rebuilds the node.
      out.push({ op: "remove", subject: "node", name, details: [`was a ${old.kind}`] });
      out.push({ op: "create", subject: "node", name, details: [`now a ${node.kind}`] });
    } else out.push(...nodeChanges(old, node));
  }
  for (const name of was.keys()) {
    if (!now.has(name)) out.push({ op: "remove", subject: "node", name, details: [] });
  }
  const links = new Map(running.links.map((l) => [linkKey(l), l]));
  const drawn = new Map(draft.links.map((l) => [linkKey(l), l]));
  for (const [key, link] of drawn) {
    const old = links.get(key);
    if (!old) out.push({ op: "create", subject: "link", name: key, details: fieldChanges({}, link, new Set(["kind", "a", "b", "endpoint", ...LINK_IGNORED])) });
    else {
      const d = fieldChanges(old, link, new Set(["kind", "a", "b", "endpoint", ...LINK_IGNORED]));
      if (d.length) out.push({ op: "change", subject: "link", name: key, details: d });
    }
  }
  for (const key of links.keys()) {
    if (!drawn.has(key)) out.push({ op: "remove", subject: "link", name: key, details: [] });
  }
  const addressing = fieldChanges(running.addressing ?? {}, draft.addressing ?? {}, new Set());
  if (addressing.length) out.push({ op: "change", subject: "addressing", name: "addressing", details: addressing });
  return out;
}

/** Counts for the dialog's summary line: "2 to create, 1 to remove, 3 to change". */
export function changeSummary(changes: Change[]): string {
  if (!changes.length) return "no changes";
  const n = (op: ChangeOp) => changes.filter((c) => c.op === op).length;
  const parts: string[] = [];
  if (n("create")) parts.push(`${n("create")} to create`);
  if (n("remove")) parts.push(`${n("remove")} to remove`);
  if (n("change")) parts.push(`${n("change")} to change`);
  return parts.join(", ");
}
