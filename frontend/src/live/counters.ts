// Normalise a `counters` event. The brief's contract keys interfaces by "node:iface"
// ({"h1:eth0": {rx_bps, ..., oper}}); the telemetry agent sends a list of rows
// ({node, interface, oper_state, rx_bps, ...}). Both are accepted.

export type CounterRow = Record<string, unknown>;

export function normaliseCounters(interfaces: unknown): Record<string, CounterRow> {
  const out: Record<string, CounterRow> = {};
  if (Array.isArray(interfaces)) {
    for (const row of interfaces as CounterRow[]) {
      if (!row || typeof row !== "object" || !row.node || !row.interface) continue;
      out[`${row.node}:${row.interface}`] = { ...row, oper: row.oper ?? row.oper_state };
    }
  } else if (interfaces && typeof interfaces === "object") {
    for (const [key, row] of Object.entries(interfaces as Record<string, CounterRow>)) {
      out[key] = { ...row, oper: row.oper ?? row.oper_state };
    }
  }
  return out;
}
