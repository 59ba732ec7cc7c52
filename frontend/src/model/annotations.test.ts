import { describe, expect, it } from "vitest";
import {
  addAnnotation,
  annotationId,
  annotationIndex,
  moveAnnotations,
  removeAnnotations,
  setAnnotationText,
  updateAnnotation,
  MAX_EXTENT,
  MIN_EXTENT,
} from "./annotations";
import { emptyTopology } from "./types";

describe("annotations", () => {
  it("adds a note at the point and a shape centred on it", () => {
    let doc = emptyTopology("t");
    const a = addAnnotation(doc, "note", { x: 10.4, y: 20.6 });
    expect(a.index).toBe(0);
    expect(a.doc.annotations).toEqual([{ kind: "note", position: { x: 10, y: 21 }, text: "Note" }]);
    doc = addAnnotation(a.doc, "rect", { x: 200, y: 100 }).doc;
    expect(doc.annotations?.[1]).toEqual({ kind: "rect", position: { x: 80, y: 25 }, width: 240, height: 150 });
    expect(doc.nodes).toEqual([]); // nothing the engine builds
  });

  it("maps canvas ids both ways and never reads a node id as an annotation", () => {
    expect(annotationIndex(annotationId(7))).toBe(7);
    expect(annotationIndex("n:h1")).toBeNull();
    expect(annotationIndex("p3")).toBeNull();
    expect(annotationIndex("a1x")).toBeNull();
  });

  it("keeps a resized shape within the schema's bounds", () => {
    const doc = addAnnotation(emptyTopology(), "ellipse", { x: 0, y: 0 }).doc;
    const tiny = updateAnnotation(doc, 0, { width: 1, height: 1e9 });
    expect(tiny.annotations?.[0]).toMatchObject({ width: MIN_EXTENT, height: MAX_EXTENT });
  });

  it("moves only the annotations asked", () => {
    let doc = addAnnotation(emptyTopology(), "note", { x: 0, y: 0 }).doc;
    doc = addAnnotation(doc, "note", { x: 5, y: 5 }).doc;
    const moved = moveAnnotations(doc, new Map([[1, { x: 50.2, y: 60.7 }]]));
    expect(moved.annotations?.map((a) => a.position)).toEqual([{ x: 0, y: 0 }, { x: 50, y: 61 }]);
  });

  it("removes annotations and writes none when the last goes", () => {
    let doc = addAnnotation(emptyTopology(), "note", { x: 0, y: 0 }).doc;
    doc = addAnnotation(doc, "rect", { x: 0, y: 0 }).doc;
    expect(removeAnnotations(doc, [0]).annotations?.map((a) => a.kind)).toEqual(["rect"]);
    expect("annotations" in removeAnnotations(doc, [0, 1])).toBe(false);
  });

  it("removes a note whose text is emptied (the schema refuses an empty note)", () => {
    const doc = addAnnotation(emptyTopology(), "note", { x: 0, y: 0 }).doc;
    expect(setAnnotationText(doc, 0, "r1 routes").annotations?.[0].text).toBe("r1 routes");
    expect(setAnnotationText(doc, 0, "   ").annotations).toBeUndefined();
    const box = addAnnotation(emptyTopology(), "rect", { x: 0, y: 0 }).doc;
    expect(setAnnotationText(box, 0, "").annotations?.[0].text).toBe("");
  });
});
