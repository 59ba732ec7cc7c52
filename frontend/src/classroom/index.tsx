// The classroom's pages under /classroom and /reservations (routed by ClassroomPage).
import { match } from "../router";
import { CoursePage, CoursesPage } from "./Dashboard";
import { ExercisePage } from "./ExercisePage";
import { ReservationsPage } from "./Reservations";
import { StudentLabPage } from "./StudentLab";
import "./classroom.css";

export function ClassroomRoutes({ path }: { path: string }) {
  const p = path.replace(/\/+$/, "") || "/";
  if (p === "/reservations" || p === "/classroom/reservations") return <ReservationsPage />;
  const exercise = match("/classroom/exercises/:id", p);
  if (exercise) return <ExercisePage key={exercise.id} id={exercise.id} />;
  const watched = match("/classroom/labs/:id", p);
  if (watched) return <StudentLabPage key={watched.id} id={watched.id} />;
  const course = match("/classroom/courses/:id", p);
  if (course) return <CoursePage key={course.id} id={course.id} />;
  if (p === "/classroom" || p === "/classroom/courses") return <CoursesPage />;
  return <div className="page"><h1>Not found</h1><p>No page at {path}.</p></div>;
}
