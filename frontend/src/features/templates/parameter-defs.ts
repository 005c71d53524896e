// A template's parameter definitions as the editor holds them (text as typed), and as the API
// takes them: only the fields that apply to the parameter's type are sent, so a constraint
// left behind after a type change never makes the API refuse the template.
import type { Parameter, ParameterType } from "@/client/orca-api";

export type ParameterDef = {
  /** For React: stays the same while the name is edited. */
  key: string;
  name: string;
  label: string;
  description: string;
  type: ParameterType;
  required: boolean;
  /** As typed; for a boolean "true", "false" or "" (none). */
  default: string;
  choices: string[];
  minimum: string;
  maximum: string;
  minLength: string;
  maxLength: string;
  pattern: string;
};

export const PARAMETER_TYPES: { value: ParameterType; label: string }[] = [
  { value: "string", label: "Text" },
  { value: "integer", label: "Integer" },
  { value: "boolean", label: "Yes / no" },
  { value: "choice", label: "Choice" },
  { value: "secret", label: "Secret" },
];

let counter = 0;
const nextKey = () => `p${++counter}`;

const text = (value: number | string | boolean | null | undefined) =>
  value === null || value === undefined ? "" : String(value);

export function newDef(): ParameterDef {
  return {
    key: nextKey(),
    name: "",
    label: "",
    description: "",
    type: "string",
    required: true,
    default: "",
    choices: [],
    minimum: "",
    maximum: "",
    minLength: "",
    maxLength: "",
    pattern: "",
  };
}

export function defOf(parameter: Parameter): ParameterDef {
  return {
    key: nextKey(),
    name: parameter.name,
    label: text(parameter.label),
    description: text(parameter.description),
    type: parameter.type ?? "string",
    required: parameter.required ?? true,
    default: text(parameter.default),
    choices: parameter.choices ?? [],
    minimum: text(parameter.minimum),
    maximum: text(parameter.maximum),
    minLength: text(parameter.min_length),
    maxLength: text(parameter.max_length),
    pattern: text(parameter.pattern),
  };
}

/** A whole number as typed, or the text itself for the API to refuse naming the field. */
function integer(value: string): number | null {
  const trimmed = value.trim();
  if (!trimmed) return null;
  return /^-?\d{1,15}$/.test(trimmed) ? Number(trimmed) : (trimmed as unknown as number);
}

function defaultOf(def: ParameterDef): Parameter["default"] {
  if (def.type === "secret" || def.default === "") return null;
  if (def.type === "boolean") return def.default === "true";
  if (def.type === "integer") return integer(def.default);
  return def.default;
}

export function parameterOf(def: ParameterDef): Parameter {
  const parameter: Parameter = {
    name: def.name.trim(),
    label: def.label.trim() || null,
    description: def.description.trim() || null,
    type: def.type,
    required: def.required,
    default: defaultOf(def),
  };
  if (def.type === "choice") parameter.choices = def.choices;
  if (def.type === "integer") {
    parameter.minimum = integer(def.minimum);
    parameter.maximum = integer(def.maximum);
  }
  if (def.type === "string" || def.type === "secret") {
    parameter.min_length = integer(def.minLength);
    parameter.max_length = integer(def.maxLength);
  }
  if (def.type === "string") parameter.pattern = def.pattern || null;
  return parameter;
}

/** The names `{{ name }}` in a command or script refers to. */
export function placeholders(text: string): string[] {
  return [
    ...new Set([...text.matchAll(/\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g)].map((m) => m[1]!)),
  ];
}
