// The states the API reports, in the order people read them.
export const EXECUTION_STATES = [
  "pending",
  "queued",
  "running",
  "succeeded",
  "failed",
  "timed_out",
  "error",
  "cancelled",
];
export const TERMINAL_STATES = new Set(["succeeded", "failed", "timed_out", "error", "cancelled"]);
export const HEALTH_STATES = [
  "healthy",
  "unknown",
  "unreachable",
  "auth_failed",
  "host_key_mismatch",
  "host_key_unknown",
  "tls_error",
  "error",
];

/** `timed_out` as `timed out`. */
export function label(value: string): string {
  return value.replace(/_/g, " ");
}
