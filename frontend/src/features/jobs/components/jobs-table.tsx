import Box from "@mui/material/Box";
import Chip from "@mui/material/Chip";
import FormControlLabel from "@mui/material/FormControlLabel";
import Link from "@mui/material/Link";
import MenuItem from "@mui/material/MenuItem";
import Paper from "@mui/material/Paper";
import Switch from "@mui/material/Switch";
import Table from "@mui/material/Table";
import TableBody from "@mui/material/TableBody";
import TableCell from "@mui/material/TableCell";
import TableContainer from "@mui/material/TableContainer";
import TableHead from "@mui/material/TableHead";
import TableRow from "@mui/material/TableRow";
import TextField from "@mui/material/TextField";

import { useEffect, useState } from "react";
import { Link as RouterLink, useSearchParams } from "react-router";

import { useListJobsQuery, type JobOut, type JobStatus } from "@/client/orca-api";
import { EmptyRow } from "@/components/ui/empty-row";
import { Pager } from "@/components/ui/pager";
import { ProblemAlert } from "@/components/ui/problem-alert";
import { SearchField } from "@/components/ui/search-field";
import { StatusChip } from "@/components/ui/status-chip";
import { paths } from "@/config/paths";
import { useCursorPages } from "@/hooks/use-cursor-pages";
import { usePermissions } from "@/hooks/use-permissions";
import { ago, duration } from "@/lib/format";

const JOB_STATES: JobStatus[] = ["pending", "running", "succeeded", "failed", "cancelled"];

function Progress({ job }: { job: JobOut }) {
  const counts = job.counts;
  const parts = (
    [
      "succeeded",
      "failed",
      "timed_out",
      "error",
      "cancelled",
      "running",
      "queued",
      "pending",
    ] as const
  ).filter((state) => counts[state]);
  return (
    <Box sx={{ display: "flex", flexWrap: "wrap", gap: 0.5 }}>
      {parts.map((state) => (
        <Chip
          key={state}
          size="small"
          variant="outlined"
          label={`${counts[state]} ${state.replace("_", " ")}`}
        />
      ))}
    </Box>
  );
}

export function JobsTable() {
  const [search, setSearch] = useSearchParams();
  const { me } = usePermissions();
  const q = search.get("q") ?? "";
  const statuses = search.getAll("status") as JobStatus[];
  const mine = search.get("mine") === "1";
  const since = search.get("since") ?? "";
  const pages = useCursorPages(search.toString());

  // Every 5 s while a listed job runs; every 30 s otherwise (a new job may still appear).
  const [poll, setPoll] = useState(5000);
  const { data, error, isFetching } = useListJobsQuery(
    {
      limit: 50,
      cursor: pages.cursor,
      q: q || undefined,
      status: statuses.length ? statuses : undefined,
      createdBy: mine && me ? me.id : undefined,
      since: since ? new Date(Date.now() - Number(since) * 3600 * 1000).toISOString() : undefined,
    },
    { pollingInterval: poll },
  );
  const running = data?.items.some((job) => job.status === "pending" || job.status === "running");
  useEffect(() => setPoll(running === false ? 30000 : 5000), [running]);

  function update(change: (next: URLSearchParams) => void) {
    const next = new URLSearchParams(search);
    change(next);
    setSearch(next, { replace: true });
  }

  return (
    <>
      <Box
        sx={{ display: "flex", flexWrap: "wrap", gap: 1.5, mb: 2, alignItems: "center" }}
        role="search"
        aria-label="Filter jobs"
      >
        <SearchField
          value={q}
          onChange={(value) => update((next) => (value ? next.set("q", value) : next.delete("q")))}
          label="Search jobs"
        />
        <TextField
          select
          label="Status"
          value={statuses}
          onChange={(event) =>
            update((next) => {
              next.delete("status");
              const value = event.target.value as unknown as string[] | string;
              for (const item of Array.isArray(value) ? value : value.split(","))
                if (item) next.append("status", item);
            })
          }
          slotProps={{
            select: {
              multiple: true,
              renderValue: (value) => (value as string[]).join(", ") || "Any",
            },
          }}
          sx={{ minWidth: 170 }}
        >
          {JOB_STATES.map((state) => (
            <MenuItem key={state} value={state}>
              <StatusChip status={state} />
            </MenuItem>
          ))}
        </TextField>
        <TextField
          select
          label="Created"
          value={since}
          onChange={(event) =>
            update((next) =>
              event.target.value ? next.set("since", event.target.value) : next.delete("since"),
            )
          }
          sx={{ minWidth: 150 }}
        >
          <MenuItem value="">Any time</MenuItem>
          <MenuItem value="1">Last hour</MenuItem>
          <MenuItem value="24">Last 24 hours</MenuItem>
          <MenuItem value="168">Last 7 days</MenuItem>
        </TextField>
        <FormControlLabel
          control={
            <Switch
              checked={mine}
              onChange={(event) =>
                update((next) =>
                  event.target.checked ? next.set("mine", "1") : next.delete("mine"),
                )
              }
            />
          }
          label="Mine only"
        />
      </Box>
      <ProblemAlert error={error} title="Could not list jobs" />
      <Paper variant="outlined">
        <TableContainer>
          <Table size="small" aria-label="Jobs" aria-busy={isFetching}>
            <TableHead>
              <TableRow>
                <TableCell>Job</TableCell>
                <TableCell>Status</TableCell>
                <TableCell sx={{ display: { xs: "none", md: "table-cell" } }}>Systems</TableCell>
                <TableCell sx={{ display: { xs: "none", sm: "table-cell" } }}>By</TableCell>
                <TableCell sx={{ display: { xs: "none", sm: "table-cell" } }}>Created</TableCell>
                <TableCell sx={{ display: { xs: "none", lg: "table-cell" } }}>Took</TableCell>
              </TableRow>
            </TableHead>
            <TableBody>
              {data?.items.map((job) => (
                <TableRow key={job.id} hover>
                  <TableCell sx={{ maxWidth: 360 }}>
                    <Link
                      component={RouterLink}
                      to={paths.job(job.id)}
                      underline="hover"
                      sx={{ fontWeight: 500, overflowWrap: "anywhere" }}
                    >
                      {job.name}
                    </Link>
                  </TableCell>
                  <TableCell>
                    <StatusChip status={job.status} />
                  </TableCell>
                  <TableCell sx={{ display: { xs: "none", md: "table-cell" } }}>
                    <Progress job={job} />
                  </TableCell>
                  <TableCell sx={{ display: { xs: "none", sm: "table-cell" } }}>
                    {job.created_by_username ?? "—"}
                  </TableCell>
                  <TableCell sx={{ display: { xs: "none", sm: "table-cell" } }}>
                    {ago(job.created_at)}
                  </TableCell>
                  <TableCell sx={{ display: { xs: "none", lg: "table-cell" } }}>
                    {job.started_at ? duration(job.started_at, job.finished_at) : "—"}
                  </TableCell>
                </TableRow>
              ))}
              <EmptyRow show={data?.items.length === 0} colSpan={6}>
                No job matches.
              </EmptyRow>
            </TableBody>
          </Table>
        </TableContainer>
      </Paper>
      <Pager pages={pages} result={data} />
    </>
  );
}
