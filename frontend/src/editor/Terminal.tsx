// A node console: xterm.js over `/ws/labs/{id}/nodes/{node}/console`.
//
// Framing (the telemetry consumer matches it):
//   server -> browser: terminal output as TEXT frames (the pty's bytes decoded as UTF-8);
//                      BINARY frames are accepted too and written as raw bytes. A text
//                      frame that is the JSON object {"type":"error","code","message"} or
//                      {"type":"closed"} is a control message (shown in the status line),
//                      not output.
//   browser -> server: keystrokes/paste as TEXT frames holding the raw input (UTF-8);
//                      a window size change as a TEXT frame holding the JSON object
//                      {"type":"resize","cols":<int>,"rows":<int>}. The server treats a
//                      text frame as a resize only when it parses as a JSON object whose
//                      "type" is "resize"; every other text frame is input.
//   The browser sends one resize right after the socket opens.
import { useEffect, useRef, useState } from "react";
import { Terminal } from "@xterm/xterm";
import { FitAddon } from "@xterm/addon-fit";
import "@xterm/xterm/css/xterm.css";
import { wsUrl } from "../live/socket";
import { controlFrame, resizeFrame } from "../live/console";

export function ConsoleTerminal({ labId, node }: { labId: string; node: string }) {
  const host = useRef<HTMLDivElement>(null);
  const [status, setStatus] = useState("connecting");

  useEffect(() => {
    const term = new Terminal({
      fontFamily: "ui-monospace, SFMono-Regular, Menlo, Consolas, monospace",
      fontSize: 13,
      cursorBlink: true,
      theme: { background: "#0f172a", foreground: "#e2e8f0" },
    });
    const fit = new FitAddon();
    term.loadAddon(fit);
    term.open(host.current!);
    try {
      fit.fit();
    } catch {
      /* not laid out yet */
    }
    const ws = new WebSocket(wsUrl(`/ws/labs/${labId}/nodes/${encodeURIComponent(node)}/console`));
    ws.binaryType = "arraybuffer";
    const sendSize = () => {
      if (ws.readyState === WebSocket.OPEN) ws.send(resizeFrame(term.cols, term.rows));
    };
    ws.onopen = () => {
      setStatus("connected");
      sendSize();
      term.focus();
    };
    ws.onclose = (e) => {
      setStatus(`closed${e.reason ? `: ${e.reason}` : ""}`);
      term.write("\r\n\x1b[90m[console closed]\x1b[0m\r\n");
    };
    ws.onmessage = (ev) => {
      if (typeof ev.data !== "string") {
        term.write(new Uint8Array(ev.data as ArrayBuffer));
        return;
      }
      const control = controlFrame(ev.data);
      if (control?.type === "error") setStatus(`error: ${control.message ?? control.code ?? ""}`);
      else if (control?.type === "closed") setStatus("closed");
      else term.write(ev.data);
    };
    const input = term.onData((d) => {
      if (ws.readyState === WebSocket.OPEN) ws.send(d);
    });
    const resized = term.onResize(sendSize);
    const ro = new ResizeObserver(() => {
      try {
        fit.fit();
      } catch {
        /* hidden */
      }
    });
    ro.observe(host.current!);
    return () => {
      ro.disconnect();
      input.dispose();
      resized.dispose();
      ws.close();
      term.dispose();
    };
  }, [labId, node]);

  return (
    <div className="console">
      <div className="console-status">{node} · {status}</div>
      <div className="console-term" ref={host} data-console={node} />
    </div>
  );
}
