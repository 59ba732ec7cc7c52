// Sequence tracking of the lab websocket: a snapshot sets the number, every event
// must be the next one; a gap means we missed something and ask for a resync.

export type SeqVerdict = "apply" | "stale" | "gap";

export interface SeqState {
  seq: number | null;
}

/** Decide what to do with a message carrying `seq` (snapshots always apply). */
export function checkSeq(state: SeqState, type: string, seq: number | undefined): SeqVerdict {
  if (type === "snapshot") return "apply";
  if (seq === undefined || state.seq === null) return state.seq === null ? "gap" : "apply";
  if (seq <= state.seq) return "stale";
  if (seq === state.seq + 1) return "apply";
  return "gap";
}
