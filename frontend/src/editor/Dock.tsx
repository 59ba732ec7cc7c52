// The bottom dock: the demo (for labs from the library), issues, capture, packet journey, consoles, interface statistics.
import { lazy, Suspense, useEffect, useMemo, useRef, useState } from "react";
import { Api, ApiError, type AutoAddressing, type DemoRun, type Hop, type LabDemo } from "../api";
import { DemoPanel } from "./DemoPanel";
import { issueTarget, issueText } from "../model/issues";
import type { Issue, Topology } from "../model/types";
import type { CounterSample } from "./context";
import type { Selection } from "./Properties";
import { clampFloat, clampHeight, consoleWindowPath, loadLayout, saveLayout, type DockLayout } from "./dockLayout";
// xterm.js and uPlot load on first use: the editor itself opens faster without them.
const ConsoleTerminal = lazy(() => import("./Terminal").then((m) => ({ default: m.ConsoleTerminal })));
const InterfaceStats = lazy(() => import("./Sparklines").then((m) => ({ default: m.InterfaceStats })));

export type DockTab = "demo" | "issues" | "capture" | "journey" | "stats" | `console:${string}`;

const MAX_LINES = 5000;

function IssuesPanel({ doc, issues, notes, onIssueClick }: { doc: Topology; issues: Issue[]; notes: Issue[]; onIssueClick: (s: Selection) => void }) {
  const row = (i: Issue, k: number, note: boolean) => {
    const t = issueTarget(i.path, doc);
    const { where, message } = issueText(i, doc);
    return (
      <li
        key={`${note ? "n" : "i"}${k}`}
        onClick={() => t && onIssueClick(t.kind === "node" ? { nodes: [t.id], edges: [] } : t.also.length ? { nodes: t.also, edges: [] } : { nodes: [], edges: [t.id] })}
        className={`${t ? "clickable" : ""} ${note ? "note" : ""}`}
      >
        {/* The place as a person reads it; the raw path stays in the tooltip. */}
        <span className="issue-path" title={i.path}>{where || "lab"}</span>
        <span className="issue-msg">{message}</span>
        {i.hint && <span className="hint">{i.hint}</span>}
        <span className="issue-code">{note ? "note" : i.code}</span>
      </li>
    );
  };
  return (
    <>
      {issues.length ? (
        <ul className="issue-list" data-testid="issue-list">{issues.map((i, k) => row(i, k, false))}</ul>
      ) : (
        <p className="muted ok">No issues: the server accepts this topology.</p>
      )}
      {notes.length > 0 && <ul className="issue-list notes" data-testid="note-list">{notes.map((i, k) => row(i, k, true))}</ul>}
    </>
  );
}

/** A node's IPv4 addresses: the document's, else what automatic addressing gives it. */
function ipv4Of(doc: Topology, auto: AutoAddressing | null, name: string): string | undefined {
  const node = doc.nodes.find((n) => n.name === name);
  const mine = node?.interfaces.flatMap((i) => i.addresses ?? []) ?? [];
  const given = Object.values(auto?.nodes[name]?.interfaces ?? {}).flat();
  return [...mine, ...given].find((a) => /^\d+\.\d+\.\d+\.\d+/.test(a))?.split("/")[0];
}

