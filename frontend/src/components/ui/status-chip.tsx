import Chip, { type ChipProps } from "@mui/material/Chip";

import { label } from "@/lib/states";

type Colour = ChipProps["color"];

const STATUS: Record<string, Colour> = {
  pending: "default",
  queued: "secondary",
  running: "info",
  succeeded: "success",
  failed: "error",
  timed_out: "warning",
  error: "error",
  cancelled: "default",
  // What became of a schedule's due time.
  launched: "success",
  missed: "warning",
  skipped: "default",
};

const HEALTH: Record<string, Colour> = {
  healthy: "success",
  unknown: "default",
  unreachable: "error",
  auth_failed: "error",
  host_key_mismatch: "error",
  host_key_unknown: "warning",
  tls_error: "error",
  error: "error",
};

const HEALTH_LABEL: Record<string, string> = {
  healthy: "healthy",
  unknown: "not checked",
  unreachable: "unreachable",
  auth_failed: "auth failed",
  host_key_mismatch: "host key changed",
  host_key_unknown: "host key not trusted",
  tls_error: "TLS error",
  error: "error",
};

/** An execution's, job's or schedule run's status. */
export function StatusChip({
  status,
  size = "small",
}: {
  status: string;
  size?: ChipProps["size"];
}) {
  const colour = STATUS[status] ?? "default";
  return (
    <Chip
      size={size}
      color={colour}
      variant={colour === "default" ? "outlined" : "filled"}
      label={label(status)}
      data-status={status}
    />
  );
}

/** A system's health. */
export function HealthChip({
  health,
  size = "small",
}: {
  health: string;
  size?: ChipProps["size"];
}) {
  const colour = HEALTH[health] ?? "default";
  return (
    <Chip
      size={size}
      color={colour}
      variant={colour === "default" ? "outlined" : "filled"}
      label={HEALTH_LABEL[health] ?? label(health)}
      data-health={health}
    />
  );
}
