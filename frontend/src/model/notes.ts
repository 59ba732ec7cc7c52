// Notes the editor adds beside the server's issues: things that are valid but that a
// person should know before Apply. Pure; paths as the server's (`nodes[i].interfaces[j]`)
// so the same mapping marks the element.
import { linkedInterfaces } from "./edit";
import type { Issue, Topology } from "./types";

function ipv4(text: string): number | null {
  const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text.trim());
  if (!m) return null;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return null;
  return ((parts[0] << 24) | (parts[1] << 16) | (parts[2] << 8) | parts[3]) >>> 0;
}

/** Whether IPv4 `address` is on the subnet of `cidr` ("10.0.2.2/24"). */
export function onSubnet(address: string, cidr: string): boolean {
  const [ip, len] = cidr.split("/");
  const a = ipv4(address);
  const b = ipv4(ip);
  const bits = Number(len);
  if (a === null || b === null || !(bits >= 0 && bits <= 32)) return false;
  const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
  return ((a & mask) >>> 0) === ((b & mask) >>> 0);
}

/**
 * Interfaces no link joins (left by a deleted link, or written by hand): the kernel gets
 * no such device, so their addresses wait in the document until a link joins them. A
 * gateway reachable only through one of them is named: Apply cannot add that route.
 */
export function editorNotes(doc: Topology): Issue[] {
  const notes: Issue[] = [];
  doc.nodes.forEach((node, i) => {
    if (node.kind === "switch") return; // a switch's spare ports are just spare ports
    const used = linkedInterfaces(doc, node.name);
    node.interfaces.forEach((iface, j) => {
      if (used.has(iface.name)) return;
      const addrs = iface.addresses ?? [];
      const gwOnlyHere =
        !!node.gateway &&
        addrs.some((a) => onSubnet(node.gateway!, a)) &&
        !node.interfaces.some((o) => o !== iface && used.has(o.name) && (o.addresses ?? []).some((a) => onSubnet(node.gateway!, a)));
      notes.push({
        path: `nodes[${i}].interfaces[${j}]`,
        code: "interface.unconnected",
        message:
          `${iface.name} of ${node.name} is connected to nothing` +
          (addrs.length ? `: its addresses (${addrs.join(", ")}) wait until a link joins it` : "") +
          (gwOnlyHere ? `; the gateway ${node.gateway} is only reachable through it, so Apply cannot add that route` : ""),
        hint: "draw a link from this node to give it back its place, or delete the interface",
      });
    });
  });
  return notes;
}
