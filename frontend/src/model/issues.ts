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
