// Map a server issue path (`nodes[2].interfaces[0].addresses[1]`, `links[3].b`)
// to the diagram element it concerns.
import type { Issue, Topology } from "./types";
import { attachId, edgeId, isPairLink, nodeIds } from "./convert";

export interface IssueTarget {
  kind: "node" | "edge";
  /** Graph id of the node or edge. */
  id: string;
  /** Extra graph ids to mark too (an attachment node and its edge). */
  also: string[];
  /** Interface name when the path goes into `nodes[i].interfaces[j]`. */
  interface?: string;
  /** The rest of the path below the element, e.g. `.interfaces[0].addresses[1]`. */
  field: string;
}

const PATH_RE = /^(nodes|links)\[(\d+)\](.*)$/;

/** Return the element `path` names in `doc`, or null for document-level paths. */
export function issueTarget(path: string, doc: Topology): IssueTarget | null {
  const m = PATH_RE.exec(path.trim());
  if (!m) return null;
  const index = Number(m[2]);
  const field = m[3];
  if (m[1] === "nodes") {
    if (index >= doc.nodes.length) return null;
    const target: IssueTarget = { kind: "node", id: nodeIds(doc)[index], also: [], field };
    const im = /^\.interfaces\[(\d+)\]/.exec(field);
    if (im) {
      const iface = doc.nodes[index].interfaces?.[Number(im[1])];
      if (iface) target.interface = iface.name;
    }
    return target;
  }
  if (index >= doc.links.length) return null;
  const link = doc.links[index];
  const also = isPairLink(link) ? [] : [attachId(index)];
  return { kind: "edge", id: edgeId(index), also, field };
}

/** Group issues by the graph ids they mark (each id -> its issues). */
export function issuesByElement(issues: Issue[], doc: Topology): Map<string, Issue[]> {
  const out = new Map<string, Issue[]>();
  for (const issue of issues) {
    const t = issueTarget(issue.path, doc);
    if (!t) continue;
    for (const id of [t.id, ...t.also]) out.set(id, [...(out.get(id) ?? []), issue]);
  }
  return out;
}

// Words for the fields an issue path names; a list's items are counted from 1 ("address 2").
const FIELD_WORDS: Record<string, string> = {
  addresses: "address",
  routes: "route",
  checks: "check",
  mtu: "MTU",
  mac: "MAC",
  vni: "VNI",
  dstport: "UDP port",
  rate_mbit: "rate",
  gateway6: "IPv6 gateway",
  a: "end A",
  b: "end B",
  endpoint: "end",
  source_macs: "source MAC",
  p2p_prefix: "point-to-point prefix",
  segment_prefix: "segment prefix",
};

function tokens(path: string): (string | number)[] {
  const out: (string | number)[] = [];
  for (const m of path.matchAll(/([^.[\]]+)|\[(\d+)\]/g)) out.push(m[2] !== undefined ? Number(m[2]) : m[1]);
  return out;
}

function endpointText(e: unknown): string {
  if (typeof e === "string") return e;
  const ep = e as { node?: string; interface?: string } | undefined;
  return ep?.node ? `${ep.node}:${ep.interface ?? "?"}` : "?";
}

function linkText(link: Topology["links"][number] | undefined, index: number): string {
  if (!link) return `link ${index + 1}`;
  const l = link as { kind: string; a?: unknown; b?: unknown; endpoint?: unknown };
  if (l.a && l.b) return `link ${endpointText(l.a)} – ${endpointText(l.b)}`;
  if (l.endpoint) return `${l.kind} on ${endpointText(l.endpoint)}`;
  return `link ${index + 1}`;
}

/**
 * The place an issue path names, as a person reads it: `nodes[0].interfaces[0].addresses[1]`
 * is "h1 › eth0 › address 2", `links[3].b` is "link h1:eth0 – h2:eth0 › end B". Without the
 * document (or past its end) names fall back to positions counted from 1. "" for the lab.
 */
export function humanPath(path: string, doc?: Pick<Topology, "nodes" | "links"> | null): string {
  const t = tokens(path.trim().replace(/^topology\.?/, "").replace(/^\$\.?/, ""));
  const parts: string[] = [];
  let i = 0;
  let node: Topology["nodes"][number] | undefined;
  while (i < t.length) {
    const key = t[i];
    const index = typeof t[i + 1] === "number" ? (t[i + 1] as number) : null;
    if (key === "nodes" && index !== null) {
      node = doc?.nodes[index];
      parts.push(node?.name ?? `node ${index + 1}`);
      i += 2;
    } else if (key === "links" && index !== null) {
      parts.push(linkText(doc?.links[index], index));
      i += 2;
    } else if ((key === "interfaces" || key === "bridges") && index !== null) {
      const list = (key === "interfaces" ? node?.interfaces : node?.bridges) as { name: string }[] | undefined;
      parts.push(list?.[index]?.name ?? `${key === "interfaces" ? "interface" : "bridge"} ${index + 1}`);
      i += 2;
    } else if (typeof key === "string") {
      const word = FIELD_WORDS[key] ?? key.replace(/_/g, " ");
      parts.push(index !== null ? `${word} ${index + 1}` : word);
      i += index !== null ? 2 : 1;
    } else {
      parts.push(`item ${key + 1}`);
      i += 1;
    }
  }
  return parts.join(" › ");
}

/**
 * An issue's message with its place in front, unless the message already starts by
 * naming it (the server writes "end must be after start" for the field `end`: no
 * "end  end must be after start").
 */
export function issueText(issue: Issue, doc?: Pick<Topology, "nodes" | "links"> | null): { where: string; message: string } {
  const where = humanPath(issue.path, doc);
  // Some messages start with their own path ("nodes[1].interfaces[0].addresses[1]: '10.0.0.300/24'
  // is not ..."): that place is shown beside it already; other paths in the text read as places too.
  let message = issue.message;
  if (issue.path && message.startsWith(`${issue.path}: `)) message = message.slice(issue.path.length + 2);
  message = message.replace(PATH_IN_TEXT, (m) => humanPath(m, doc));
  const last = where.split(" › ").pop() ?? "";
  const named = !!last && message.toLowerCase().startsWith(last.toLowerCase());
  return { where: named && !where.includes(" › ") ? "" : where, message };
}

const PATH_IN_TEXT = /\b(?:topology\.)?(?:nodes|links)\[\d+\](?:\.[A-Za-z_][A-Za-z0-9_]*|\[\d+\])*/g;
