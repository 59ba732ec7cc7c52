// What the canvas's "Addresses" toggle shows, read by the node and link components.
// Off, the value is one constant: nodes and links do not re-render on every edit.
import { createContext } from "react";
import type { AutoAddresses } from "../model/addresses";
import type { Topology } from "../model/types";

export interface AddressView {
  show: boolean;
  doc: Topology | null;
  auto: AutoAddresses;
}
export const ADDRESSES_OFF: AddressView = { show: false, doc: null, auto: null };
export const AddressContext = createContext<AddressView>(ADDRESSES_OFF);
