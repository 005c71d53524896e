// A job form's targets as typed, and as the API takes them.
import type { Targets } from "@/client/orca-api";

export type TargetDraft = { systems: string[]; groups: string[]; selectors: string[] };

export function parseSelector(text: string): Record<string, string> | null {
  const labels: Record<string, string> = {};
  for (const part of text.split(",")) {
    const item = part.trim();
    if (!item) continue;
    const at = item.indexOf("=");
    if (at <= 0) return null;
    labels[item.slice(0, at).trim()] = item.slice(at + 1).trim();
  }
  return Object.keys(labels).length ? labels : null;
}

export function toTargets(draft: TargetDraft): Targets {
  return {
    systems: draft.systems,
    groups: draft.groups,
    labels: draft.selectors
      .map(parseSelector)
      .filter((labels): labels is Record<string, string> => labels !== null),
  };
}
