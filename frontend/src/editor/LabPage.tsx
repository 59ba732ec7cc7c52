// The lab page: palette | canvas | properties, a top bar with the deploy controls
// and a bottom dock (demo, issues, capture, journey, consoles, interface statistics).
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import {
  ReactFlow,
  ReactFlowProvider,
  Background,
  Controls,
  MiniMap,
  ConnectionMode,
  applyNodeChanges,
  useReactFlow,
  type Node as RFNode,
  type Edge as RFEdge,
  type NodeChange,
  type OnConnectEnd,
  type Connection,
} from "@xyflow/react";
import { Api, ApiError, type AutoAddressing, type DemoRun, type LabDemo, type LabDetail } from "../api";
import { Link as RouteLink, navigate } from "../router";
import { topologyToGraph, type DeviceData, type AttachData } from "../model/convert";
import { humanPath, issueText, issuesByElement } from "../model/issues";
import { createHistory, push, undo, redo, canUndo, canRedo, type History } from "../model/history";
import * as edit from "../model/edit";
import { autoLayout } from "../model/layout";
import { emptyTopology, type Issue, type NodeKind, type Topology } from "../model/types";
import { deployControls, isBusy, stateLabel } from "../model/labState";
import { editorNotes } from "../model/notes";
import { LabSocket, type LiveMessage } from "../live/socket";
import { normaliseCounters } from "../live/counters";
import { nodeTypes, edgeTypes } from "./nodes";
import { CountersContext, ViewContext, type CanvasView, type CounterSample } from "./context";
import { Palette, type LinkTool } from "./Palette";
import { Properties, type Selection } from "./Properties";
import { Dock, type DockTab } from "./Dock";
import { importFile, exportImage } from "./files";
import { ImportDialog, type PendingImport } from "./ImportDialog";
import { PendingChanges } from "./PendingChanges";
import { ContextMenu, type MenuState } from "./ContextMenu";
import { linkSettings, parseMtu, parseTcRate, settingText, type KernelEnd } from "../model/applied";
import { linkEndpoints } from "../model/types";
import { AnnotationContext, AnnotationNode, annotationNodes, type AnnotationActions, type AnnotationData } from "./Annotations";
import { AnnotationProperties, MultiNodeProperties } from "./SelectionPanel";
import { ADDRESSES_OFF, AddressContext, type AddressView } from "./addressView";
import * as notes_ from "../model/annotations";
import type { AnnotationKind } from "../model/types";

// The network's node types plus the editor's notes and shapes (a constant: React Flow
// warns, and redraws everything, when nodeTypes changes identity).
const canvasNodeTypes = { ...nodeTypes, note: AnnotationNode };
// Shift-click adds to the selection (as in GNS3 and CML); Ctrl/Cmd-click too.
const MULTI_SELECT_KEYS = ["Shift", "Meta", "Control"];

const SAVE_DELAY_MS = 700;
const HISTORY_SAMPLES = 300; // 5 minutes at 1 Hz
// While a deployment runs, ask the websocket for a fresh snapshot this often: a page
// that missed the final event (or read an older state) catches up by itself.
const BUSY_RESYNC_MS = 3_000;

type Progress = { done: number; total: number; step: string };

type SaveStatus = "saved" | "saving" | "dirty" | "invalid" | "error" | "loading";

export function LabPage({ labId }: { labId: string }) {
  return (
    <ReactFlowProvider>
      <LabEditor labId={labId} />
    </ReactFlowProvider>
  );
}

