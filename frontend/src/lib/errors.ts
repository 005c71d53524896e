// The one place that turns a failed API call into words for a person: every error from the
// API has the shape {"error": {"code", "message", "details"}}, validation errors list fields.
import type { FetchBaseQueryError } from "@reduxjs/toolkit/query";
import type { SerializedError } from "@reduxjs/toolkit";

export type FieldError = { field: string; message: string };
export type ApiProblem = {
  status: number | string;
  code: string;
  message: string;
  fields: FieldError[];
};

type ErrorBody = { error?: { code?: string; message?: string; details?: unknown } };

function fieldsOf(details: unknown): FieldError[] {
  if (!Array.isArray(details)) return [];
  return details.flatMap((item) => {
    if (item && typeof item === "object" && "field" in item && "message" in item) {
      return [{ field: String(item.field), message: String(item.message) }];
    }
    return [];
  });
}

export function problemOf(
  error: FetchBaseQueryError | SerializedError | undefined,
): ApiProblem | null {
  if (!error) return null;
  if ("status" in error) {
    if (error.status === "FETCH_ERROR") {
      return { status: 0, code: "offline", message: "Cannot reach the Orca server.", fields: [] };
    }
    if (error.status === "TIMEOUT_ERROR") {
      return {
        status: 0,
        code: "timeout",
        message: "The Orca server did not answer in time.",
        fields: [],
      };
    }
    const body = (error.data ?? {}) as ErrorBody;
    return {
      status: error.status,
      code: body.error?.code ?? "error",
      message: body.error?.message ?? `The request failed (${String(error.status)}).`,
      fields: fieldsOf(body.error?.details),
    };
  }
  return {
    status: "CLIENT",
    code: "client",
    message: error.message ?? "Something went wrong.",
    fields: [],
  };
}

/** The message for one form field, matching the API's field path (`targets.systems`,
 * `body.name`, `parameters[0].name` or `parameters.0.name`). */
export function fieldMessage(problem: ApiProblem | null, field: string): string | undefined {
  if (!problem) return undefined;
  const match = problem.fields.find(
    (item) =>
      item.field === field ||
      item.field === `body.${field}` ||
      item.field.startsWith(`${field}.`) ||
      item.field.startsWith(`${field}[`),
  );
  if (match) return match.message;
  return problem.message.startsWith(`${field}:`)
    ? problem.message.slice(field.length + 1).trim()
    : undefined;
}
