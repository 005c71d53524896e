import Cancel from "@mui/icons-material/Cancel";
import Box from "@mui/material/Box";
import Chip from "@mui/material/Chip";
import IconButton from "@mui/material/IconButton";
import TextField from "@mui/material/TextField";
import Tooltip from "@mui/material/Tooltip";
import Typography from "@mui/material/Typography";
import { useVirtualizer } from "@tanstack/react-virtual";
import { useMemo, useRef, useState } from "react";

import type { ExecutionOut } from "@/client/orca-api";
import { StatusChip } from "@/components/ui/status-chip";
import { EXECUTION_STATES, TERMINAL_STATES, label } from "@/lib/states";
import { duration } from "@/lib/format";

const ROW = 56;

function detail(execution: ExecutionOut): string {
  if (execution.waiting) return execution.waiting.message;
  if (execution.error) return execution.error.message ?? execution.error.code;
  if (execution.exit_code !== null && execution.exit_code !== undefined)
    return `exit ${execution.exit_code}${execution.signal ? ` (${execution.signal})` : ""}`;
  if (execution.status === "running") return `running for ${duration(execution.started_at, null)}`;
  return "";
}

/** Every system of the job, virtualised: filter by state, find by name, pick one to see its output. */
export function ExecutionsList({
  executions,
  selected,
  onSelect,
  onCancel,
  canCancel,
}: {
  executions: ExecutionOut[];
  selected: string | null;
  onSelect: (id: string) => void;
  onCancel: (execution: ExecutionOut) => void;
  canCancel: boolean;
}) {
  const [status, setStatus] = useState<string | null>(null);
  const [find, setFind] = useState("");
  const scroller = useRef<HTMLDivElement>(null);
  const counts = useMemo(() => {
    const byStatus: Record<string, number> = {};
    for (const execution of executions)
      byStatus[execution.status] = (byStatus[execution.status] ?? 0) + 1;
    return byStatus;
  }, [executions]);
  const rows = useMemo(() => {
    const needle = find.trim().toLowerCase();
    return executions.filter(
      (execution) =>
        (!status || execution.status === status) &&
        (!needle || execution.system_name.toLowerCase().includes(needle)),
    );
  }, [executions, status, find]);
  const virtualizer = useVirtualizer({
    count: rows.length,
    getScrollElement: () => scroller.current,
    estimateSize: () => ROW,
    overscan: 10,
  });

  return (
    <Box sx={{ display: "flex", flexDirection: "column", minHeight: 0, height: "100%" }}>
      <Box
        sx={{ display: "flex", flexWrap: "wrap", gap: 0.75, mb: 1 }}
        role="group"
        aria-label="Filter by state"
      >
        <Chip
          label={`all ${executions.length}`}
          size="small"
          color={status === null ? "primary" : "default"}
          onClick={() => setStatus(null)}
        />
        {EXECUTION_STATES.filter((state) => counts[state]).map((state) => (
          <Chip
            key={state}
            size="small"
            label={`${label(state)} ${counts[state]}`}
            color={status === state ? "primary" : "default"}
            variant={status === state ? "filled" : "outlined"}
            onClick={() => setStatus(status === state ? null : state)}
          />
        ))}
      </Box>
      <TextField
        label="Find a system"
        value={find}
        onChange={(event) => setFind(event.target.value)}
        sx={{ mb: 1 }}
      />
      <Box
        ref={scroller}
        sx={{
          flexGrow: 1,
          minHeight: 200,
          overflow: "auto",
          border: 1,
          borderColor: "divider",
          borderRadius: 1,
        }}
        role="listbox"
        aria-label="Systems of this job"
        data-rows={rows.length}
      >
        <div style={{ height: virtualizer.getTotalSize(), position: "relative" }}>
          {virtualizer.getVirtualItems().map((item) => {
            const execution = rows[item.index];
            if (!execution) return null;
            const active = !TERMINAL_STATES.has(execution.status);
            return (
              <Box
                key={execution.id}
                role="option"
                aria-selected={execution.id === selected}
                data-system={execution.system_name}
                data-status={execution.status}
                tabIndex={0}
                onClick={() => onSelect(execution.id)}
                onKeyDown={(event) => {
                  if (event.key === "Enter" || event.key === " ") {
                    event.preventDefault();
                    onSelect(execution.id);
                  }
                }}
                sx={{
                  position: "absolute",
                  top: 0,
                  left: 0,
                  right: 0,
                  height: ROW,
                  transform: `translateY(${item.start}px)`,
                  display: "flex",
                  alignItems: "center",
                  gap: 1,
                  px: 1.5,
                  cursor: "pointer",
                  borderBottom: 1,
                  borderColor: "divider",
                  bgcolor: execution.id === selected ? "action.selected" : undefined,
                  "&:hover": { bgcolor: "action.hover" },
                  "&:focus-visible": {
                    outline: 2,
                    outlineColor: "primary.main",
                    outlineOffset: -2,
                  },
                }}
              >
                <StatusChip status={execution.status} />
                <Box sx={{ minWidth: 0, flexGrow: 1 }}>
                  <Typography noWrap sx={{ fontWeight: 500 }}>
                    {execution.system_name}
                  </Typography>
                  <Typography variant="body2" color="text.secondary" noWrap>
                    {detail(execution)}
                  </Typography>
                </Box>
                <Typography
                  variant="body2"
                  color="text.secondary"
                  sx={{ display: { xs: "none", sm: "block" }, fontVariantNumeric: "tabular-nums" }}
                >
                  {execution.started_at
                    ? duration(execution.started_at, execution.finished_at)
                    : ""}
                </Typography>
                {canCancel && active && !execution.cancel_requested_at && (
                  <Tooltip title={`Cancel on ${execution.system_name}`}>
                    <IconButton
                      size="small"
                      aria-label={`Cancel on ${execution.system_name}`}
                      onClick={(event) => {
                        event.stopPropagation();
                        onCancel(execution);
                      }}
                    >
                      <Cancel fontSize="small" />
                    </IconButton>
                  </Tooltip>
                )}
              </Box>
            );
          })}
        </div>
        {rows.length === 0 && (
          <Typography variant="body2" color="text.secondary" sx={{ p: 2 }}>
            No system matches.
          </Typography>
        )}
      </Box>
    </Box>
  );
}
