// What the canvas shows when addresses are on: each interface's addresses (typed or
// given by automatic addressing) and each link's subnets. Pure: document in, text out.
import type { Topology, TopoNode } from "./types";
import { linkEndpoints } from "./types";

/** Automatic addressing's answer (api.ts AutoAddressing), the part read here. */
export type AutoAddresses = { nodes: Record<string, { interfaces?: Record<string, string[]> }> } | null;

function v4Network(addr: string, len: number): string | null {
  const parts = addr.split(".").map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255) || len < 0 || len > 32) return null;
  const n = ((parts[0] << 24) | (parts[1] << 16) | (parts[2] << 8) | parts[3]) >>> 0;
  const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
  const net = (n & mask) >>> 0;
  return `${[net >>> 24, (net >>> 16) & 255, (net >>> 8) & 255, net & 255].join(".")}/${len}`;
}

function v6Groups(addr: string): number[] | null {
  const halves = addr.toLowerCase().split("::");
  if (halves.length > 2) return null;
  const side = (s: string) => (s ? s.split(":") : []);
  const head = side(halves[0]);
  const tail = halves.length === 2 ? side(halves[1]) : [];
  const fill = halves.length === 2 ? 8 - head.length - tail.length : 0;
  if (fill < 0 || (halves.length === 1 && head.length !== 8)) return null;
  const groups = [...head, ...Array(fill).fill("0"), ...tail].map((g) => (/^[0-9a-f]{1,4}$/.test(g) ? parseInt(g, 16) : NaN));
  return groups.some(isNaN) ? null : groups;
}

function v6Network(addr: string, len: number): string | null {
  const g = v6Groups(addr);
  if (!g || len < 0 || len > 128) return null;
  const net = g.map((v, i) => {
    const bits = Math.min(16, Math.max(0, len - 16 * i));
    return bits === 0 ? 0 : v & ((0xffff << (16 - bits)) & 0xffff);
  });
  // The shortest form: the longest run of zero groups (two or more) becomes "::".
  let best = [-1, 0];
  for (let i = 0; i < 8; ) {
    if (net[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && net[j] === 0) j++;
    if (j - i > best[1] && j - i > 1) best = [i, j - i];
    i = j;
  }
  const hex = net.map((v) => v.toString(16));
  const text = best[0] < 0 ? hex.join(":") : `${hex.slice(0, best[0]).join(":")}::${hex.slice(best[0] + best[1]).join(":")}`;
  return `${text}/${len}`;
}

/** The network of an interface address ("10.0.1.7/24" -> "10.0.1.0/24"); null if unreadable. */
export function subnetOf(cidr: string): string | null {
  const [addr, lenText, extra] = cidr.trim().split("/");
  if (extra !== undefined || !lenText || !/^\d+$/.test(lenText)) return null;
  const len = Number(lenText);
  return addr.includes(":") ? v6Network(addr, len) : v4Network(addr, len);
}

export interface ShownAddress {
  address: string;
  auto: boolean; // given by automatic addressing, not typed in the document
}

/** Addresses of one interface: the document's, then automatic addressing's. */
export function interfaceAddresses(node: TopoNode, iface: string, auto: AutoAddresses): ShownAddress[] {
  const typed = node.interfaces.find((i) => i.name === iface)?.addresses ?? [];
  const given = auto?.nodes[node.name]?.interfaces?.[iface] ?? [];
  return [...typed.map((address) => ({ address, auto: false })), ...given.filter((a) => !typed.includes(a)).map((address) => ({ address, auto: true }))];
}

/** "eth0 10.0.1.2/24" lines for every interface of a node that has an address. */
export function nodeAddressLines(node: TopoNode, auto: AutoAddresses): { iface: string; addresses: ShownAddress[] }[] {
  return node.interfaces
    .map((i) => ({ iface: i.name, addresses: interfaceAddresses(node, i.name, auto) }))
    .filter((l) => l.addresses.length > 0);
}

/** The subnets the ends of link `index` sit on, in order, each once. */
export function linkSubnets(doc: Topology, index: number, auto: AutoAddresses): string[] {
  const link = doc.links[index];
  if (!link) return [];
  const out: string[] = [];
  for (const ep of linkEndpoints(link)) {
    const node = doc.nodes.find((n) => n.name === ep.node);
    if (!node) continue;
    for (const a of interfaceAddresses(node, ep.interface, auto)) {
      const net = subnetOf(a.address);
      if (net && !out.includes(net)) out.push(net);
    }
  }
  return out;
}
