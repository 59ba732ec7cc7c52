// A link's MTU and rate as designed beside what the lab host's kernel has: pure, for the
// link menu. The kernel is read, not assumed: a running revision that asks for an MTU
// does not prove the device got it.
import type { Link } from "./types";

/** What one end of a link has in the kernel (null where it could not be read). */
export interface KernelEnd {
  mtu: number | null;
  /** The shaping rate in Mbit/s; null when the device is not shaped. */
  rateMbit: number | null;
}

export interface LinkSetting {
  name: "MTU" | "rate";
  /** As designed: null when the design leaves it to the kernel (MTU) or sets no limit. */
  value: number | null;
  /** "applied": every end has it; "differs": the lab host has `kernel`; "reading": asked,
   * no answer yet; "unknown": could not read; "not deployed": nothing runs. */
  status: "applied" | "differs" | "reading" | "unknown" | "not deployed";
  kernel: (number | null)[];
}

/** `/sys/class/net/IF/mtu` as a number. */
export function parseMtu(text: string): number | null {
  const n = Number(text.trim());
  return Number.isInteger(n) && n > 0 ? n : null;
}

const UNIT: Record<string, number> = { bit: 1e-6, kbit: 1e-3, mbit: 1, gbit: 1e3, tbit: 1e6 };

/** The root shaping rate in `tc qdisc show dev IF` output, in Mbit/s (null: not shaped). */
export function parseTcRate(text: string): number | null {
  const m = /\brate (\d+(?:\.\d+)?)([KMGT]?bit)\b/i.exec(text);
  if (!m) return null;
  return Math.round(Number(m[1]) * UNIT[m[2].toLowerCase()] * 1000) / 1000;
}

/**
 * The link's MTU and rate, each with what its ends have in the kernel: `ends` is null
 * when the lab is not running, "reading" while asked, else one entry per endpoint.
 */
export function linkSettings(link: Link, ends: KernelEnd[] | "reading" | null): LinkSetting[] {
  const mine = link as Link & { mtu?: number | null; rate_mbit?: number | null };
  const fields: [LinkSetting["name"], number | null, keyof KernelEnd][] = [
    ["MTU", mine.mtu ?? null, "mtu"],
    ["rate", mine.rate_mbit ?? null, "rateMbit"],
  ];
  return fields.map(([name, value, field]) => {
    if (ends === null) return { name, value, status: "not deployed", kernel: [] };
    if (ends === "reading") return { name, value, status: "reading", kernel: [] };
    const kernel = ends.map((e) => e[field]);
    if (name === "MTU" && kernel.some((k) => k === null)) return { name, value, status: "unknown", kernel };
    // No MTU in the design: the kernel's default is what was asked for.
    const same = name === "MTU" && value === null ? true : kernel.every((k) => k === value);
    return { name, value, status: same ? "applied" : "differs", kernel };
  });
}

function amount(name: LinkSetting["name"], v: number | null): string {
  if (v === null) return name === "MTU" ? "default" : "no limit";
  return name === "MTU" ? String(v) : `${v} Mbit/s`;
}

/** Words for a setting: "MTU 1400 · applied", "rate 10 Mbit/s · lab host: no limit (not applied)". */
export function settingText(s: LinkSetting): string {
  const head = `${s.name} ${amount(s.name, s.value)}`;
  const have = [...new Set(s.kernel.map((k) => amount(s.name, k)))].join(" / ");
  switch (s.status) {
    case "applied":
      return s.name === "MTU" && s.value === null ? `${head} · lab host: ${have}` : `${head} · applied`;
    case "differs":
      return `${head} · lab host: ${have} (not applied)`;
    case "reading":
      return `${head} · reading the lab host…`;
    case "unknown":
      return `${head} · the lab host did not say`;
    default:
      return `${head} · not deployed`;
  }
}
