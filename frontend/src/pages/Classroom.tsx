// The classroom pages live in src/classroom/ (course dashboard, exercise, reservations).
import { ClassroomRoutes } from "../classroom";

export function ClassroomPage({ path }: { path: string }) {
  return <ClassroomRoutes path={path} />;
}
