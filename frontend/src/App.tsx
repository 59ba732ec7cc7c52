import { useEffect, useState } from "react";
import { Api, ApiError, type Me } from "./api";
import { Link, match, navigate, usePath } from "./router";
import { LoginPage } from "./pages/Login";
import { LabsPage } from "./pages/Labs";
import { DemosPage } from "./pages/Demos";
import { ClassroomPage } from "./pages/Classroom";
import { LabPage } from "./editor/LabPage";
import { PasswordForm } from "./pages/Password";
import { ConsoleWindow } from "./editor/ConsoleWindow";

export function App() {
  const path = usePath();
  const [me, setMe] = useState<Me | null | undefined>(undefined);

  useEffect(() => {
    Api.me()
      .then(setMe)
      .catch((e) => {
        setMe(null);
        if (e instanceof ApiError && (e.status === 401 || e.status === 403) && path !== "/login") {
          navigate(`/login?next=${encodeURIComponent(location.pathname)}`, true);
        }
      });
    // Only on first load and after sign-in/out; pages handle their own 401s.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  if (path === "/login") return <LoginPage onSignedIn={setMe} />;
  // A node's console in its own window (opened from the lab page's dock).
  const console_ = match("/labs/:id/console/:node", path);
  if (console_) return <ConsoleWindow labId={console_.id} node={console_.node} />;
  // The lab page loads its own data at once (and handles a 401 itself): no waiting for /me.
  const lab = match("/labs/:id", path);
  if (lab) return <LabPage labId={lab.id} />;
  if (me === undefined) return <div className="splash">Topolab</div>;

  let page: React.ReactNode;
  if (path === "/" || path === "/labs") page = <LabsPage />;
  else if (path === "/demos") page = <DemosPage />;
  else if (path.startsWith("/classroom") || path === "/reservations") page = <ClassroomPage path={path} />;
  else page = <div className="page"><h1>Not found</h1><p>No page at {path}.</p></div>;

  return (
    <div className="shell">
      <header className="topnav">
        <Link to="/labs" className="brand">
          <span className="brand-mark">◆</span> Topolab
        </Link>
        <nav>
          <Link to="/labs" className={path === "/labs" || path === "/" ? "active" : ""}>My labs</Link>
          <Link to="/demos" className={path === "/demos" ? "active" : ""}>Demo library</Link>
          <Link to="/classroom" className={path.startsWith("/classroom") ? "active" : ""}>Course</Link>
          <Link to="/reservations" className={path === "/reservations" ? "active" : ""}>Reservations</Link>
        </nav>
        <div className="spacer" />
        {/* The OpenAPI description of every endpoint, in a tab of its own. */}
        <a href="/api/docs" target="_blank" rel="noopener" className="api-docs" data-testid="api-docs">
          API docs
        </a>
        {me ? (
          <span className="user">
            {me.username}{" "}
            <PasswordForm />
            <button
              className="btn ghost"
              onClick={() => Api.logout().finally(() => navigate("/login"))}
            >
              Sign out
            </button>
          </span>
        ) : (
          <Link to="/login">Sign in</Link>
        )}
      </header>
      <main>{page}</main>
    </div>
  );
}
