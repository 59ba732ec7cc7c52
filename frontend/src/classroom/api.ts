// The classroom API (lab/classroom/api.py), through the shared fetch helper.
import { api } from "../api";

export interface CourseSummary {
  id: number;
  name: string;
  description: string;
  role: "instructor" | "student";
  exercises: { id: number; title: string }[];
}

export interface StudentAdded {
  username: string;
  email: string;
  created: boolean;
  /** Null for an existing account: it signs in as before, no link is ever issued for it. */
  login_link: string | null;
}

export interface ResultColumn {
  exercise: number;
  check: number;
  title: string;
}
export interface ResultCell {
  started: boolean;
  lab: number | null;
  passed: boolean;
  last_pass: string | null;
}
export interface Results {
  columns: ResultColumn[];
  rows: { student: string; cells: ResultCell[] }[];
}

export interface CheckRow {
  index: number;
  title: string;
  passed: boolean;
  message: string;
  hint: string;
  last_run: string | null;
  last_pass: string | null;
}
export interface Attempt {
  exercise: number;
  lab: number;
  lab_state: string;
  checks: CheckRow[];
}
export interface Exercise {
  id: number;
  course: number;
  title: string;
  instructions: string;
  /** Markdown rendered with raw HTML off, then cleaned by nh3 on the server. */
  instructions_html: string;
  preconfigure: Record<string, unknown>;
  checks: { index: number; kind: string; title: string }[];
  template: Record<string, unknown>;
  attempt: Attempt | null;
}
export interface ExerciseIn {
  lab: number;
  title: string;
  instructions: string;
  preconfigure?: Record<string, unknown>;
  checks: unknown[];
}

export interface Reservation {
  id: number;
  lab: number;
  host: string;
  start: string;
  end: string;
  nodes: number;
  state: "booked" | "active" | "ended" | "cancelled" | string;
  warned: string | null;
}
export interface Quota {
  concurrent_labs: number | null;
  nodes_per_lab: number | null;
  hours_per_week: number | null;
}

export const ClassroomApi = {
  courses: () => api<CourseSummary[]>("GET", "/api/courses"),
  course: (id: number | string) => api<CourseSummary>("GET", `/api/courses/${id}`),
  createCourse: (name: string, description = "") => api<CourseSummary>("POST", "/api/courses", { name, description }),
  addStudents: (courseId: number | string, csv: string) =>
    api<StudentAdded[]>("POST", `/api/courses/${courseId}/students/csv`, { csv }),
  results: (courseId: number | string) => api<Results>("GET", `/api/courses/${courseId}/results`),
  resultsCsvUrl: (courseId: number | string) => `/api/courses/${courseId}/results.csv`,
  createExercise: (courseId: number | string, body: ExerciseIn) =>
    api<Exercise>("POST", `/api/courses/${courseId}/exercises`, body),
  exercise: (id: number | string) => api<Exercise>("GET", `/api/exercises/${id}`),
  start: (id: number | string) => api<Attempt>("POST", `/api/exercises/${id}/start`),
  reset: (id: number | string) => api<Attempt>("POST", `/api/exercises/${id}/reset`),
  runChecks: (labId: number) => api<Attempt>("POST", `/api/labs/${labId}/checks`),
  checks: (labId: number) => api<Attempt>("GET", `/api/labs/${labId}/checks`),
  reservations: () => api<Reservation[]>("GET", "/api/reservations"),
  book: (lab: number, start: string, end: string) => api<Reservation>("POST", "/api/reservations", { lab, start, end }),
  extend: (id: number, end: string) => api<Reservation>("POST", `/api/reservations/${id}/extend`, { end }),
  cancel: (id: number) => api<Reservation>("DELETE", `/api/reservations/${id}`),
  quota: () => api<Quota>("GET", "/api/quota"),
};
