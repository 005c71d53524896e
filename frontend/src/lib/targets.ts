// A job's or template's targets as typed in a form, and as the API takes and shows them.
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

/** Targets as a job or template shows them (`{systems, groups, labels}`), back into a draft. */
export function draftOf(targets: Record<string, unknown> | undefined): TargetDraft {
  const given = (targets ?? {}) as {
    systems?: string[];
    groups?: string[];
    labels?: Record<string, string>[];
  };
  return {
    systems: given.systems ?? [],
    groups: given.groups ?? [],
    selectors: (given.labels ?? []).map((labels) =>
      Object.entries(labels)
        .map(([key, value]) => `${key}=${value}`)
        .join(", "),
    ),
  };
}

/** "web-1, web-2 · group web · os=linux" */
export function describeTargets(targets: Record<string, unknown> | undefined): string {
  const draft = draftOf(targets);
  return [
    draft.systems.join(", "),
    ...draft.groups.map((group) => `group ${group}`),
    ...draft.selectors.map((selector) => `labels ${selector}`),
  ]
    .filter(Boolean)
    .join(" · ");
}
