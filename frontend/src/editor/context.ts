import { createContext } from "react";
import type { Issue } from "../model/types";

export interface CounterSample {
  t: number;
  rx_bps: number;
  tx_bps: number;
  rx_pps: number;
  tx_pps: number;
  rx_errors: number;
  tx_errors: number;
  rx_dropped: number;
  tx_dropped: number;
  oper?: string;
}

/** What the custom node/edge components read besides their own data. */
export interface CanvasView {
  issues: Map<string, Issue[]>;
  state: string; // the lab's state (lab/models.py Lab.State)
  /** Node names of the revision the lab host runs; null when nothing runs (or not known yet). */
  applied: Set<string> | null;
  journeyNode: string | null;
  journeyIface: string | null;
  onInterfaceClick: (node: string, iface: string) => void;
}

export const ViewContext = createContext<CanvasView>({
  issues: new Map(),
  state: "",
  applied: null,
  journeyNode: null,
  journeyIface: null,
  onInterfaceClick: () => undefined,
});

/** The last counter sample per "node:iface": changes every second while a lab runs, so it
 * has its own context, read only by the links (nodes do not re-render at each sample). */
export const CountersContext = createContext<Map<string, CounterSample>>(new Map());
