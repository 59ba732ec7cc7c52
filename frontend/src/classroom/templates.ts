// Pure helpers of the "From a template…" picker (TemplatePicker.tsx).
import type { FromTemplateIn } from "./api";

/** The request body: an empty or blank title is left out, so the template's title is used. */
export function fromTemplateBody(template: string, title: string): FromTemplateIn {
  const t = title.trim();
  return t ? { template, title: t } : { template };
}

/** The first paragraph of a template's Markdown description, without the Markdown marks
 *  the picker cannot show as plain text (`code`, **bold**). */
export function summaryOf(description: string): string {
  const first = description.split(/\n\s*\n/)[0] ?? "";
  return first.replace(/\*\*|`/g, "").replace(/\s+/g, " ").trim();
}
