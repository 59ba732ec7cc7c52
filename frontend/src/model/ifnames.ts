// Interface-name allocation: every node numbers its interfaces per prefix
// (eth0, eth1 ... for veth ends; vxlan0, tap0 ... for the other kinds).
import type { TopoNode } from "./types";

/** The prefix a new interface of a link kind gets. */
export function prefixFor(kind: string): string {
  switch (kind) {
    case "vxlan":
      return "vxlan";
    case "macvlan":
      return "mv";
    case "macvtap":
      return "mvtap";
    case "tap":
      return "tap";
    case "tun":
      return "tun";
    default:
      return "eth";
  }
}

/**
 * Return the lowest free `<prefix>N` among `taken` names. Gaps are reused so a
 * deleted eth1 comes back as eth1, which is what a person expects.
 */
export function nextFreeName(taken: Iterable<string>, prefix = "eth"): string {
  const used = new Set(taken);
  for (let i = 0; ; i++) {
    const name = `${prefix}${i}`;
    if (!used.has(name)) return name;
  }
}

/** The next free interface name on `node` for a link of `kind`. */
export function allocateInterface(node: TopoNode, kind = "veth"): string {
  return nextFreeName(
    node.interfaces.map((i) => i.name),
    prefixFor(kind),
  );
}

/** The next free node name `<prefix><N>` (h1, r1, s1 ...), counting from 1. */
export function allocateNodeName(taken: Iterable<string>, prefix: string): string {
  const used = new Set(taken);
  for (let i = 1; ; i++) {
    const name = `${prefix}${i}`;
    if (!used.has(name)) return name;
  }
}
