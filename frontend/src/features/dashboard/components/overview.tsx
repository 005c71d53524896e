import Alert from "@mui/material/Alert";
import Box from "@mui/material/Box";
import Card from "@mui/material/Card";
import CardContent from "@mui/material/CardContent";
import Link from "@mui/material/Link";
import List from "@mui/material/List";
import ListItem from "@mui/material/ListItem";
import ListItemText from "@mui/material/ListItemText";
import MenuItem from "@mui/material/MenuItem";
import TextField from "@mui/material/TextField";
import Typography from "@mui/material/Typography";
import { useTheme } from "@mui/material/styles";
import { BarChart } from "@mui/x-charts/BarChart";
import { useState } from "react";
import { Link as RouterLink } from "react-router";

import { useGetOverviewQuery, useListJobsQuery, type JobOut } from "@/client/orca-api";
import { ProblemAlert } from "@/components/ui/problem-alert";
import { HealthChip, StatusChip } from "@/components/ui/status-chip";
import { label } from "@/lib/states";
import { paths } from "@/config/paths";
import { ago } from "@/lib/format";

const WINDOWS = [
  { hours: 24, label: "Last 24 hours" },
  { hours: 48, label: "Last 2 days" },
  { hours: 168, label: "Last 7 days" },
  { hours: 720, label: "Last 30 days" },
];
const OUTCOMES = [
  "succeeded",
  "failed",
  "timed_out",
  "error",
  "cancelled",
  "running",
  "queued",
  "pending",
] as const;
// Fifteen seconds: a dashboard left open stays current without a socket per widget.
const POLL_MS = 15000;

function Stat({
  title,
  value,
  to,
  tone,
}: {
  title: string;
  value: number | string;
  to?: string;
  tone?: "error" | "success" | "info";
}) {
  return (
    <Card>
      <CardContent>
        <Typography variant="body2" color="text.secondary">
          {title}
        </Typography>
        <Typography
          variant="h4"
          component="p"
          color={tone ? `${tone}.main` : "text.primary"}
          sx={{ fontWeight: 600 }}
        >
          {to ? (
            <Link component={RouterLink} to={to} underline="hover" color="inherit">
              {value}
            </Link>
          ) : (
            value
          )}
        </Typography>
      </CardContent>
    </Card>
  );
}

function JobList({
  title,
  jobs,
  empty,
}: {
  title: string;
  jobs: JobOut[] | undefined;
  empty: string;
}) {
  return (
    <Card sx={{ height: "100%" }}>
      <CardContent>
        <Typography variant="h2" component="h2" gutterBottom>
          {title}
        </Typography>
        {jobs && jobs.length === 0 && (
          <Typography variant="body2" color="text.secondary">
            {empty}
          </Typography>
        )}
        <List dense disablePadding>
          {jobs?.map((job) => (
            <ListItem
              key={job.id}
              disableGutters
              secondaryAction={<StatusChip status={job.status} />}
            >
              <ListItemText
                primary={
                  <Link component={RouterLink} to={paths.job(job.id)} underline="hover">
                    {job.name}
                  </Link>
                }
                secondary={`${job.target_count} system(s) · ${job.created_by_username ?? "?"} · ${ago(job.created_at)}`}
                sx={{ pr: 12 }}
              />
            </ListItem>
          ))}
        </List>
      </CardContent>
    </Card>
  );
}

