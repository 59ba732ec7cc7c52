// Pure edits of the document's annotations (notes and shapes): each takes a document and
// returns a new one. On the canvas an annotation is a React Flow node with id `a<index>`.
import type { Annotation, AnnotationKind, Topology } from "./types";

export const ANNOTATION_PREFIX = "a";
export const annotationId = (index: number): string => `${ANNOTATION_PREFIX}${index}`;
/** The annotation index of a canvas id, or null for a node, attachment or link. */
export function annotationIndex(id: string): number | null {
  const m = /^a(\d+)$/.exec(id);
  return m ? Number(m[1]) : null;
}

// Sizes a new shape starts with; a note sizes itself to its text.
const NEW_SIZE: Record<Exclude<AnnotationKind, "note">, { width: number; height: number }> = {
  rect: { width: 240, height: 150 },
  ellipse: { width: 220, height: 150 },
};
// The schema's bounds (lab/topology/schema.py: Extent, ANNOTATION_TEXT_MAX).
export const MIN_EXTENT = 8;
export const MAX_EXTENT = 20000;
export const TEXT_MAX = 2000;
const clampExtent = (v: number) => Math.min(MAX_EXTENT, Math.max(MIN_EXTENT, Math.round(v)));

export function annotations(doc: Topology): Annotation[] {
  return doc.annotations ?? [];
}

/** Add a note ("Note" as its text) or a shape centred on `at`; returns the new index. */
export function addAnnotation(doc: Topology, kind: AnnotationKind, at: { x: number; y: number }): { doc: Topology; index: number } {
  const list = annotations(doc);
  const a: Annotation =
    kind === "note"
      ? { kind, position: { x: Math.round(at.x), y: Math.round(at.y) }, text: "Note" }
      : { kind, position: { x: Math.round(at.x - NEW_SIZE[kind].width / 2), y: Math.round(at.y - NEW_SIZE[kind].height / 2) }, ...NEW_SIZE[kind] };
  return { doc: { ...doc, annotations: [...list, a] }, index: list.length };
}

/** Change fields of annotation `index`; sizes are kept within the schema's bounds. */
export function updateAnnotation(doc: Topology, index: number, patch: Partial<Annotation>): Topology {
  const list = annotations(doc);
  if (!list[index]) return doc;
  const next: Annotation = { ...list[index], ...patch };
  if (next.kind !== "note") {
    next.width = clampExtent(next.width ?? NEW_SIZE[next.kind].width);
    next.height = clampExtent(next.height ?? NEW_SIZE[next.kind].height);
  }
  if (next.text !== undefined) next.text = next.text.slice(0, TEXT_MAX);
  if (next.color === null || next.color === "") delete next.color;
  return { ...doc, annotations: list.map((a, i) => (i === index ? next : a)) };
}

/** Move annotations to new positions (index -> top-left corner). */
export function moveAnnotations(doc: Topology, moves: Map<number, { x: number; y: number }>): Topology {
  if (!moves.size) return doc;
  return {
    ...doc,
    annotations: annotations(doc).map((a, i) => {
      const p = moves.get(i);
      return p ? { ...a, position: { x: Math.round(p.x), y: Math.round(p.y) } } : a;
    }),
  };
}

/** Remove the annotations at `indexes`; a document left with none writes none. */
export function removeAnnotations(doc: Topology, indexes: Iterable<number>): Topology {
  const gone = new Set(indexes);
  if (!gone.size) return doc;
  const rest = annotations(doc).filter((_, i) => !gone.has(i));
  const { annotations: _old, ...others } = doc;
  return rest.length ? { ...others, annotations: rest } : (others as Topology);
}

/** A note's text may not be empty (the schema refuses it): an emptied note is removed. */
export function setAnnotationText(doc: Topology, index: number, text: string): Topology {
  const a = annotations(doc)[index];
  if (!a) return doc;
  if (a.kind === "note" && !text.trim()) return removeAnnotations(doc, [index]);
  return updateAnnotation(doc, index, { text });
}
