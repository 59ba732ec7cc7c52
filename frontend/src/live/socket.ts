// The lab's live channel: `/ws/labs/{id}/`. Snapshot first, then numbered events;
// on a gap we send {"type":"resync"} and ignore events until the next snapshot.
import { checkSeq, type SeqState } from "./seq";

export interface LiveMessage {
  type: string;
  seq?: number;
  [k: string]: unknown;
}

export function wsUrl(path: string): string {
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  return `${proto}//${location.host}${path}`;
}

export class LabSocket {
  private ws: WebSocket | null = null;
  private state: SeqState = { seq: null };
  private waitingSnapshot = true;
  private closed = false;
  private retry = 500;

  constructor(
    private labId: number | string,
    private onMessage: (m: LiveMessage) => void,
    private onStatus: (connected: boolean) => void,
  ) {
    this.open();
  }

  private open(): void {
    if (this.closed) return;
    const ws = new WebSocket(wsUrl(`/ws/labs/${this.labId}/`));
    this.ws = ws;
    this.waitingSnapshot = true;
    ws.onopen = () => {
      this.retry = 500;
      this.onStatus(true);
    };
    ws.onclose = () => {
      this.onStatus(false);
      if (!this.closed) {
        setTimeout(() => this.open(), this.retry);
        this.retry = Math.min(this.retry * 2, 10000);
      }
    };
    ws.onmessage = (ev) => {
      let m: LiveMessage;
      try {
        m = JSON.parse(String(ev.data));
      } catch {
        return;
      }
      if (this.waitingSnapshot && m.type !== "snapshot") return;
      const verdict = checkSeq(this.state, m.type, m.seq);
      if (verdict === "stale") return;
      if (verdict === "gap") {
        this.waitingSnapshot = true;
        this.send({ type: "resync" });
        return;
      }
      this.waitingSnapshot = false;
      if (typeof m.seq === "number") this.state.seq = m.seq;
      this.onMessage(m);
    };
  }

  send(m: unknown): boolean {
    if (this.ws?.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(m));
    return true;
  }

  /** Ask for a fresh snapshot; events keep applying meanwhile (nothing was missed). */
  resync(): void {
    this.send({ type: "resync" });
  }

  close(): void {
    this.closed = true;
    this.ws?.close();
  }
}
