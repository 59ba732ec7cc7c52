// Small pieces the classroom pages share: error display, 401 handling, polling.
import { useEffect, useRef, useState } from "react";
import { ApiError } from "../api";
import { issueText } from "../model/issues";
import type { Issue } from "../model/types";
import { navigate } from "../router";

/** The message to show for a failed call; a 401 goes to the sign-in page instead. */
export function failure(e: unknown): string {
  if (e instanceof ApiError && e.status === 401) {
    navigate(`/login?next=${encodeURIComponent(location.pathname)}`, true);
    return "";
  }
  return e instanceof ApiError ? e.message : String((e as Error)?.message ?? e);
}

/** Call `fn` now and every `ms` while `active` (skipped while the tab is hidden). */
export function usePolling(fn: () => void, ms: number, active = true): void {
  const ref = useRef(fn);
  ref.current = fn;
  useEffect(() => {
    if (!active) return;
    ref.current();
    const t = setInterval(() => {
      if (document.visibilityState !== "hidden") ref.current();
    }, ms);
    return () => clearInterval(t);
  }, [ms, active]);
}

/** A form's submit: `run(fn)` clears the last error and issues, awaits `fn` while `busy`,
 *  and keeps what a failure said (the server's issues name the fields to mark). */
export function useSubmit() {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState("");
  const [issues, setIssues] = useState<Issue[]>([]);
  async function run(fn: () => Promise<void>): Promise<void> {
    setError("");
    setIssues([]);
    setBusy(true);
    try {
      await fn();
    } catch (err) {
      setError(failure(err));
      if (err instanceof ApiError) setIssues(err.issues);
    } finally {
      setBusy(false);
    }
  }
  return { busy, error, setError, issues, run };
}

export function ErrorBox({ error }: { error: string }) {
  return error ? <div className="error" role="alert">{error}</div> : null;
}

/** Every issue of a field: where (as a person reads it, unless the message says it), message, hint. */
export function FieldIssues({ issues }: { issues?: Issue[] }) {
  if (!issues?.length) return null;
  return (
    <ul className="cr-issues">
      {issues.map((i, k) => {
        const { where, message } = issueText(i);
        return (
          <li key={k}>
            {where && <span className="issue-path" title={i.path}>{where}: </span>}
            {message}
            {i.hint && <div className="hint">{i.hint}</div>}
          </li>
        );
      })}
    </ul>
  );
}

export function stateBadge(state: string) {
  return <span className={`badge state-${state}`}>{state}</span>;
}
