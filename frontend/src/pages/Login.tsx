import { useEffect, useRef, useState } from "react";
import { Api, ApiError, type Me } from "../api";
import { navigate } from "../router";

export function LoginPage({ onSignedIn }: { onSignedIn: (me: Me) => void }) {
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  // A one-time sign-in link from an instructor: /login?token=...
  const [token] = useState(() => new URLSearchParams(location.search).get("token") ?? "");
  const redeemed = useRef(false);

  useEffect(() => {
    if (!token || redeemed.current) return;
    redeemed.current = true;
    setBusy(true);
    Api.loginWithToken(token)
      .then((me) => {
        onSignedIn(me);
        navigate("/classroom", true);
      })
      .catch((err) => setError(err instanceof ApiError ? err.message : String(err)))
      .finally(() => setBusy(false));
  }, [token, onSignedIn]);

  async function submit(e: React.FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError("");
    try {
      const me = await Api.login(username, password);
      onSignedIn(me && me.username ? me : { username });
      const next = new URLSearchParams(location.search).get("next");
      navigate(next && next.startsWith("/") && !next.startsWith("//") ? next : "/labs");
    } catch (err) {
      setError(err instanceof ApiError ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <div className="login">
      <form className="card login-card" onSubmit={submit}>
        <div className="login-brand">
          <span className="brand-mark">◆</span> Topolab
        </div>
        <p className="muted">Draw a network. Build it for real.</p>
        {token && busy && <p className="muted" role="status">Signing you in with your link…</p>}
        <label>
          Username
          <input name="username" autoComplete="username" value={username} onChange={(e) => setUsername(e.target.value)} autoFocus />
        </label>
        <label>
          Password
          <input name="password" type="password" autoComplete="current-password" value={password} onChange={(e) => setPassword(e.target.value)} />
        </label>
        {error && <div className="error" role="alert">{error}</div>}
        <button className="btn primary" type="submit" disabled={busy || !username}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
      </form>
    </div>
  );
}
