// Import of topology files through the server, and image export of the diagram.
import { getNodesBounds, getViewportForBounds, type Node as RFNode } from "@xyflow/react";
import { toPng, toSvg } from "html-to-image";
import { load as loadYaml } from "js-yaml";
import { Api } from "../api";
import { importArchive } from "./ImportDialog";

/** Which import format a file is: by its name, then by a look at its content. */
export function detectFormat(name: string, text: string): "json" | "yaml" | "clab" {
  const lower = name.toLowerCase();
  if (/\.clab\.ya?ml$/.test(lower)) return "clab";
  if (lower.endsWith(".json")) return "json";
  try {
    const data = loadYaml(text) as Record<string, unknown> | null;
    // containerlab files keep their nodes under `topology:`.
    if (data && typeof data === "object" && data.topology && typeof data.topology === "object") return "clab";
  } catch {
    // Let the server report the syntax error with its line.
  }
  return text.trimStart().startsWith("{") ? "json" : "yaml";
}

export async function importFile(file: File) {
  // A lab folder (a .clab.yml with the files its binds name) as one archive.
  if (/\.(tar\.gz|tgz|zip)$/i.test(file.name)) return importArchive(file);
  const text = await file.text();
  return Api.importTopology(detectFormat(file.name, text), text);
}

function download(url: string, filename: string): void {
  const a = document.createElement("a");
  a.href = url;
  a.download = filename;
  a.click();
}

/** Export the whole diagram (not just what is in view) as PNG or SVG. */
export async function exportImage(kind: "png" | "svg", nodes: RFNode[], name: string): Promise<void> {
  const el = document.querySelector<HTMLElement>(".react-flow__viewport");
  if (!el) throw new Error("no diagram to export");
  const bounds = getNodesBounds(nodes);
  const width = Math.max(400, Math.min(4000, bounds.width + 160));
  const height = Math.max(300, Math.min(4000, bounds.height + 160));
  const vp = getViewportForBounds(bounds, width, height, 0.1, 2, 0.1);
  const options = {
    backgroundColor: "#ffffff",
    width,
    height,
    style: { width: `${width}px`, height: `${height}px`, transform: `translate(${vp.x}px, ${vp.y}px) scale(${vp.zoom})` },
  };
  const url = kind === "png" ? await toPng(el, options) : await toSvg(el, options);
  download(url, `${name || "lab"}.${kind}`);
}
