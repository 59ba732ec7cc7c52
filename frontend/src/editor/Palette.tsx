import type { NodeKind } from "../model/types";
import { KindIcon } from "./nodes";

export type LinkTool = "veth" | "vxlan";

const NODES: { kind: NodeKind; label: string; hint: string }[] = [
  { kind: "host", label: "Host", hint: "an end system: one namespace" },
  { kind: "router", label: "Router", hint: "forwards IP between its interfaces" },
  { kind: "switch", label: "Switch", hint: "a Linux bridge; its ports are L2" },
];

const LINKS: { kind: string; label: string; hint: string; pair: boolean }[] = [
  { kind: "veth", label: "veth", hint: "a cable: drag from one node to another", pair: true },
  { kind: "vxlan", label: "VXLAN", hint: "a tunnel: drag between nodes (a pair) or drop on a node", pair: true },
  { kind: "macvlan", label: "macvlan", hint: "a child of an interface: drop on a node", pair: false },
  { kind: "macvtap", label: "macvtap", hint: "a macvlan with a character device: drop on a node", pair: false },
  { kind: "tap", label: "tap", hint: "Ethernet frames to a program: drop on a node", pair: false },
  { kind: "tun", label: "tun", hint: "IP packets to a program: drop on a node", pair: false },
];

export function Palette(props: {
  linkTool: LinkTool;
  onLinkTool: (k: LinkTool) => void;
  onAddNode: (k: NodeKind) => void;
  onAttach: (k: string) => void;
  addressing: boolean;
  onAddressing: (on: boolean) => void;
}) {
  return (
    <aside className="palette">
      <h4>Nodes</h4>
      {NODES.map((n) => (
        <button
          key={n.kind}
          className="palette-item"
          draggable
          data-palette={n.kind}
          title={`${n.hint} — click to add, or drag onto the canvas`}
          onDragStart={(e) => {
            e.dataTransfer.setData("application/topolab", `node:${n.kind}`);
            e.dataTransfer.effectAllowed = "move";
          }}
          onClick={() => props.onAddNode(n.kind)}
        >
          <span className={`palette-icon kind-${n.kind}`}><KindIcon kind={n.kind} /></span>
          {n.label}
        </button>
      ))}
      <h4>Links</h4>
      {LINKS.map((l) => {
        const active = l.pair && props.linkTool === l.kind;
        return (
          <button
            key={l.kind}
            className={`palette-item link-item ${active ? "active" : ""}`}
            draggable={l.kind !== "veth"}
            data-palette={l.kind}
            title={l.hint}
            onDragStart={(e) => {
              e.dataTransfer.setData("application/topolab", `link:${l.kind}`);
              e.dataTransfer.effectAllowed = "copy";
            }}
            onClick={() => (l.pair ? props.onLinkTool(l.kind as LinkTool) : props.onAttach(l.kind))}
          >
            <span className={`link-swatch link-${l.kind}`} />
            {l.label}
          </button>
        );
      })}
      <p className="palette-note">Dragging between nodes makes a <b>{props.linkTool}</b> link.</p>
      <h4>Addressing</h4>
      <label className="toggle" title="The server assigns a /30 per point-to-point link and a /24 per segment">
        <input type="checkbox" checked={props.addressing} onChange={(e) => props.onAddressing(e.target.checked)} data-testid="auto-addressing" />
        Automatic
      </label>
      <div className="palette-keys">
        <h4>Keys</h4>
        <div><kbd>Ctrl</kbd>+<kbd>Z</kbd>/<kbd>Y</kbd> undo/redo</div>
        <div><kbd>Ctrl</kbd>+<kbd>C</kbd>/<kbd>V</kbd> copy/paste</div>
        <div><kbd>Del</kbd> delete · <kbd>F</kbd> fit · <kbd>L</kbd> layout</div>
      </div>
    </aside>
  );
}
