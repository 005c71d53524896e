import Box from "@mui/material/Box";
import Tooltip from "@mui/material/Tooltip";
import { useTheme } from "@mui/material/styles";

import type { ExecutionOut } from "@/client/orca-api";
import { label } from "@/lib/states";

// Beyond this many systems the tiles stop helping; the list below still has them all.
const MAX_TILES = 2000;

/** One tile per system, coloured by state: the whole job at a glance. */
export function StatusGrid({
  executions,
  selected,
  onSelect,
}: {
  executions: ExecutionOut[];
  selected: string | null;
  onSelect: (id: string) => void;
}) {
  const theme = useTheme();
  const colour: Record<string, string> = {
    pending: theme.palette.action.disabled,
    queued: theme.palette.secondary.main,
    running: theme.palette.info.main,
    succeeded: theme.palette.success.main,
    failed: theme.palette.error.main,
    timed_out: theme.palette.warning.main,
    error: theme.palette.error.dark,
    cancelled: theme.palette.grey[500],
  };
  if (executions.length > MAX_TILES) return null;
  return (
    <Box
      sx={{ display: "flex", flexWrap: "wrap", gap: "3px" }}
      aria-hidden="true"
      data-testid="status-grid"
    >
      {executions.map((execution) => (
        <Tooltip
          key={execution.id}
          title={`${execution.system_name}: ${label(execution.status)}`}
          disableInteractive
        >
          <Box
            onClick={() => onSelect(execution.id)}
            data-status={execution.status}
            sx={{
              width: 14,
              height: 14,
              borderRadius: "3px",
              bgcolor: colour[execution.status] ?? "grey.500",
              cursor: "pointer",
              outline:
                execution.id === selected ? `2px solid ${theme.palette.text.primary}` : undefined,
              outlineOffset: 1,
              animation:
                execution.status === "running" ? "orca-pulse 1.6s ease-in-out infinite" : undefined,
            }}
          />
        </Tooltip>
      ))}
    </Box>
  );
}
