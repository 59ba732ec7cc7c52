// One vocabulary for a lab's state, shared by My labs and the lab page.
//
// The lab's own state (lab/models.py Lab.State: stopped, deploying, running,
// destroying, failed, unknown) is what both pages show; a deployment's states
// (pending, planning, applying, destroyed ...) only drive the progress bar. Mixing
// the two made one page say "destroyed" and the other "stopped" for the same lab.

export type LabStateName = "stopped" | "deploying" | "running" | "destroying" | "failed" | "unknown";

const BUSY = new Set(["deploying", "destroying"]);

/** The words a person reads for a lab state ("" while it is not known yet). */
export function stateLabel(state: string, action?: string | null): string {
  switch (state) {
    case "":
      return "…";
    case "stopped":
      return "not deployed";
    case "deploying":
      return action === "apply" ? "applying changes" : "deploying";
    default:
      return state;
  }
}

/** Whether a deployment of the lab is under way (the buttons wait for it). */
export function isBusy(state: string): boolean {
  return BUSY.has(state);
}

export interface DeployControls {
  /** What the main button does: build the lab, or bring a running lab up to date. */
  primary: "deploy" | "apply";
  primaryLabel: string;
  primaryEnabled: boolean;
  destroyEnabled: boolean;
}

/**
 * The deploy buttons for a lab state. Only a running lab takes "Apply changes" (the
 * server refuses an apply otherwise); while a deployment runs the button keeps the
 * name of what is running; a failed or unknown lab can be deployed again or destroyed.
 */
export function deployControls(state: string, action?: string | null): DeployControls {
  const applying = state === "running" || (state === "deploying" && action === "apply");
  const busy = isBusy(state) || state === "";
  return {
    primary: applying ? "apply" : "deploy",
    primaryLabel: applying ? "Apply changes" : "Deploy",
    primaryEnabled: !busy,
    destroyEnabled: ["running", "failed", "unknown"].includes(state),
  };
}

/** Whether the lab's nodes exist in the kernel (or are being made), for the canvas dots. */
export function hasKernelState(state: string): boolean {
  return ["running", "deploying", "destroying", "failed", "unknown"].includes(state);
}