function LabEditor({ labId }: { labId: string }) {
  const flow = useReactFlow();
  const [lab, setLab] = useState<LabDetail | null>(null);
  const [loadError, setLoadError] = useState("");
  const [hist, setHist] = useState<History<Topology>>(() => createHistory(emptyTopology()));
  const doc = hist.present;
  const [issues, setIssues] = useState<Issue[]>([]);
  const [save, setSave] = useState<SaveStatus>("loading");
  const [saveError, setSaveError] = useState("");
  const [toast, setToast] = useState("");
  const [linkTool, setLinkTool] = useState<LinkTool>("veth");
  const [selection, setSelection] = useState<Selection>({ nodes: [], edges: [] });
  const [focusIface, setFocusIface] = useState<{ node: string; iface: string } | null>(null);
  const [dockTab, setDockTab] = useState<DockTab>("issues");
  const [dockOpen, setDockOpen] = useState(true);
  const [far, setFar] = useState(false); // zoomed out: hide interface labels
  // The "Addresses" toggle: every interface's addresses and every link's subnets.
  const [showAddresses, setShowAddresses] = useState(() => localStorage.getItem("topolab.addresses") === "1");
  // Live state: the lab's own state (never a deployment's), the running deployment's
  // action and progress, and the revision the lab host runs with its node names.
  const [state, setState] = useState("");
  const [deployAction, setDeployAction] = useState<string | null>(null);
  const [progress, setProgress] = useState<Progress | null>(null);
  const [appliedRev, setAppliedRev] = useState<number | null>(null);
  const [appliedDoc, setAppliedDoc] = useState<Topology | null>(null);
  const applied = useMemo(() => (appliedDoc ? new Set(appliedDoc.nodes.map((n) => n.name)) : null), [appliedDoc]);
  const [menu, setMenu] = useState<MenuState | null>(null);
  // Set by a context menu: the capture or the journey to prepare (n changes each time).
  const [capturePreset, setCapturePreset] = useState<{ node: string; iface: string; n: number } | null>(null);
  const [journeyPreset, setJourneyPreset] = useState<{ src: string; n: number } | null>(null);
  const [auto, setAuto] = useState<AutoAddressing | null>(null);
  const [pendingImport, setPendingImport] = useState<PendingImport | null>(null);
  const [confirmApply, setConfirmApply] = useState(false); // the pending-changes dialog
  // Once the websocket has spoken, it alone says the lab's state: the page's first GET
  // may answer after it with an older reading (and the page then stayed on "deploying").
  const liveSeen = useRef(false);
  const appliedLive = useRef(false); // the same for the applied revision

  const sock = useRef<LabSocket | null>(null);
  const exportMenu = useRef<HTMLDetailsElement>(null);
  const [connected, setConnected] = useState(false);
  const [deployError, setDeployError] = useState("");
  const samples = useRef(new Map<string, CounterSample[]>());
  const [latest, setLatest] = useState<Map<string, CounterSample>>(new Map());
  const [captureLines, setCaptureLines] = useState<{ capture: string; lines: string[]; dropped: number }[]>([]);
  const [journeyHops, setJourneyHops] = useState<Record<string, unknown>[]>([]);
  const [journeyStep, setJourneyStep] = useState<number>(-1);
  const [consoles, setConsoles] = useState<string[]>([]);
  // A lab opened from the demo library: its demo and last run; `?run=1` runs it once deployed.
  const [demo, setDemo] = useState<LabDemo | null>(null);
  const [demoRun, setDemoRun] = useState<DemoRun | null>(null);
  const [demoAutoRun] = useState(() => new URLSearchParams(location.search).get("run") === "1");
  const clip = useRef<edit.Clip | null>(null);
  const loaded = useRef(false);
  const wrapper = useRef<HTMLDivElement>(null);

  const commit = useCallback((f: (d: Topology) => Topology) => {
    setHist((h) => push(h, f(h.present)));
  }, []);

  // ---- load -----------------------------------------------------------
  useEffect(() => {
    Api.lab(labId)
      .then((l) => {
        setLab(l);
        const start = l.draft ?? l.topology ?? emptyTopology(l.name.replace(/[^A-Za-z0-9_.-]+/g, "-").slice(0, 64) || "lab");
        let first: Topology = { ...start, nodes: start.nodes ?? [], links: start.links ?? [] };
        if (first.nodes.some((n) => !n.position)) {
          // A document written by hand or by a script: lay it out instead of a plain grid.
          const pos = autoLayout(first);
          first = { ...first, nodes: first.nodes.map((n) => (n.position ? n : { ...n, position: pos.get(n.name) ?? { x: 0, y: 0 } })) };
        }
        setHist(createHistory(first));
        setIssues(l.draft ? (l.draft_issues ?? []) : []);
        setSave(l.draft && l.draft_issues?.length ? "invalid" : "saved");
        setAuto(l.auto ?? null);
        if (!liveSeen.current) {
          setState(l.state);
          setDeployAction(l.deployment?.action ?? null);
          if (l.deployment?.progress && isBusy(l.state)) setProgress(l.deployment.progress);
        }
        if (!appliedLive.current) setAppliedRev(l.applied_revision ?? null);
        // Only a lab opened from the demo library has a demo to ask for.
        if (l.demo) {
          Api.labDemo(labId)
            .then((d) => {
              setDemo(d);
              setDemoRun(d.last_run);
              setDockTab("demo");
            })
            .catch(() => setDemo(null));
        }
      })
      .catch((e) => {
        if (e instanceof ApiError && e.status === 401) navigate(`/login?next=/labs/${labId}`);
        else setLoadError(e instanceof ApiError ? e.message : String(e));
      });
  }, [labId]);

  const onDemoRun = useCallback((run: DemoRun) => {
    setDemoRun(run);
    if (run.journey?.hops.length) {
      setJourneyHops(run.journey.hops as unknown as Record<string, unknown>[]);
      setJourneyStep(0);
    }
  }, []);

  // ---- autosave (debounced PUT) -------------------------------------------
  useEffect(() => {
    if (!lab) return;
    if (!loaded.current) {
      loaded.current = true;
      return;
    }
    setSave("dirty");
    const timer = setTimeout(async () => {
      setSave("saving");
      try {
        const r = await Api.saveTopology(labId, doc);
        setIssues([]);
        setSave("saved");
        setAuto(r.auto ?? null);
        setLab((l) => (l ? { ...l, revision: r.revision } : l));
      } catch (e) {
        if (e instanceof ApiError && e.status === 400) {
          setIssues(e.issues.length ? e.issues : [{ path: "", code: e.code, message: e.message }]);
          setSave("invalid");
        } else {
          setSave("error");
          setSaveError(e instanceof ApiError ? e.message : String(e));
        }
      }
    }, SAVE_DELAY_MS);
    return () => clearTimeout(timer);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [doc]);

  // ---- websocket ------------------------------------------------------------
  const onLive = useCallback((m: LiveMessage) => {
    const applyCounters = (raw: unknown) => {
      if (!raw) return;
      const ifaces = normaliseCounters(raw) as Record<string, Partial<CounterSample>>;
      const now = Date.now() / 1000;
      const next = new Map<string, CounterSample>();
      for (const [key, c] of Object.entries(ifaces)) {
        const s: CounterSample = {
          t: now,
          rx_bps: Number(c.rx_bps ?? 0),
          tx_bps: Number(c.tx_bps ?? 0),
          rx_pps: Number(c.rx_pps ?? 0),
          tx_pps: Number(c.tx_pps ?? 0),
          rx_errors: Number(c.rx_errors ?? 0),
          tx_errors: Number(c.tx_errors ?? 0),
          rx_dropped: Number(c.rx_dropped ?? 0),
          tx_dropped: Number(c.tx_dropped ?? 0),
          oper: c.oper as string | undefined,
        };
        const list = samples.current.get(key) ?? [];
        list.push(s);
        if (list.length > HISTORY_SAMPLES) list.splice(0, list.length - HISTORY_SAMPLES);
        samples.current.set(key, list);
        next.set(key, s);
      }
      setLatest(next);
    };
    type Dep = { action?: string; state?: string; revision?: number | null; progress?: Progress; error_message?: string };
    // What a deployment's news says about the revision the lab host runs.
    const noteApplied = (dep: Dep) => {
      if (dep.action === "destroy" && dep.state === "destroyed") setAppliedRev(null);
      else if (dep.state === "running" && dep.revision != null) setAppliedRev(dep.revision);
      else return;
      appliedLive.current = true;
    };
    switch (m.type) {
      case "snapshot": {
        liveSeen.current = true;
        const dep = (m.deployment ?? {}) as Dep;
        if (typeof m.state === "string") setState(m.state);
        if (dep.action) setDeployAction(dep.action);
        if (dep.progress) setProgress(dep.progress);
        noteApplied(dep);
        const counters = m.counters as { interfaces?: Record<string, Partial<CounterSample>> } | undefined;
        applyCounters(counters?.interfaces ?? m.interfaces);
        break;
      }
      case "deploy.progress":
        setProgress({ done: Number(m.done ?? 0), total: Number(m.total ?? 0), step: String(m.step ?? "") });
        break;
      case "deploy.state": {
        // {deployment: {action, state, revision, progress, error_message ...}}: the
        // deployment's own state (pending, applying, destroyed ...) is not the lab's.
        const dep = (m.deployment ?? {}) as Dep;
        if (dep.action) setDeployAction(dep.action);
        if (dep.progress) setProgress(dep.progress);
        if (dep.state === "failed" && dep.error_message) setDeployError(dep.error_message);
        noteApplied(dep);
        break;
      }
      case "lab.state":
        liveSeen.current = true;
        if (m.state) setState(String(m.state));
        break;
      case "counters":
        applyCounters(m.interfaces);
        break;
      case "capture.lines":
        setCaptureLines((prev) => [
          ...prev.slice(-200),
          { capture: String(m.capture), lines: (m.lines as string[]) ?? [], dropped: Number(m.dropped ?? 0) },
        ]);
        break;
      case "journey.hop":
        setJourneyHops((prev) => [...prev, (m.hop as Record<string, unknown>) ?? m]);
        break;
      case "journey.done": {
        // A trace anyone ran on this lab (this page, another tab, a teacher's screen).
        const hops = (m.hops as Record<string, unknown>[]) ?? [];
        setJourneyHops(hops);
        setJourneyStep(hops.length ? 0 : -1);
        break;
      }
    }
  }, []);

  useEffect(() => {
    const s = new LabSocket(labId, onLive, setConnected);
    sock.current = s;
    return () => s.close();
  }, [labId, onLive]);
  useEffect(() => {
    if (!isBusy(state)) return;
    const t = setInterval(() => sock.current?.resync(), BUSY_RESYNC_MS);
    return () => clearInterval(t);
  }, [state]);

  // The node names of the revision the lab host runs: a node drawn since is not built yet.
  useEffect(() => {
    if (appliedRev === null) {
      setAppliedDoc(null);
      return;
    }
    let gone = false;
    Api.revision(labId, appliedRev)
      .then((r) => !gone && setAppliedDoc(r.topology))
      .catch(() => !gone && setAppliedDoc(null));
    return () => {
      gone = true;
    };
  }, [labId, appliedRev]);

  // A console of a node that is gone (deleted, imported away) has nothing to talk to.
  useEffect(() => {
    const names = new Set(doc.nodes.map((n) => n.name));
    setConsoles((c) => (c.every((n) => names.has(n)) ? c : c.filter((n) => names.has(n))));
    setDockTab((t) => (t.startsWith("console:") && !names.has(t.slice(8)) ? "issues" : t));
  }, [doc.nodes]);

  // ---- graph ---------------------------------------------------------------
  const graph = useMemo(() => topologyToGraph(doc), [doc]);
  const [rfNodes, setRfNodes] = useState<RFNode[]>([]);
  const selectNext = useRef<string | null>(null);
  useEffect(() => {
    setRfNodes((prev) => {
      // A note or shape just added is selected alone (its properties show at once).
      const selected = selectNext.current ? new Set([selectNext.current]) : new Set(prev.filter((n) => n.selected).map((n) => n.id));
      selectNext.current = null;
      // Notes and shapes first: drawn under the network.
      return [
        ...annotationNodes(doc, selected),
        ...(graph.nodes.map((n) => ({
          ...n,
          selected: selected.has(n.id),
          draggable: n.type === "device",
        })) as RFNode[]),
      ];
    });
    // doc.annotations is part of graph.meta: graph changes whenever they do.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [graph]);
  const rfEdges = useMemo(
    () =>
      graph.edges.map((e) => ({
        ...e,
        selected: selection.edges.includes(e.id),
        selectable: !e.data.derived,
      })) as RFEdge[],
    [graph, selection.edges],
  );
  // The server's messages with the paths they quote read as places ("h1 › eth0 › address 1").
  const readable = useMemo(() => issues.map((i) => ({ ...i, message: issueText(i, doc).message })), [issues, doc]);
  const issueMap = useMemo(() => issuesByElement(readable, doc), [readable, doc]);
  const nameOf = useCallback(
    (id: string) => {
      const n = graph.nodes.find((g) => g.id === id);
      return n && n.type === "device" ? (n.data as DeviceData).node.name : null;
    },
    [graph],
  );

  const onNodesChange = useCallback((changes: NodeChange[]) => {
    setRfNodes((ns) => applyNodeChanges(changes, ns));
  }, []);

  const onNodeDragStop = useCallback(
    (_: unknown, __: RFNode, dragged: RFNode[]) => {
      const moves = new Map<string, { x: number; y: number }>();
      const noteMoves = new Map<number, { x: number; y: number }>();
      for (const n of dragged) {
        if (n.type === "note") noteMoves.set((n.data as AnnotationData).index, n.position);
        if (n.type !== "device") continue;
        moves.set((n.data as DeviceData).node.name, n.position);
      }
      // One drag, one undo step, whatever mix of nodes and notes it moved.
      if (moves.size || noteMoves.size) commit((d) => notes_.moveAnnotations(moves.size ? edit.moveNodes(d, moves) : d, noteMoves));
    },
    [commit],
  );

  const connectNames = useCallback(
    (a: string | null, b: string | null) => {
      if (!a || !b) return;
      commit((d) => edit.connect(d, a, b, linkTool));
    },
    [commit, linkTool],
  );
  const onConnect = useCallback(
    (c: Connection) => connectNames(nameOf(c.source), nameOf(c.target)),
    [connectNames, nameOf],
  );
  // A drag released over a node's body (not exactly on its handle) still links.
  const onConnectEnd: OnConnectEnd = useCallback(
    (event, state) => {
      if (state.isValid || !state.fromNode) return;
      const pt = "changedTouches" in event ? event.changedTouches[0] : (event as MouseEvent);
      const el = document.elementFromPoint(pt.clientX, pt.clientY)?.closest(".react-flow__node");
      const target = el?.getAttribute("data-id");
      if (target && target !== state.fromNode.id) connectNames(nameOf(state.fromNode.id), nameOf(target));
    },
    [connectNames, nameOf],
  );

  // Where a palette click puts a node: the free grid spot nearest the view's centre.
  const freeSpot = useCallback(() => {
    const r = wrapper.current?.getBoundingClientRect();
    if (!r) return { x: 0, y: 0 };
    const c = flow.screenToFlowPosition({ x: r.left + r.width / 2, y: r.top + r.height / 2 });
    const taken = (x: number, y: number) =>
      doc.nodes.some((n) => n.position && Math.abs(n.position.x - x) < 130 && Math.abs(n.position.y - y) < 80);
    for (let ring = 0; ring < 12; ring++) {
      for (let dy = -ring; dy <= ring; dy++) {
        for (let dx = -ring; dx <= ring; dx++) {
          if (Math.max(Math.abs(dx), Math.abs(dy)) !== ring) continue;
          const x = c.x - 56 + dx * 170;
          const y = c.y - 26 + dy * 110;
          if (!taken(x, y)) return { x, y };
        }
      }
    }
    return { x: c.x, y: c.y };
  }, [flow, doc.nodes]);

  const addNode = useCallback(
    (kind: NodeKind, at?: { x: number; y: number }) => {
      const pos = at ?? freeSpot();
      commit((d) => edit.addNode(d, kind, pos).doc);
    },
    [commit, freeSpot],
  );
  const attachTo = useCallback(
    (nodeName: string, kind: string) => {
      if (kind === "veth") return;
      commit((d) => edit.attach(d, nodeName, kind));
    },
    [commit],
  );

  const onDrop = useCallback(
    (e: React.DragEvent) => {
      e.preventDefault();
      const item = e.dataTransfer.getData("application/topolab");
      if (!item) return;
      const [what, kind] = item.split(":");
      const pos = flow.screenToFlowPosition({ x: e.clientX, y: e.clientY });
      if (what === "node") addNode(kind as NodeKind, { x: pos.x - 50, y: pos.y - 28 });
      else {
        const el = (e.target as HTMLElement).closest(".react-flow__node");
        const name = el ? nameOf(el.getAttribute("data-id") ?? "") : null;
        if (name) attachTo(name, kind);
        else setToast(`drop a ${kind} link onto a node`);
      }
    },
    [flow, addNode, attachTo, nameOf],
  );

  // ---- selection and commands -------------------------------------------------
  const selectedNames = useCallback(
    () => selection.nodes.map(nameOf).filter((n): n is string => !!n),
    [selection.nodes, nameOf],
  );
  const deleteSelection = useCallback(() => {
    const names = selectedNames();
    const linkIdx = new Set<number>();
    for (const id of selection.edges) {
      const e = graph.edges.find((g) => g.id === id);
      if (e?.data.index !== undefined && !e.data.derived) linkIdx.add(e.data.index);
    }
    for (const id of selection.nodes) {
      const n = graph.nodes.find((g) => g.id === id);
      if (n?.type === "attach") linkIdx.add((n.data as AttachData).index);
    }
    const noteIdx = selection.nodes.map(notes_.annotationIndex).filter((i): i is number => i !== null);
    if (!names.length && !linkIdx.size && !noteIdx.length) return;
    commit((d) => notes_.removeAnnotations(edit.deleteElements(d, names, [...linkIdx]), noteIdx));
    setSelection({ nodes: [], edges: [] });
  }, [selection, graph, selectedNames, commit]);

  // ---- context menus: what a person does to one node or one link -------------------
  const openConsole = useCallback((node: string) => {
    setConsoles((c) => (c.includes(node) ? c : [...c, node]));
    setDockTab(`console:${node}`);
    setDockOpen(true);
  }, []);
  const captureOn = useCallback((node: string, iface: string) => {
    setCapturePreset((p) => ({ node, iface, n: (p?.n ?? 0) + 1 }));
    setDockTab("capture");
    setDockOpen(true);
  }, []);
  const NOT_YET = "needs per-node control in the engine (not available yet)";
  const nodeMenu = (event: React.MouseEvent, id: string) => {
      const g = graph.nodes.find((n) => n.id === id);
      if (!g) return;
      event.preventDefault();
      if (g.type === "attach") {
        linkMenu(event, `l${(g.data as AttachData).index}`);
        return;
      }
      const n = (g.data as DeviceData).node;
      const built = !!applied && applied.has(n.name);
      const where = !applied ? stateLabel(state) : built ? `${stateLabel(state)} on the lab host` : "not built yet: Apply changes makes it";
      setSelection({ nodes: [id], edges: [] });
      setRfNodes((ns) => ns.map((x) => ({ ...x, selected: x.id === id })));
      setMenu({
        x: event.clientX,
        y: event.clientY,
        title: `${n.kind} ${n.name}`,
        items: [
          { label: "Open console", onSelect: () => openConsole(n.name), disabled: built || !applied ? undefined : where },
          { label: "Capture…", onSelect: () => captureOn(n.name, n.interfaces[0]?.name ?? ""), disabled: n.interfaces.length ? undefined : "no interfaces yet" },
          {
            label: "Trace from here",
            onSelect: () => {
              setJourneyPreset((p) => ({ src: n.name, n: (p?.n ?? 0) + 1 }));
              setDockTab("journey");
              setDockOpen(true);
            },
          },
          { label: "Start", disabled: NOT_YET },
          { label: "Stop", disabled: NOT_YET },
          { label: "Restart", disabled: NOT_YET },
          { label: "Delete node", danger: true, onSelect: () => commit((d) => edit.deleteElements(d, [n.name], [])) },
          { label: where, info: true },
        ],
      });
  };
  const linkMenu = (event: React.MouseEvent, edgeIdOf: string) => {
    const e = graph.edges.find((x) => x.id === edgeIdOf);
    const index = e?.data.index;
    if (!e || index === undefined || e.data.derived) return;
    event.preventDefault();
    const link = doc.links[index];
    if (!link) return;
    const eps = linkEndpoints(link);
    // The link alone is selected (React Flow's own node selection too, or it wins).
    const selectLink = () => {
      setSelection({ nodes: [], edges: [edgeIdOf] });
      setRfNodes((ns) => (ns.some((x) => x.selected) ? ns.map((x) => ({ ...x, selected: false })) : ns));
    };
    selectLink();
    const title = `${link.kind} ${eps.map((p) => `${p.node}:${p.interface}`).join(" – ")}`;
    // Only ends the lab host has built can be read (a link drawn since has none yet).
    const built = state === "running" && !!applied && eps.every((p) => applied.has(p.node));
    const items = (ends: KernelEnd[] | "reading" | null) => [
      ...eps.map((p) => ({ label: `Capture on ${p.node}:${p.interface}`, onSelect: () => captureOn(p.node, p.interface) })),
      ...(link.kind === "veth" ? linkSettings(link, ends).map((st) => ({ label: settingText(st), info: true })) : []),
      { label: "Set MTU and rate…", onSelect: selectLink },
      { label: "Link down / up", disabled: "link state comes with the engine's device kinds (not available yet)" },
      { label: "Impairments (delay, loss)", disabled: "needs netem: this lab host's kernel lacks it" },
      { label: "Delete link (keeps its interfaces)", danger: true, onSelect: () => commit((d) => edit.deleteElements(d, [], [index])) },
    ];
    setMenu({ x: event.clientX, y: event.clientY, title, items: items(built && link.kind === "veth" ? "reading" : null) });
    if (!built || link.kind !== "veth") return;
    // What each end has in the kernel, read in its node as a console would read it.
    const read = async (p: { node: string; interface: string }): Promise<KernelEnd> => {
      const [mtu, qdisc] = await Promise.all([
        Api.exec(labId, p.node, ["cat", `/sys/class/net/${p.interface}/mtu`]).catch(() => null),
        Api.exec(labId, p.node, ["tc", "qdisc", "show", "dev", p.interface]).catch(() => null),
      ]);
      return { mtu: mtu?.status === 0 ? parseMtu(mtu.stdout) : null, rateMbit: qdisc?.status === 0 ? parseTcRate(qdisc.stdout) : null };
    };
    Promise.all(eps.map(read)).then((ends) => setMenu((m) => (m && m.title === title ? { ...m, items: items(ends) } : m)));
  };

  const fit = useCallback(() => flow.fitView({ padding: 0.15, maxZoom: 1.25, duration: 250 }), [flow]);
  // Fit once when the lab's nodes are first on screen (not on every edit).
  const fitted = useRef(false);
  useEffect(() => {
    if (fitted.current || !lab) return;
    if (graph.nodes.length === 0) {
      fitted.current = true; // an empty lab: keep the default zoom for the first nodes
      return;
    }
    if (rfNodes.length === 0) return;
    fitted.current = true;
    requestAnimationFrame(() => flow.fitView({ padding: 0.15, maxZoom: 1.25 }));
  }, [lab, rfNodes.length, graph.nodes.length, flow]);
  const layout = useCallback(() => {
    commit((d) => edit.moveNodes(d, autoLayout(d)));
    setTimeout(fit, 50);
  }, [commit, fit]);

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const t = e.target as HTMLElement;
      if (t.closest("input, textarea, select, [contenteditable], .xterm")) return;
      const mod = e.ctrlKey || e.metaKey;
      const k = e.key.toLowerCase();
      if (mod && k === "z" && !e.shiftKey) setHist(undo);
      else if (mod && (k === "y" || (k === "z" && e.shiftKey))) setHist(redo);
      else if (mod && k === "c") clip.current = edit.copySelection(doc, selectedNames());
      else if (mod && k === "v" && clip.current?.nodes.length) {
        const c = clip.current;
        commit((d) => edit.paste(d, c).doc);
      } else if (!mod && (e.key === "Delete" || e.key === "Backspace")) deleteSelection();
      else if (!mod && k === "f") fit();
      else if (!mod && k === "l") layout();
      else return;
      e.preventDefault();
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [doc, selectedNames, commit, deleteSelection, fit, layout]);

  // ---- deploy controls ---------------------------------------------------------
  async function action(a: "deploy" | "apply" | "destroy") {
    try {
      // The lab's state comes from the websocket (lab.state); setting it from this answer
      // could undo a faster "running" that already arrived.
      const r = await Api.action(labId, a);
      setDeployAction(a);
      setProgress((p) => (p && p.done > 0 ? p : { done: 0, total: 0, step: `${a} queued` }));
      setDeployError("");
      if (r?.deployment?.state === "running") setProgress(null);
    } catch (e) {
      setToast(e instanceof ApiError ? e.message : String(e));
    }
  }

  function replaceWith(p: PendingImport) {
    commit(() => p.topology);
    setToast(p.warnings.length ? `Imported with warnings: ${p.warnings.join("; ")}` : `Imported ${p.file}`);
    setTimeout(fit, 80);
  }

  async function onImport(file: File) {
    try {
      const { topology, warnings } = await importFile(file);
      let t = topology;
      if (t.nodes.some((n) => !n.position)) {
        const pos = autoLayout(t);
        t = { ...t, nodes: t.nodes.map((n) => n.position ? n : { ...n, position: pos.get(n.name) ?? { x: 0, y: 0 } }) };
      }
      const p: PendingImport = { file: file.name, topology: t, warnings };
      // An import replaces the whole design: ask first, unless there is nothing to lose.
      if (doc.nodes.length || doc.links.length) setPendingImport(p);
      else replaceWith(p);
    } catch (e) {
      setToast(e instanceof ApiError ? `Import failed: ${e.message}${e.issues.length ? ` — ${e.issues.map((i) => `${humanPath(i.path, null) || "file"}: ${i.message}`).join("; ")}` : ""}` : `Import failed: ${String(e)}`);
    }
  }

  useEffect(() => {
    if (!toast) return;
    const t = setTimeout(() => setToast(""), 6000);
    return () => clearTimeout(t);
  }, [toast]);

  // Animate a journey: one hop every 700 ms.
  useEffect(() => {
    if (journeyStep < 0 || journeyStep >= journeyHops.length) return;
    const t = setTimeout(() => setJourneyStep((s) => (s + 1 < journeyHops.length ? s + 1 : s)), 700);
    return () => clearTimeout(t);
  }, [journeyStep, journeyHops.length]);
  const activeHop = journeyStep >= 0 ? journeyHops[journeyStep] : undefined;

  const view: CanvasView = useMemo(
    () => ({
      issues: issueMap,
      state,
      applied,
      journeyNode: (activeHop?.node as string) ?? null,
      journeyIface: (activeHop?.interface as string) ?? null,
      onInterfaceClick: (node, iface) => {
        setFocusIface({ node, iface });
        setDockTab("stats");
        setDockOpen(true);
      },
    }),
    [issueMap, state, applied, activeHop],
  );
  const notes = useMemo(() => editorNotes(doc), [doc]);

  // ---- annotations, addresses and multi-selection (issue 15, feature 3) -------------
  const annotationActions: AnnotationActions = useMemo(
    () => ({
      onText: (i, text) => commit((d) => notes_.setAnnotationText(d, i, text)),
      onResize: (i, b) => commit((d) => notes_.updateAnnotation(d, i, { position: { x: b.x, y: b.y }, width: b.width, height: b.height })),
    }),
    [commit],
  );
  const addressView: AddressView = useMemo(() => (showAddresses ? { show: true, doc, auto } : ADDRESSES_OFF), [showAddresses, doc, auto]);
  const addAnnotation = (kind: AnnotationKind) => {
    const r = wrapper.current?.getBoundingClientRect();
    const at = r ? flow.screenToFlowPosition({ x: r.left + r.width / 2, y: r.top + r.height / 3 }) : { x: 0, y: 0 };
    selectNext.current = notes_.annotationId(notes_.annotations(doc).length);
    commit((d) => notes_.addAnnotation(d, kind, at).doc);
  };
  const deviceSelected = selection.nodes.filter((id) => graph.nodes.some((g) => g.id === id && g.type === "device"));
  const noteSelected = selection.nodes.map(notes_.annotationIndex).filter((i): i is number => i !== null);
  const oneNote = noteSelected.length === 1 && selection.nodes.length === 1 && !selection.edges.length ? notes_.annotations(doc)[noteSelected[0]] : undefined;
  let sidePanel: React.ReactNode = null;
  if (oneNote) sidePanel = <AnnotationProperties annotation={oneNote} index={noteSelected[0]} onChange={commit} onDelete={deleteSelection} />;
  else if (deviceSelected.length > 1) {
    const names = deviceSelected.map(nameOf).filter((n): n is string => !!n);
    sidePanel = <MultiNodeProperties doc={doc} names={names} onChange={commit} onDelete={deleteSelection} />;
  }
  // Properties knows nodes, attachments and links; notes are not its business.
  const propsSelection = noteSelected.length ? { nodes: selection.nodes.filter((id) => notes_.annotationIndex(id) === null), edges: selection.edges } : selection;

  if (loadError) {
    return (
      <div className="page">
        <h1>Cannot open this lab</h1>
        <p className="error">{loadError}</p>
        <RouteLink to="/labs">Back to my labs</RouteLink>
      </div>
    );
  }

  const pct = progress && progress.total ? Math.round((100 * progress.done) / progress.total) : null;
  const busy = isBusy(state);
  const controls = deployControls(state, deployAction);
  const closeExport = () => setTimeout(() => exportMenu.current?.removeAttribute("open"), 0);

  return (
    <ViewContext.Provider value={view}>
      <AddressContext.Provider value={addressView}>
      <AnnotationContext.Provider value={annotationActions}>
      <CountersContext.Provider value={latest}>
      <div className="editor">
        <header className="topbar">
          <RouteLink to="/labs" className="brand" title="My labs">
            <span className="brand-mark">◆</span>
          </RouteLink>
          <input
            className="lab-name"
            aria-label="Lab name"
            value={lab?.name ?? ""}
            onChange={(e) => setLab((l) => (l ? { ...l, name: e.target.value } : l))}
            onBlur={(e) => lab && Api.renameLab(lab.id, e.target.value).catch((err) => setToast(String(err.message)))}
          />
          <span className={`save-status save-${save}`} title={saveError} data-save={save}>
            {{ saved: "Saved", saving: "Saving…", dirty: "Editing…", invalid: `${issues.length} issue${issues.length === 1 ? "" : "s"}`, error: "Not saved", loading: "Loading…" }[save]}
          </span>
          <div className="tool-group">
            <button className="btn icon" title="Undo (Ctrl+Z)" disabled={!canUndo(hist)} onClick={() => setHist(undo)}>↶</button>
            <button className="btn icon" title="Redo (Ctrl+Y)" disabled={!canRedo(hist)} onClick={() => setHist(redo)}>↷</button>
            <button className="btn icon" title="Auto-layout (L)" onClick={layout}>⊞</button>
            <button className="btn icon" title="Zoom to fit (F)" onClick={fit}>⤢</button>
          </div>
          <div className="tool-group" role="group" aria-label="Annotate">
            <button className="btn icon" title="Add a note" data-testid="add-note" onClick={() => addAnnotation("note")}>✎</button>
            <button className="btn icon" title="Add a rectangle" data-testid="add-rect" onClick={() => addAnnotation("rect")}>▭</button>
            <button className="btn icon" title="Add an ellipse" data-testid="add-ellipse" onClick={() => addAnnotation("ellipse")}>◯</button>
            <label className="btn toggle-addresses" title="Show every interface's addresses and every link's subnets on the canvas">
              <input
                type="checkbox"
                data-testid="show-addresses"
                checked={showAddresses}
                onChange={(e) => {
                  setShowAddresses(e.target.checked);
                  localStorage.setItem("topolab.addresses", e.target.checked ? "1" : "0");
                }}
              />
              Addresses
            </label>
          </div>
          <div className="tool-group">
            <label className="btn" title="Open a JSON, YAML or containerlab (.clab.yml) file, or a lab folder as .tar.gz/.zip">
              Open…
              <input
                type="file"
                accept=".json,.yaml,.yml,.tar.gz,.tgz,.zip"
                hidden
                disabled={!lab} // an import before the lab has loaded would be overwritten by it
                data-testid="import-file"
                onChange={(e) => {
                  const f = e.target.files?.[0];
                  if (f) onImport(f);
                  e.target.value = "";
                }}
              />
            </label>
            <details className="menu" ref={exportMenu}>
              <summary className="btn">Export ▾</summary>
              {/* Each item closes the menu: a download leaves the page where it was. */}
              <div className="menu-items" onClick={closeExport}>
                <a href={`/api/labs/${labId}/export?format=json`} download>Topology JSON</a>
                <a href={`/api/labs/${labId}/export?format=yaml`} download>Topology YAML</a>
                <a href={`/api/labs/${labId}/export?format=clab`} download>containerlab .clab.yml</a>
                <button onClick={() => exportImage("png", rfNodes, doc.name).catch((e) => setToast(String(e)))}>Diagram PNG</button>
                <button onClick={() => exportImage("svg", rfNodes, doc.name).catch((e) => setToast(String(e)))}>Diagram SVG</button>
              </div>
            </details>
          </div>
          <div className="spacer" />
          <div className="deploy">
            {progress && (busy || state === "failed") && (
              <div className="progress" title={progress.step} data-testid="progress">
                <div className="progress-bar" style={{ width: `${pct ?? (busy ? 30 : 0)}%` }} />
                <span className="progress-step">{progress.step}{pct !== null ? ` · ${progress.done}/${progress.total}` : ""}</span>
              </div>
            )}
            <span className={`badge state-${state || "loading"}`} data-testid="state-badge" data-state={state} title={deployError || undefined}>
              {stateLabel(state, deployAction)}
            </span>
            <span className={`live-dot ${connected ? "on" : ""}`} title={connected ? "live" : "not connected"} />
            <button className="btn primary" data-testid="deploy-button" disabled={!controls.primaryEnabled || save === "invalid"} onClick={() => (controls.primary === "apply" ? setConfirmApply(true) : action(controls.primary))}>
              {controls.primaryLabel}
            </button>
            <button className="btn danger" disabled={!controls.destroyEnabled} onClick={() => action("destroy")}>Destroy</button>
            {/* Apply shows what it will create, remove and change first (feature 4 of issue 15). */}
            {confirmApply && (
              <PendingChanges
                running={appliedDoc}
                draft={doc}
                onApply={() => {
                  setConfirmApply(false);
                  action("apply");
                }}
                onCancel={() => setConfirmApply(false)}
              />
            )}
          </div>
        </header>

        <div className="workspace">
          <Palette
            linkTool={linkTool}
            onLinkTool={setLinkTool}
            onAddNode={(k) => addNode(k)}
            onAttach={(k) => {
              const name = selectedNames()[0];
              if (name) attachTo(name, k);
              else setToast(`select a node first, or drag ${k} onto a node`);
            }}
            addressing={!!doc.addressing?.auto}
            onAddressing={(auto) => commit((d) => ({ ...d, addressing: { ...(d.addressing ?? {}), auto } }))}
          />
          <div className={`canvas ${far ? "far" : ""}`} ref={wrapper} onDragOver={(e) => e.preventDefault()} onDrop={onDrop}>
            <ReactFlow
              nodes={rfNodes}
              edges={rfEdges}
              nodeTypes={canvasNodeTypes}
              multiSelectionKeyCode={MULTI_SELECT_KEYS}
              edgeTypes={edgeTypes}
              onNodesChange={onNodesChange}
              onNodeDragStop={onNodeDragStop}
              onConnect={onConnect}
              onConnectEnd={onConnectEnd}
              onSelectionChange={({ nodes, edges }) =>
                setSelection((s) => {
                  const n = nodes.map((x) => x.id);
                  const e = edges.map((x) => x.id);
                  if (n.join() === s.nodes.join() && e.join() === s.edges.join()) return s;
                  return { nodes: n, edges: e };
                })
              }
              onEdgeClick={(_, e) => setSelection({ nodes: [], edges: [e.id] })}
              onPaneClick={() => setSelection({ nodes: [], edges: [] })}
              onNodeContextMenu={(event, n) => nodeMenu(event, n.id)}
              onEdgeContextMenu={(event, e) => linkMenu(event, e.id)}
              connectionMode={ConnectionMode.Loose}
              connectionRadius={40}
              deleteKeyCode={null}
              minZoom={0.1}
              maxZoom={3}
              defaultViewport={{ x: 40, y: 40, zoom: 1 }}
              onMove={(_, vp) => setFar(vp.zoom < 0.55)}
              onlyRenderVisibleElements={doc.nodes.length > 300}
              proOptions={{ hideAttribution: true }}
              colorMode="system" // dark mode follows the system setting, as the page's CSS does
            >
              <Background gap={24} size={1} color="var(--grid)" />
              <Controls showInteractive={false} />
              {doc.nodes.length > 0 && <MiniMap pannable zoomable nodeStrokeWidth={3} style={{ width: 160, height: 110 }} />}
            </ReactFlow>
            {doc.nodes.length === 0 && (
              <div className="canvas-hint">Click or drag a host, router or switch from the palette; then drag from one node's dot to another to link them.</div>
            )}
            {toast && <div className="toast" role="status">{toast}</div>}
          </div>
          {menu && <ContextMenu menu={menu} onClose={() => setMenu(null)} />}
          {pendingImport && (
            <ImportDialog
              pending={pendingImport}
              current={doc}
              labName={lab?.name ?? ""}
              state={state}
              onReplace={() => {
                replaceWith(pendingImport);
                setPendingImport(null);
              }}
              onCancel={() => setPendingImport(null)}
            />
          )}
          {sidePanel ?? <Properties
            labId={labId}
            doc={doc}
            graph={graph}
            selection={propsSelection}
            issues={readable}
            notes={notes}
            auto={auto}
            focusIface={focusIface}
            onChange={commit}
            onOpenConsole={(node) => {
              setConsoles((c) => (c.includes(node) ? c : [...c, node]));
              setDockTab(`console:${node}`);
              setDockOpen(true);
            }}
            onStats={(node, iface) => view.onInterfaceClick(node, iface)}
            onSelectElement={(ids) => setSelection(ids)}
          />}
        </div>
        <Dock
          open={dockOpen}
          onToggle={() => setDockOpen((o) => !o)}
          tab={dockTab}
          onTab={(t) => {
            setDockTab(t);
            setDockOpen(true);
          }}
          labId={labId}
          doc={doc}
          issues={readable}
          notes={notes}
          auto={auto}
          onIssueClick={(ids) => {
            setSelection(ids);
            setRfNodes((ns) => ns.map((n) => ({ ...n, selected: ids.nodes.includes(n.id) })));
          }}
          captureLines={captureLines}
          journeyHops={journeyHops}
          journeyStep={journeyStep}
          capturePreset={capturePreset}
          journeyPreset={journeyPreset}
          onJourney={(hops) => {
            setJourneyHops(hops);
            setJourneyStep(hops.length ? 0 : -1);
          }}
          onJourneyStep={setJourneyStep}
          consoles={consoles}
          onCloseConsole={(n) => {
            setConsoles((c) => c.filter((x) => x !== n));
            setDockTab(demo ? "demo" : "issues");
          }}
          onOpenConsole={(node) => {
            setConsoles((c) => (c.includes(node) ? c : [...c, node]));
            setDockTab(`console:${node}`);
          }}
          focusIface={focusIface}
          samples={samples.current}
          demo={demo}
          running={state === "running"}
          demoRun={demoRun}
          onDemoRun={onDemoRun}
          demoAutoRun={demoAutoRun}
        />
      </div>
      </CountersContext.Provider>
      </AnnotationContext.Provider>
      </AddressContext.Provider>
    </ViewContext.Provider>
  );
}

