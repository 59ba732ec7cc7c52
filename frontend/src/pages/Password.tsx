import { useState } from "react";
import { api, ApiError } from "../api";

/** POST /api/auth/password: the current password is not needed right after a one-time link. */
export function changePassword(currentPassword: string, newPassword: string): Promise<unknown> {
  return api("POST", "/api/auth/password", {
    ...(currentPassword ? { current_password: currentPassword } : {}),
    new_password: newPassword,
  });
}

/** The header's "Password" button and its small form (change the signed-in user's password). */
export function PasswordForm() {
  const [open, setOpen] = useState(false);
  const [current, setCurrent] = useState("");
  const [next, setNext] = useState("");
  const [message, setMessage] = useState<{ ok: boolean; text: string } | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(e: React.FormEvent) {
    e.preventDefault();
    setBusy(true);
    setMessage(null);
    try {
      await changePassword(current, next);
      setMessage({ ok: true, text: "Password changed. Your other sessions were signed out." });
      setCurrent("");
      setNext("");
    } catch (err) {
      const text = err instanceof ApiError ? err.issues.map((i) => i.message).join(" ") || err.message : String(err);
      setMessage({ ok: false, text });
    } finally {
      setBusy(false);
    }
  }

  return (
    <span className="password">
      <button className="btn ghost" type="button" aria-expanded={open} onClick={() => setOpen(!open)}>
        Password
      </button>
      {open && (
        <form className="card password-form" onSubmit={submit} aria-label="Change password">
          <label className="field">
            Current password (leave empty right after a sign-in link)
            <input type="password" name="current_password" autoComplete="current-password" value={current} onChange={(e) => setCurrent(e.target.value)} />
          </label>
          <label className="field">
            New password (10 characters or more)
            <input type="password" name="new_password" autoComplete="new-password" value={next} onChange={(e) => setNext(e.target.value)} />
          </label>
          {message && <div className={message.ok ? "muted" : "error"} role={message.ok ? "status" : "alert"}>{message.text}</div>}
          <button className="btn primary" type="submit" disabled={busy || !next}>
            {busy ? "Saving…" : "Change password"}
          </button>
        </form>
      )}
    </span>
  );
}