function CapturePanel(props: {
  labId: string;
  doc: Topology;
  feed: { capture: string; lines: string[]; dropped: number }[];
  preset: { node: string; iface: string; n: number } | null;
}) {
  const { doc } = props;
  const [node, setNode] = useState(doc.nodes[0]?.name ?? "");
  const ifaces = doc.nodes.find((n) => n.name === node)?.interfaces ?? [];
  const [iface, setIface] = useState("");
  useEffect(() => {
    if (!props.preset) return;
    setNode(props.preset.node);
    setIface(props.preset.iface);
  }, [props.preset]);
  const [filter, setFilter] = useState("");
  const [capture, setCapture] = useState<string | null>(null);
  const [running, setRunning] = useState(false);
  const [lines, setLines] = useState<string[]>([]);
  const [dropped, setDropped] = useState(0);
  const [paused, setPaused] = useState(false);
  const [search, setSearch] = useState("");
  const [error, setError] = useState("");
  const seen = useRef(0);
  const box = useRef<HTMLDivElement>(null);

  useEffect(() => {
    // Take the feed entries that arrived since last time and belong to our capture.
    const fresh = props.feed.slice(seen.current);
    seen.current = props.feed.length;
    if (!capture || paused) return;
    const mine = fresh.filter((f) => String(f.capture) === String(capture));
    if (!mine.length) return;
    setLines((l) => [...l, ...mine.flatMap((m) => m.lines)].slice(-MAX_LINES));
    setDropped((d) => d + mine.reduce((a, m) => a + m.dropped, 0));
  }, [props.feed, capture, paused]);
  useEffect(() => {
    if (!paused && box.current) box.current.scrollTop = box.current.scrollHeight;
  }, [lines, paused]);

  async function start() {
    setError("");
    try {
      const r = await Api.startCapture(props.labId, node, iface || ifaces[0]?.name || "", filter);
      setCapture(String(r.id));
      setRunning(true);
      setLines([]);
      setDropped(0);
    } catch (e) {
      setError(e instanceof ApiError ? e.message : String(e));
    }
  }
  async function stop() {
    if (!capture) return;
    try {
      await Api.stopCapture(capture);
    } catch (e) {
      setError(e instanceof ApiError ? e.message : String(e));
    }
    setRunning(false);
  }
  const shown = useMemo(() => (search ? lines.filter((l) => l.toLowerCase().includes(search.toLowerCase())) : lines), [lines, search]);

  return (
    <div className="capture">
      <div className="toolbar">
        <select aria-label="Capture node" value={node} onChange={(e) => { setNode(e.target.value); setIface(""); }}>
          {doc.nodes.map((n) => <option key={n.name}>{n.name}</option>)}
        </select>
        <select aria-label="Capture interface" value={iface || ifaces[0]?.name || ""} onChange={(e) => setIface(e.target.value)}>
          {ifaces.map((i) => <option key={i.name}>{i.name}</option>)}
        </select>
        <input aria-label="Capture filter" placeholder="filter, e.g. icmp or port 53" value={filter} onChange={(e) => setFilter(e.target.value)} className="grow" />
        {!running ? (
          <button className="btn primary" onClick={start} disabled={!node}>Start</button>
        ) : (
          <button className="btn danger" onClick={stop}>Stop</button>
        )}
        <button className="btn" onClick={() => setPaused((p) => !p)}>{paused ? "Resume" : "Pause"}</button>
        <button className="btn" onClick={() => setLines([])}>Clear</button>
        <input aria-label="Search capture" placeholder="search" value={search} onChange={(e) => setSearch(e.target.value)} />
        {capture && <a className="btn" href={`/api/captures/${capture}/pcap`} download>pcap</a>}
      </div>
      {error && <div className="error">{error}</div>}
      <div className="capture-lines" ref={box} data-testid="capture-lines">
        {shown.map((l, k) => <div key={k}>{l}</div>)}
        {!shown.length && <div className="muted">{capture ? "waiting for packets…" : "Pick an interface and start a capture."}</div>}
      </div>
      {dropped > 0 && <div className="muted small">{dropped} lines dropped by the server (too fast to show)</div>}
    </div>
  );
}

