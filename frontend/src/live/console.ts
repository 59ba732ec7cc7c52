// Console websocket framing (see editor/Terminal.tsx for the whole contract).

/** The text frame that tells the server the terminal's size. */
export function resizeFrame(cols: number, rows: number): string {
  return JSON.stringify({ type: "resize", cols, rows });
}

/** The control message a server text frame carries, or null when it is terminal output. */
export function controlFrame(text: string): { type: string; code?: string; message?: string } | null {
  // Python's json.dumps writes '{"type": "closed"}' (with a space); accept any spacing.
  if (!/^\{\s*"type"\s*:/.test(text)) return null;
  try {
    const obj = JSON.parse(text);
    return obj && (obj.type === "error" || obj.type === "closed") ? obj : null;
  } catch {
    return null;
  }
}
