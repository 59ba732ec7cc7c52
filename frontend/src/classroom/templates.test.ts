import { describe, expect, it } from "vitest";
import { fromTemplateBody, summaryOf } from "./templates";

describe("fromTemplateBody", () => {
  it("leaves a blank title out so the server uses the template's", () => {
    expect(fromTemplateBody("ospf-configure-r2", "   ")).toEqual({ template: "ospf-configure-r2" });
    expect(fromTemplateBody("ospf-configure-r2", "")).toEqual({ template: "ospf-configure-r2" });
  });
  it("sends a given title trimmed", () => {
    expect(fromTemplateBody("dhcp-serve-the-segment", " Week 6 ")).toEqual({ template: "dhcp-serve-the-segment", title: "Week 6" });
  });
});

describe("summaryOf", () => {
  it("keeps the first paragraph as plain text", () => {
    expect(summaryOf("Write r2's `/etc/frr/frr.conf` (its **Files**)\nthen apply.\n\nMore later.")).toBe(
      "Write r2's /etc/frr/frr.conf (its Files) then apply.",
    );
  });
  it("is empty for an empty description", () => {
    expect(summaryOf("")).toBe("");
  });
});