function JourneyPanel(props: {
  labId: string;
  doc: Topology;
  auto: AutoAddressing | null;
  hops: Record<string, unknown>[];
  step: number;
  onJourney: (hops: Record<string, unknown>[]) => void;
  onStep: (i: number) => void;
  preset: { src: string; n: number } | null;
}) {
  const names = props.doc.nodes.map((n) => n.name);
  const [src, setSrc] = useState(names[0] ?? "");
  useEffect(() => {
    if (props.preset) setSrc(props.preset.src);
  }, [props.preset]);
  // The list follows the hop the canvas shows.
  const list = useRef<HTMLOListElement>(null);
  useEffect(() => {
    list.current?.querySelector("li.active")?.scrollIntoView({ block: "nearest" });
  }, [props.step]);
  const [dst, setDst] = useState(names[1] ?? "");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState("");
  const [address, setAddress] = useState("");
  async function trace() {
    setBusy(true);
    setError("");
    try {
      // The server traces to an address: a node's first IPv4 address (written, or given
      // by automatic addressing) stands for the node.
      const target = address.trim() || ipv4Of(props.doc, props.auto, dst);
      if (!target) {
        setError(`node ${dst} has no IPv4 address to trace to; type an address`);
        return;
      }
      const r = await Api.journey(props.labId, src, target);
      props.onJourney((r.hops ?? []) as unknown as Record<string, unknown>[]);
    } catch (e) {
      setError(e instanceof ApiError ? e.message : String(e));
    } finally {
      setBusy(false);
    }
  }
  return (
    <div className="journey">
      <div className="toolbar">
        <label>From <select aria-label="Journey source" value={src} onChange={(e) => setSrc(e.target.value)}>{names.map((n) => <option key={n}>{n}</option>)}</select></label>
        <label>to <select aria-label="Journey destination" value={dst} onChange={(e) => setDst(e.target.value)}>{names.map((n) => <option key={n}>{n}</option>)}</select></label>
        <input aria-label="Journey address" placeholder="or an address" value={address} onChange={(e) => setAddress(e.target.value)} />
        <button className="btn primary" onClick={trace} disabled={busy || !src || !(dst || address)}>{busy ? "Tracing…" : "Trace"}</button>
        {props.hops.length > 0 && <button className="btn" onClick={() => props.onStep(0)}>Replay</button>}
      </div>
      {error && <div className="error">{error}</div>}
      <ol className="hops" ref={list}>
        {props.hops.map((raw, i) => {
          const h = raw as unknown as Hop & { t_us?: number; packet?: string; src?: string; dst?: string; ttl?: number; src_mac?: string; dst_mac?: string; seq?: number };
          // The agent sends the packet's fields; a ready-made summary wins when present.
          const summary =
            h.summary ??
            (raw.text as string | undefined) ??
            (h.packet ? `ICMP ${h.packet}${h.seq !== undefined ? ` #${h.seq}` : ""} ${h.src} → ${h.dst}, ttl ${h.ttl} · ${h.src_mac} → ${h.dst_mac}` : undefined);
          const time = h.time ?? (h.t_us !== undefined ? `+${(h.t_us / 1000).toFixed(3)} ms` : undefined);
          return (
            <li key={i} className={i === props.step ? "active" : i < props.step ? "done" : ""} onClick={() => props.onStep(i)}>
              <div className="hop-head">
                <b>{h.node}</b>:{h.interface} <span className="muted">{h.direction}</span>
                {time !== undefined && <span className="muted small"> {String(time)}</span>}
              </div>
              {summary && <div className="hop-summary">{summary}</div>}
              {h.changes?.length ? <ul className="changes">{h.changes.map((c, k) => <li key={k}>{c}</li>)}</ul> : null}
            </li>
          );
        })}
      </ol>
    </div>
  );
}

export function Dock(props: {
  open: boolean;
  onToggle: () => void;
  tab: DockTab;
  onTab: (t: DockTab) => void;
  labId: string;
  doc: Topology;
  issues: Issue[];
  notes: Issue[];
  auto: AutoAddressing | null;
  onIssueClick: (s: Selection) => void;
  captureLines: { capture: string; lines: string[]; dropped: number }[];
  journeyHops: Record<string, unknown>[];
  journeyStep: number;
  capturePreset: { node: string; iface: string; n: number } | null;
  journeyPreset: { src: string; n: number } | null;
  onJourney: (hops: Record<string, unknown>[]) => void;
  onJourneyStep: (i: number) => void;
  consoles: string[];
  onCloseConsole: (n: string) => void;
  onOpenConsole: (n: string) => void;
  focusIface: { node: string; iface: string } | null;
  samples: Map<string, CounterSample[]>;
  demo: LabDemo | null;
  running: boolean;
  demoRun: DemoRun | null;
  onDemoRun: (run: DemoRun) => void;
  demoAutoRun: boolean;
}) {
  const tabs: { id: DockTab; label: string }[] = [
    ...(props.demo ? [{ id: "demo" as DockTab, label: "Demo" }] : []),
    { id: "issues", label: `Issues${props.issues.length ? ` (${props.issues.length})` : ""}` },
    { id: "capture", label: "Capture" },
    { id: "journey", label: "Packet journey" },
    { id: "stats", label: "Interface" },
    ...props.consoles.map((n) => ({ id: `console:${n}` as DockTab, label: `⌨ ${n}` })),
  ];
  const statsId = props.focusIface ? `${props.focusIface.node}:${props.focusIface.iface}` : "";
  const [layout, setLayoutState] = useState<DockLayout>(loadLayout);
  const setLayout = (f: (l: DockLayout) => DockLayout) =>
    setLayoutState((l) => {
      const next = f(l);
      saveLayout(next);
      return next;
    });
  // Dragging the docked panel's top edge sets its height; dragging a floating panel's
  // tab bar moves it. Pointer capture keeps the drag when the pointer outruns the edge.
  const drag = useRef<{ y0: number; x0: number; start: DockLayout } | null>(null);
  const begin = (e: React.PointerEvent) => {
    if (e.button !== 0) return;
    (e.currentTarget as HTMLElement).setPointerCapture(e.pointerId);
    drag.current = { x0: e.clientX, y0: e.clientY, start: layout };
  };
  const resizeMove = (e: React.PointerEvent) => {
    const d = drag.current;
    if (d) setLayout((l) => ({ ...l, height: clampHeight(d.start.height + d.y0 - e.clientY, window.innerHeight) }));
  };
  const floatMove = (e: React.PointerEvent) => {
    const d = drag.current;
    if (d) setLayout((l) => clampFloat({ ...l, x: d.start.x + e.clientX - d.x0, y: d.start.y + e.clientY - d.y0 }, window.innerWidth, window.innerHeight));
  };
  const end = () => {
    drag.current = null;
  };
  // A floating panel resized with its corner (CSS resize) keeps that size.
  const floating = useRef<HTMLElement>(null);
  useEffect(() => {
    const el = floating.current;
    if (!layout.detached || !props.open || !el) return; // closed: keep the size it had
    const ro = new ResizeObserver(() => {
      const { width, height } = el.getBoundingClientRect();
      setLayout((l) => (Math.abs(l.width - width) < 2 && Math.abs(l.floatHeight - height) < 2 ? l : { ...l, width: Math.round(width), floatHeight: Math.round(height) }));
    });
    ro.observe(el);
    return () => ro.disconnect();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [layout.detached, props.open]);
  const style: React.CSSProperties | undefined = layout.detached
    ? { left: layout.x, top: layout.y, width: layout.width, height: props.open ? layout.floatHeight : undefined }
    : props.open
      ? { height: layout.height }
      : undefined;
  const popOut = (node: string) => {
    // Its own window: a console beside the canvas, or on a second screen. The dock's
    // console closes, so one node has one console session per page.
    window.open(consoleWindowPath(props.labId, node), `topolab-console-${props.labId}-${node}`, "popup,width=820,height=520");
    props.onCloseConsole(node);
  };
  return (
    <section
      ref={floating}
      className={`dock ${props.open ? "open" : "closed"} ${layout.detached ? "detached" : ""}`}
      style={style}
      data-testid="dock"
      aria-label="Bottom panel"
    >
      {!layout.detached && props.open && (
        <div
          className="dock-resize"
          role="separator"
          aria-orientation="horizontal"
          aria-label="Resize the bottom panel"
          aria-valuenow={layout.height}
          tabIndex={0}
          data-testid="dock-resize"
          onPointerDown={begin}
          onPointerMove={resizeMove}
          onPointerUp={end}
          onPointerCancel={end}
          onKeyDown={(e) => {
            const step = e.key === "ArrowUp" ? 20 : e.key === "ArrowDown" ? -20 : 0;
            if (!step) return;
            e.preventDefault();
            setLayout((l) => ({ ...l, height: clampHeight(l.height + step, window.innerHeight) }));
          }}
        />
      )}
      <div
        className="dock-tabs"
        role="tablist"
        onPointerDown={(e) => layout.detached && (e.target as HTMLElement).classList.contains("dock-grip") && begin(e)}
        onPointerMove={layout.detached ? floatMove : undefined}
        onPointerUp={end}
        onPointerCancel={end}
      >
        {tabs.map((t) => (
          <button key={t.id} role="tab" aria-selected={props.tab === t.id} className={`dock-tab ${props.tab === t.id ? "active" : ""} ${t.id === "issues" && props.issues.length ? "alert" : ""}`} onClick={() => props.onTab(t.id)}>
            {t.label}
            {t.id.startsWith("console:") && (
              <span className="pop-out" role="button" aria-label={`Open ${t.id.slice(8)}'s console in its own window`} title="Open in its own window" onClick={(e) => { e.stopPropagation(); popOut(t.id.slice(8)); }}>↗</span>
            )}
            {t.id.startsWith("console:") && (
              <span className="close" onClick={(e) => { e.stopPropagation(); props.onCloseConsole(t.id.slice(8)); }}>×</span>
            )}
          </button>
        ))}
        <select className="console-open" aria-label="Open a console" value="" onChange={(e) => e.target.value && props.onOpenConsole(e.target.value)}>
          <option value="">+ console…</option>
          {props.doc.nodes.map((n) => <option key={n.name} value={n.name}>{n.name}</option>)}
        </select>
        <div className={`spacer ${layout.detached ? "dock-grip" : ""}`} title={layout.detached ? "Drag to move the panel" : undefined} />
        <button
          className="btn icon"
          data-testid="dock-detach"
          onClick={() => setLayout((l) => clampFloat({ ...l, detached: !l.detached }, window.innerWidth, window.innerHeight))}
          title={layout.detached ? "Dock under the canvas" : "Detach: float over the canvas"}
        >
          {layout.detached ? "⊟" : "⧉"}
        </button>
        <button className="btn icon" onClick={props.onToggle} title={props.open ? "Hide" : "Show"}>{props.open ? "▾" : "▴"}</button>
      </div>
      <div className="dock-body" hidden={!props.open}>
        {props.demo && (
          <div hidden={props.tab !== "demo"}>
            <DemoPanel labId={props.labId} demo={props.demo} running={props.running} run={props.demoRun} onRun={props.onDemoRun} autoRun={props.demoAutoRun} />
          </div>
        )}
        <div hidden={props.tab !== "issues"}><IssuesPanel doc={props.doc} issues={props.issues} notes={props.notes} onIssueClick={props.onIssueClick} /></div>
        <div hidden={props.tab !== "capture"}><CapturePanel labId={props.labId} doc={props.doc} feed={props.captureLines} preset={props.capturePreset} /></div>
        <div hidden={props.tab !== "journey"}>
          <JourneyPanel labId={props.labId} doc={props.doc} auto={props.auto} hops={props.journeyHops} step={props.journeyStep} onJourney={props.onJourney} onStep={props.onJourneyStep} preset={props.journeyPreset} />
        </div>
        <div hidden={props.tab !== "stats"}>
          {statsId ? <Suspense fallback={null}><InterfaceStats id={statsId} samples={props.samples.get(statsId) ?? []} key={statsId} /></Suspense> : <p className="muted">Click an interface name on a link (or "stats" in the properties panel) to see its traffic.</p>}
        </div>
        {props.consoles.map((n) => (
          <div key={n} hidden={props.tab !== `console:${n}`} className="console-wrap">
            <Suspense fallback={<p className="muted">Loading terminal…</p>}>
              <ConsoleTerminal labId={props.labId} node={n} />
            </Suspense>
          </div>
        ))}
      </div>
    </section>
  );
}
