// A template's typed parameters as a launch or schedule form fills them in: the text typed (or
// the switch flipped) per parameter, and the values the API takes. The checks here mirror the
// API's so a person sees a problem as they type; the API checks again and has the last word.
import type { Parameter, ParameterType } from "@/client/orca-api";

export type ParameterValue = boolean | number | string;
/** What each input holds: a boolean for a switch, the text typed for every other type. */
export type ParameterDraft = Record<string, string | boolean>;

export function typeOf(parameter: Parameter): ParameterType {
  return parameter.type ?? "string";
}

export function labelOf(parameter: Parameter): string {
  return parameter.label?.trim() || parameter.name;
}

/** Required and without a default: a launch must give it. */
export function mustGive(parameter: Parameter): boolean {
  return (parameter.required ?? true) && (parameter.default ?? null) === null;
}

export function envName(parameter: Parameter): string {
  return `ORCA_PARAM_${parameter.name.toUpperCase()}`;
}

/** The inputs' starting values: the values given (a schedule's), else each default. Secret
 * values are never shown, so a secret input starts empty. */
export function initialDraft(
  parameters: Parameter[],
  given: Record<string, unknown> = {},
): ParameterDraft {
  const draft: ParameterDraft = {};
  for (const parameter of parameters) {
    const kind = typeOf(parameter);
    const value = parameter.name in given ? given[parameter.name] : parameter.default;
    if (kind === "boolean") draft[parameter.name] = value === true || value === "true";
    else if (kind === "secret") draft[parameter.name] = "";
    else draft[parameter.name] = value === null || value === undefined ? "" : String(value);
  }
  return draft;
}

/** The values to send. An empty input is left out, so the API uses the default (or says a
 * value is required); an integer goes as a number when it is one, else as typed for the API
 * to refuse in its own words. */
export function valuesOf(
  parameters: Parameter[],
  draft: ParameterDraft,
): Record<string, ParameterValue> {
  const values: Record<string, ParameterValue> = {};
  for (const parameter of parameters) {
    const raw = draft[parameter.name];
    if (raw === undefined) continue;
    if (typeof raw === "boolean") {
      values[parameter.name] = raw;
      continue;
    }
    if (raw === "") continue;
    if (typeOf(parameter) === "integer") {
      const text = raw.trim();
      values[parameter.name] = /^-?\d{1,15}$/.test(text) ? Number(text) : text;
      continue;
    }
    values[parameter.name] = raw;
  }
  return values;
}

function patternOf(pattern: string): RegExp | null {
  try {
    // Python's re.fullmatch: the whole value must match.
    return new RegExp(`^(?:${pattern})$`);
  } catch {
    return null; // A Python-only construct: the API alone checks it.
  }
}

/** What is wrong with a value typed so far, or null. An empty value is no problem here: the
 * field is marked required, and the API says so if it stays empty. */
export function valueProblem(
  parameter: Parameter,
  value: string | boolean | undefined,
): string | null {
  const kind = typeOf(parameter);
  if (value === undefined || typeof value === "boolean" || value === "") return null;
  if (kind === "integer") {
    if (!/^-?\d{1,18}$/.test(value.trim())) return "must be an integer";
    const number = Number(value.trim());
    if (parameter.minimum !== null && parameter.minimum !== undefined && number < parameter.minimum)
      return `must be at least ${parameter.minimum}`;
    if (parameter.maximum !== null && parameter.maximum !== undefined && number > parameter.maximum)
      return `must be at most ${parameter.maximum}`;
    return null;
  }
  if (kind === "choice") {
    return parameter.choices?.includes(value)
      ? null
      : `must be one of ${(parameter.choices ?? []).join(", ")}`;
  }
  const length = [...value].length;
  if (
    parameter.max_length !== null &&
    parameter.max_length !== undefined &&
    length > parameter.max_length
  )
    return `must be at most ${parameter.max_length} characters`;
  if (
    parameter.min_length !== null &&
    parameter.min_length !== undefined &&
    length < parameter.min_length
  )
    return `must be at least ${parameter.min_length} characters`;
  if (kind === "string" && parameter.pattern) {
    const pattern = patternOf(parameter.pattern);
    if (pattern && !pattern.test(value)) return `must match ${parameter.pattern}`;
  }
  return null;
}

/** The rules of a parameter in words: "3 to 20 characters · matching ^[a-z]+$". */
export function hintOf(parameter: Parameter): string {
  const kind = typeOf(parameter);
  const parts: string[] = [];
  const has = (value: number | null | undefined): value is number =>
    value !== null && value !== undefined;
  if (kind === "integer") {
    if (has(parameter.minimum) && has(parameter.maximum))
      parts.push(`${parameter.minimum} to ${parameter.maximum}`);
    else if (has(parameter.minimum)) parts.push(`at least ${parameter.minimum}`);
    else if (has(parameter.maximum)) parts.push(`at most ${parameter.maximum}`);
  }
  if (kind === "string" || kind === "secret") {
    if (has(parameter.min_length) && has(parameter.max_length))
      parts.push(`${parameter.min_length} to ${parameter.max_length} characters`);
    else if (has(parameter.min_length)) parts.push(`at least ${parameter.min_length} characters`);
    else if (has(parameter.max_length)) parts.push(`at most ${parameter.max_length} characters`);
  }
  if (kind === "string" && parameter.pattern) parts.push(`matching ${parameter.pattern}`);
  if (!mustGive(parameter) && (parameter.default ?? null) === null && kind !== "boolean")
    parts.push("optional");
  if ((parameter.default ?? null) !== null) parts.push(`default ${String(parameter.default)}`);
  return parts.join(" · ");
}

/** A value as a page shows it. */
export function shown(value: unknown): string {
  if (value === null || value === undefined) return "—";
  if (typeof value === "string") return value;
  return JSON.stringify(value);
}
