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
  state: string; // deployment state of the lab
  latest: Map<string, CounterSample>; // "node:iface" -> last sample
  journeyNode: string | null;
  journeyIface: string | null;
  onInterfaceClick: (node: string, iface: string) => void;
}

export const ViewContext = createContext<CanvasView>({
  issues: new Map(),
  state: "",
  latest: new Map(),
  journeyNode: null,
  journeyIface: null,
  onInterfaceClick: () => undefined,
});
