// The bottom panel's size and place, kept per browser (localStorage): a teacher who
// makes it tall for consoles, or floats it beside the canvas, finds it so next time.
export const DOCK_MIN = 120;
export const DOCK_DEFAULT = 210;
const KEY = "topolab.dock";

export interface DockLayout {
  height: number; // docked: its height in px
  detached: boolean; // floating over the canvas instead of under it
  x: number; // floating: its top-left corner and size
  y: number;
  width: number;
  floatHeight: number;
}

export const DEFAULT_LAYOUT: DockLayout = { height: DOCK_DEFAULT, detached: false, x: 80, y: 120, width: 720, floatHeight: 320 };

/** The largest docked height that still leaves the top bar and some canvas. */
export function maxDockHeight(viewport: number): number {
  return Math.max(DOCK_MIN, viewport - 52 - 160);
}

export function clampHeight(h: number, viewport: number): number {
  return Math.round(Math.min(maxDockHeight(viewport), Math.max(DOCK_MIN, h)));
}

/** Keep a floating panel's title bar on screen (it could be dragged out of reach). */
export function clampFloat(l: DockLayout, vw: number, vh: number): DockLayout {
  const width = Math.min(Math.max(320, l.width), vw);
  const floatHeight = Math.min(Math.max(DOCK_MIN, l.floatHeight), vh);
  return { ...l, width, floatHeight, x: Math.round(Math.min(Math.max(0, l.x), vw - 120)), y: Math.round(Math.min(Math.max(0, l.y), vh - 40)) };
}

/** The stored layout, each field checked (a hand-edited or old value falls back). */
export function readLayout(raw: string | null): DockLayout {
  let v: Record<string, unknown> = {};
  try {
    const parsed: unknown = raw ? JSON.parse(raw) : {};
    if (parsed && typeof parsed === "object") v = parsed as Record<string, unknown>;
  } catch {
    /* unreadable: the default */
  }
  const num = (k: keyof DockLayout) => (typeof v[k] === "number" && Number.isFinite(v[k]) ? (v[k] as number) : (DEFAULT_LAYOUT[k] as number));
  return {
    height: num("height"),
    detached: v.detached === true,
    x: num("x"),
    y: num("y"),
    width: num("width"),
    floatHeight: num("floatHeight"),
  };
}

export function loadLayout(): DockLayout {
  return readLayout(localStorage.getItem(KEY));
}

export function saveLayout(l: DockLayout): void {
  localStorage.setItem(KEY, JSON.stringify(l));
}

/** The address of a node's console in a window of its own. */
export function consoleWindowPath(labId: string, node: string): string {
  return `/labs/${encodeURIComponent(labId)}/console/${encodeURIComponent(node)}`;
}