export function Overview() {
  const theme = useTheme();
  const [hours, setHours] = useState(24);
  const overview = useGetOverviewQuery({ hours }, { pollingInterval: POLL_MS });
  const active = useListJobsQuery(
    { status: ["running", "pending"], limit: 6 },
    { pollingInterval: POLL_MS },
  );
  const failed = useListJobsQuery({ status: ["failed"], limit: 6 }, { pollingInterval: POLL_MS });
  const data = overview.data;

  const colours: Record<string, string> = {
    succeeded: theme.palette.success.main,
    failed: theme.palette.error.main,
    timed_out: theme.palette.warning.main,
    error: theme.palette.error.dark,
    cancelled: theme.palette.grey[500],
    running: theme.palette.info.main,
    queued: theme.palette.secondary.main,
    pending: theme.palette.grey[400],
  };
  const daily = (data?.bucket_seconds ?? 3600) >= 86400;
  const tick = new Intl.DateTimeFormat(
    undefined,
    daily ? { month: "short", day: "numeric" } : { hour: "2-digit", minute: "2-digit" },
  );
  const failures = data
    ? (data.executions.failed ?? 0) +
      (data.executions.timed_out ?? 0) +
      (data.executions.error ?? 0)
    : 0;
  const total = data ? Object.values(data.executions).reduce((sum, n) => sum + n, 0) : 0;
  const systemsTotal = data ? Object.values(data.systems).reduce((sum, n) => sum + n, 0) : 0;

  return (
    <Box sx={{ display: "grid", gap: 2 }}>
      <ProblemAlert error={overview.error} title="Could not load the overview" />
      <Box sx={{ display: "flex", justifyContent: "flex-end" }}>
        <TextField
          select
          label="Window"
          value={hours}
          onChange={(event) => setHours(Number(event.target.value))}
          sx={{ minWidth: 180 }}
        >
          {WINDOWS.map((window) => (
            <MenuItem key={window.hours} value={window.hours}>
              {window.label}
            </MenuItem>
          ))}
        </TextField>
      </Box>
      <Box
        sx={{
          display: "grid",
          gap: 2,
          gridTemplateColumns: { xs: "1fr 1fr", md: "repeat(4, 1fr)" },
        }}
      >
        <Stat
          title="Active jobs"
          value={data?.active_jobs ?? "…"}
          to={`${paths.jobs}?status=running&status=pending`}
          tone="info"
        />
        <Stat title="Executions" value={data ? total : "…"} />
        <Stat
          title="Failed executions"
          value={data ? failures : "…"}
          tone={failures ? "error" : undefined}
        />
        <Stat
          title="Healthy systems"
          value={data ? `${data.systems.healthy ?? 0} / ${systemsTotal}` : "…"}
          to={paths.systems}
          tone="success"
        />
      </Box>
      <Card>
        <CardContent>
          <Typography variant="h2" component="h2">
            Executions over time
          </Typography>
          {data && total === 0 && (
            <Typography variant="body2" color="text.secondary">
              Nothing ran in this window.
            </Typography>
          )}
          {data && (
            <Box
              role="img"
              aria-label={`Executions per ${daily ? "day" : "hour"}: ${OUTCOMES.map((o) => `${data.executions[o] ?? 0} ${label(o)}`).join(", ")}`}
            >
              <BarChart
                height={260}
                xAxis={[
                  {
                    scaleType: "band",
                    data: data.timeline.map((bucket) => tick.format(new Date(bucket.start))),
                  },
                ]}
                series={OUTCOMES.map((outcome) => ({
                  id: outcome,
                  label: label(outcome),
                  stack: "all",
                  color: colours[outcome],
                  data: data.timeline.map((bucket) => bucket.counts[outcome] ?? 0),
                }))}
                margin={{ left: 10, right: 10 }}
              />
            </Box>
          )}
        </CardContent>
      </Card>
      <Box sx={{ display: "grid", gap: 2, gridTemplateColumns: { xs: "1fr", md: "1fr 1fr 1fr" } }}>
        <Card>
          <CardContent>
            <Typography variant="h2" component="h2" gutterBottom>
              Executions by state
            </Typography>
            <Box
              component="dl"
              sx={{ display: "grid", gridTemplateColumns: "1fr auto", rowGap: 1, m: 0 }}
            >
              {OUTCOMES.map((outcome) => (
                <Box key={outcome} sx={{ display: "contents" }}>
                  <dt>
                    <StatusChip status={outcome} />
                  </dt>
                  <Box
                    component="dd"
                    sx={{ m: 0, textAlign: "right", fontVariantNumeric: "tabular-nums" }}
                  >
                    {data?.executions[outcome] ?? "…"}
                  </Box>
                </Box>
              ))}
            </Box>
          </CardContent>
        </Card>
        <JobList title="Running jobs" jobs={active.data?.items} empty="No job is running." />
        <JobList title="Recent failures" jobs={failed.data?.items} empty="No failed job. " />
      </Box>
      <Card>
        <CardContent>
          <Typography variant="h2" component="h2" gutterBottom>
            System health
          </Typography>
          {data && systemsTotal === 0 && (
            <Alert severity="info">No systems yet. Add one under Systems.</Alert>
          )}
          <Box sx={{ display: "flex", flexWrap: "wrap", gap: 2 }}>
            {data &&
              Object.entries(data.systems)
                .filter(([, count]) => count > 0)
                .map(([health, count]) => (
                  <Link
                    key={health}
                    component={RouterLink}
                    to={`${paths.systems}?health=${health}`}
                    underline="none"
                    sx={{ display: "flex", alignItems: "center", gap: 1 }}
                  >
                    <HealthChip health={health} />
                    <Typography component="span" sx={{ fontWeight: 600 }}>
                      {count}
                    </Typography>
                  </Link>
                ))}
          </Box>
        </CardContent>
      </Card>
    </Box>
  );
}
