// The classroom API (lab/classroom/api.py), through the shared fetch helper.
import { api } from "../api";

export interface CourseSummary {
  id: number;
  name: string;
  description: string;
  role: "instructor" | "student";
  /** Drafts (``published`` false) are listed to the course's instructors only. */
  exercises: { id: number; title: string; published: boolean }[];
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
/** A student's copy of one exercise, with its live state (links of the results table). */
export interface StudentLab {
  exercise: number;
  lab: number;
  state: string;
}
export interface Results {
  columns: ResultColumn[];
  rows: { student: string; cells: ResultCell[]; labs: StudentLab[] }[];
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
  /** Whether the caller teaches the exercise's course. */
  manage: boolean;
  /** False: a draft, seen by the course's instructors only. */
  published: boolean;
  /** The checks as stored (instructors only; null for students). */
  specs: Record<string, unknown>[] | null;
}
export interface ExercisePatch {
  title?: string;
  instructions?: string;
  preconfigure?: Record<string, unknown>;
  checks?: unknown[];
  published?: boolean;
}

/** One lab of a bulk destroy or reset. */
export interface BulkRow {
  lab: number;
  student: string;
  exercise: number;
  outcome: "destroying" | "skipped" | "applying" | "deploying" | "refused" | string;
  code: string;
  message: string;
}

export type QuotaName = "concurrent_labs" | "nodes_per_lab" | "labs_owned" | "hours_per_week";
export type Limits = Record<QuotaName, number | null>;
export interface CourseQuota {
  quota: Limits;
  site: Limits;
}

/** The checks builder's description of one check kind (lab/classroom/check_forms.py). */
export interface CheckField {
  name: string;
  label: string;
  type: "node" | "interface" | "text" | "integer" | "boolean" | "choice";
  required: boolean;
  default: unknown;
  min?: number | null;
  max?: number | null;
  choices?: string[];
  formats?: string[];
  suggestions?: string[];
}
export interface CheckForm {
  kind: string;
  description: string;
  fields: CheckField[];
}
/** A ready exercise of the catalog (GET /api/classroom/exercise-templates, instructors). */
export interface ExerciseTemplate {
  slug: string;
  title: string;
  /** The instructions students get (Markdown). */
  description: string;
  nodes: number;
}
export interface FromTemplateIn {
  template: string;
  title?: string;
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
  labs_owned?: number | null;
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
  me: () => api<{ can_create_courses: boolean }>("GET", "/api/classroom/me"),
  checkForms: () => api<CheckForm[]>("GET", "/api/classroom/check-forms"),
  bulk: (courseId: number, action: "destroy" | "reset", exercise: number | null = null) =>
    api<BulkRow[]>("POST", `/api/courses/${courseId}/labs/${action}`, { exercise }),
  courseQuota: (courseId: number) => api<CourseQuota>("GET", `/api/courses/${courseId}/quota`),
  setCourseQuota: (courseId: number, quota: Limits) => api<CourseQuota>("PUT", `/api/courses/${courseId}/quota`, quota),
  updateExercise: (id: number, patch: ExercisePatch) => api<Exercise>("PATCH", `/api/exercises/${id}`, patch),
  duplicateExercise: (id: number, course: number | null = null) => api<Exercise>("POST", `/api/exercises/${id}/duplicate`, { course }),
  exerciseTemplates: () => api<ExerciseTemplate[]>("GET", "/api/classroom/exercise-templates"),
  exerciseFromTemplate: (courseId: number, body: FromTemplateIn) =>
    api<Exercise>("POST", `/api/courses/${courseId}/exercises/from-template`, body),
};
