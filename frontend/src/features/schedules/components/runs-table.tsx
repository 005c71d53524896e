import Link from "@mui/material/Link";
import MenuItem from "@mui/material/MenuItem";
import Paper from "@mui/material/Paper";
import Table from "@mui/material/Table";
import TableBody from "@mui/material/TableBody";
import TableCell from "@mui/material/TableCell";
import TableContainer from "@mui/material/TableContainer";
import TableHead from "@mui/material/TableHead";
import TableRow from "@mui/material/TableRow";
import TextField from "@mui/material/TextField";
import Typography from "@mui/material/Typography";
import { useState } from "react";
import { Link as RouterLink } from "react-router";

import { useListRunsQuery, type ScheduleRunStatus } from "@/client/orca-api";
import { EmptyRow } from "@/components/ui/empty-row";
import { Pager } from "@/components/ui/pager";
import { ProblemAlert } from "@/components/ui/problem-alert";
import { StatusChip } from "@/components/ui/status-chip";
import { paths } from "@/config/paths";
import { useCursorPages } from "@/hooks/use-cursor-pages";
import { ago, whenIn } from "@/lib/format";

const RUN_STATES: ScheduleRunStatus[] = ["launched", "missed", "skipped", "failed"];

/** What became of each due time, newest first: launched (with its job), missed, skipped or
 * failed, and why. */
export function RunsTable({ scheduleId, timeZone }: { scheduleId: string; timeZone: string }) {
  const [status, setStatus] = useState<ScheduleRunStatus | "">("");
  const pages = useCursorPages(status);
  const { data, error, isFetching } = useListRunsQuery(
    { scheduleId, limit: 20, cursor: pages.cursor, status: status ? [status] : undefined },
    { pollingInterval: 30000 },
  );
  return (
    <>
      <TextField
        select
        label="Status"
        value={status}
        onChange={(event) => setStatus(event.target.value as ScheduleRunStatus | "")}
        sx={{ minWidth: 160, mb: 1.5 }}
      >
        <MenuItem value="">Any</MenuItem>
        {RUN_STATES.map((state) => (
          <MenuItem key={state} value={state}>
            <StatusChip status={state} />
          </MenuItem>
        ))}
      </TextField>
      <ProblemAlert error={error} title="Could not list the runs" />
      <Paper variant="outlined">
        <TableContainer>
          <Table size="small" aria-label="Run history" aria-busy={isFetching}>
            <TableHead>
              <TableRow>
                <TableCell>Due</TableCell>
                <TableCell>Status</TableCell>
                <TableCell>Job</TableCell>
                <TableCell sx={{ display: { xs: "none", md: "table-cell" } }}>Message</TableCell>
              </TableRow>
            </TableHead>
            <TableBody>
              {data?.items.map((run) => (
                <TableRow key={run.id} hover data-status={run.status}>
                  <TableCell>
                    {whenIn(run.due_at, timeZone)}
                    <Typography variant="body2" color="text.secondary">
                      {ago(run.due_at)}
                    </Typography>
                  </TableCell>
                  <TableCell>
                    <StatusChip status={run.status} />
                  </TableCell>
                  <TableCell>
                    {run.job_id ? (
                      <Link component={RouterLink} to={paths.job(run.job_id)} underline="hover">
                        {run.status === "skipped" ? "the job still running" : "Open the job"}
                      </Link>
                    ) : (
                      "—"
                    )}
                  </TableCell>
                  <TableCell
                    sx={{ display: { xs: "none", md: "table-cell" }, overflowWrap: "anywhere" }}
                  >
                    {run.message ?? "—"}
                  </TableCell>
                </TableRow>
              ))}
              <EmptyRow show={data?.items.length === 0} colSpan={4}>
                {status ? `No ${status} run.` : "Nothing has been due yet."}
              </EmptyRow>
            </TableBody>
          </Table>
        </TableContainer>
      </Paper>
      <Pager pages={pages} result={data} />
    </>
  );
}
