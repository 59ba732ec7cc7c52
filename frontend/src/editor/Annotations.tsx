// The editor's notes and shapes on the canvas: React Flow nodes of type "note", drawn
// under the network. Double-click edits the text in place; a selected shape has resize
// handles. Every change goes through the callbacks of AnnotationContext (one undo step).
import { createContext, memo, useContext, useEffect, useRef, useState } from "react";
import { NodeResizer, type Node as RFNode, type NodeProps } from "@xyflow/react";
import { annotationId, annotations, MIN_EXTENT, TEXT_MAX } from "../model/annotations";
import type { Annotation, Topology } from "../model/types";

export interface AnnotationData extends Record<string, unknown> {
  annotation: Annotation;
  index: number;
}

export interface AnnotationActions {
  onText: (index: number, text: string) => void;
  onResize: (index: number, box: { x: number; y: number; width: number; height: number }) => void;
}
export const AnnotationContext = createContext<AnnotationActions>({ onText: () => undefined, onResize: () => undefined });

/** The canvas nodes of the document's annotations: under the network, notes over shapes. */
export function annotationNodes(doc: Topology, selected: Set<string>): RFNode[] {
  return annotations(doc).map((a, index) => ({
    id: annotationId(index),
    type: "note",
    position: { x: a.position.x, y: a.position.y },
    data: { annotation: a, index } satisfies AnnotationData,
    zIndex: a.kind === "note" ? -1 : -2, // a note stays readable over a shape drawn around it
    selected: selected.has(annotationId(index)),
    ...(a.kind === "note" ? {} : { width: a.width ?? undefined, height: a.height ?? undefined }),
  }));
}

export const AnnotationNode = memo(function AnnotationNode({ data, selected }: NodeProps) {
  const { annotation: a, index } = data as AnnotationData;
  const actions = useContext(AnnotationContext);
  const [editing, setEditing] = useState(false);
  const [text, setText] = useState(a.text ?? "");
  const area = useRef<HTMLTextAreaElement>(null);
  useEffect(() => setText(a.text ?? ""), [a.text]);
  useEffect(() => {
    if (editing) area.current?.select();
  }, [editing]);
  const done = () => {
    setEditing(false);
    if (text !== (a.text ?? "")) actions.onText(index, text);
  };
  // The schema lets only #rrggbb through, so it is safe in a style.
  const colour = a.color ?? undefined;
  const body = editing ? (
    <textarea
      ref={area}
      className="annotation-edit nodrag"
      aria-label="Annotation text"
      value={text}
      maxLength={TEXT_MAX}
      onChange={(e) => setText(e.target.value)}
      onBlur={done}
      onKeyDown={(e) => {
        if (e.key === "Escape") {
          setText(a.text ?? "");
          setEditing(false);
        } else if (e.key === "Enter" && !e.shiftKey) {
          e.preventDefault();
          done();
        }
      }}
    />
  ) : (
    <span className="annotation-text">{a.text}</span>
  );
  return (
    <div
      className={`annotation annotation-${a.kind} ${selected ? "selected" : ""}`}
      style={colour ? ({ "--annotation": colour } as React.CSSProperties) : undefined}
      data-annotation={index}
      data-kind={a.kind}
      onDoubleClick={(e) => {
        e.stopPropagation();
        setEditing(true);
      }}
      title={editing ? undefined : "Double-click to edit the text"}
    >
      {a.kind !== "note" && (
        <NodeResizer
          isVisible={selected}
          minWidth={MIN_EXTENT * 4}
          minHeight={MIN_EXTENT * 4}
          onResizeEnd={(_, p) => actions.onResize(index, { x: p.x, y: p.y, width: p.width, height: p.height })}
        />
      )}
      {body}
    </div>
  );
});
