// A node's console in a window of its own (the dock's ↗): the same terminal, full window.
import { lazy, Suspense, useEffect } from "react";

const ConsoleTerminal = lazy(() => import("./Terminal").then((m) => ({ default: m.ConsoleTerminal })));

export function ConsoleWindow({ labId, node }: { labId: string; node: string }) {
  useEffect(() => {
    document.title = `${node} · console · Topolab`;
  }, [node]);
  return (
    <div className="console-window" data-testid="console-window">
      <Suspense fallback={<p className="muted">Loading terminal…</p>}>
        <ConsoleTerminal labId={labId} node={node} />
      </Suspense>
    </div>
  );
}
