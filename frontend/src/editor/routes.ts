import type { Route } from "../model/types";

/** Parse `10.1.0.0/24 via 10.0.0.1 dev eth0 metric 10` lines, as `ip route` writes them. */
export function parseRoutes(text: string): Route[] {
  return text
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean)
    .map((l) => {
      const words = l.split(/\s+/);
      const r: Route = { dst: words[0] };
      for (let i = 1; i < words.length - 1; i += 2) {
        if (words[i] === "via") r.via = words[i + 1];
        else if (words[i] === "dev") r.dev = words[i + 1];
        else if (words[i] === "metric") r.metric = Number(words[i + 1]);
      }
      return r;
    });
}
