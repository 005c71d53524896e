import Box from "@mui/material/Box";
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
import Tooltip from "@mui/material/Tooltip";
import Typography from "@mui/material/Typography";
import { Link as RouterLink, useSearchParams } from "react-router";

import {
  useListSchedulesQuery,
  useUpdateScheduleMutation,
  type ScheduleOut,
} from "@/client/orca-api";
import { EmptyRow } from "@/components/ui/empty-row";
import { Pager } from "@/components/ui/pager";
import { ProblemAlert } from "@/components/ui/problem-alert";
import { SearchField } from "@/components/ui/search-field";
import { StatusChip } from "@/components/ui/status-chip";
import { paths } from "@/config/paths";
import { useCursorPages } from "@/hooks/use-cursor-pages";
import { ago, whenIn } from "@/lib/format";
import { MONO } from "@/lib/theme";

function EnabledSwitch({
  schedule,
  onToggle,
  busy,
}: {
  schedule: ScheduleOut;
  onToggle: () => void;
  busy: boolean;
}) {
  const label = `${schedule.enabled ? "Pause" : "Resume"} ${schedule.name}`;
  const control = (
    <Switch
      checked={schedule.enabled}
      onChange={onToggle}
      disabled={!schedule.can_manage || busy}
      slotProps={{
        input: { "aria-label": schedule.can_manage ? label : `${schedule.name} enabled` },
      }}
    />
  );
  return schedule.can_manage ? (
    control
  ) : (
    <Tooltip title="You may not change this schedule">
      <span>{control}</span>
    </Tooltip>
  );
}

export function SchedulesTable() {
  const [search, setSearch] = useSearchParams();
  const q = search.get("q") ?? "";
  const enabled = search.get("enabled") ?? "";
  const pages = useCursorPages(search.toString());
  const { data, error, isFetching } = useListSchedulesQuery(
    {
      limit: 50,
      cursor: pages.cursor,
      q: q || undefined,
      enabled: enabled === "" ? undefined : enabled === "true",
    },
    // Next and last runs move on by themselves.
    { pollingInterval: 30000 },
  );
  const [update, updated] = useUpdateScheduleMutation();

  function set(name: string, value: string) {
    const next = new URLSearchParams(search);
    if (value) next.set(name, value);
    else next.delete(name);
    setSearch(next, { replace: true });
  }

  return (
    <>
      <Box
        sx={{ display: "flex", flexWrap: "wrap", gap: 1.5, mb: 2 }}
        role="search"
        aria-label="Filter schedules"
      >
        <SearchField value={q} onChange={(value) => set("q", value)} label="Search schedules" />
        <TextField
          select
          label="State"
          value={enabled}
          onChange={(event) => set("enabled", event.target.value)}
          sx={{ minWidth: 140 }}
        >
          <MenuItem value="">Any</MenuItem>
          <MenuItem value="true">Enabled</MenuItem>
          <MenuItem value="false">Paused</MenuItem>
        </TextField>
      </Box>
      <ProblemAlert error={error} title="Could not list schedules" />
      <ProblemAlert error={updated.error} title="Not changed" />
      <Paper variant="outlined">
        <TableContainer>
          <Table size="small" aria-label="Schedules" aria-busy={isFetching}>
            <TableHead>
              <TableRow>
                <TableCell>Enabled</TableCell>
                <TableCell>Schedule</TableCell>
                <TableCell sx={{ display: { xs: "none", md: "table-cell" } }}>Template</TableCell>
                <TableCell>Cron</TableCell>
                <TableCell sx={{ display: { xs: "none", lg: "table-cell" } }}>Time zone</TableCell>
                <TableCell sx={{ display: { xs: "none", sm: "table-cell" } }}>Next run</TableCell>
                <TableCell sx={{ display: { xs: "none", sm: "table-cell" } }}>Last run</TableCell>
              </TableRow>
            </TableHead>
            <TableBody>
              {data?.items.map((schedule) => (
                <TableRow key={schedule.id} hover>
                  <TableCell padding="checkbox">
                    <EnabledSwitch
                      schedule={schedule}
                      busy={updated.isLoading}
                      onToggle={() =>
                        void update({
                          scheduleId: schedule.id,
                          scheduleUpdate: { enabled: !schedule.enabled },
                        })
                      }
                    />
                  </TableCell>
                  <TableCell sx={{ maxWidth: 320 }}>
                    <Link
                      component={RouterLink}
                      to={paths.schedule(schedule.id)}
                      underline="hover"
                      sx={{ fontWeight: 500, overflowWrap: "anywhere" }}
                    >
                      {schedule.name}
                    </Link>
                  </TableCell>
                  <TableCell sx={{ display: { xs: "none", md: "table-cell" } }}>
                    <Link
                      component={RouterLink}
                      to={paths.template(schedule.template_id)}
                      underline="hover"
                    >
                      {schedule.template_name}
                    </Link>
                  </TableCell>
                  <TableCell sx={{ fontFamily: MONO, whiteSpace: "nowrap" }}>
                    {schedule.cron}
                  </TableCell>
                  <TableCell sx={{ display: { xs: "none", lg: "table-cell" } }}>
                    {schedule.timezone}
                  </TableCell>
                  <TableCell sx={{ display: { xs: "none", sm: "table-cell" } }}>
                    {schedule.enabled && schedule.next_run_at ? (
                      <Tooltip title={whenIn(schedule.next_run_at, schedule.timezone)}>
                        <span>{ago(schedule.next_run_at)}</span>
                      </Tooltip>
                    ) : (
                      <Typography variant="body2" color="text.secondary" component="span">
                        paused
                      </Typography>
                    )}
                  </TableCell>
                  <TableCell sx={{ display: { xs: "none", sm: "table-cell" } }}>
                    {schedule.last_run ? (
                      <Box sx={{ display: "flex", gap: 1, alignItems: "center" }}>
                        <StatusChip status={schedule.last_run.status} />
                        {schedule.last_run.job_id ? (
                          <Link
                            component={RouterLink}
                            to={paths.job(schedule.last_run.job_id)}
                            underline="hover"
                          >
                            {ago(schedule.last_run.due_at)}
                          </Link>
                        ) : (
                          ago(schedule.last_run.due_at)
                        )}
                      </Box>
                    ) : (
                      "never"
                    )}
                  </TableCell>
                </TableRow>
              ))}
              <EmptyRow show={data?.items.length === 0} colSpan={7}>
                {q || enabled ? "No schedule matches." : "No schedule yet."}
              </EmptyRow>
            </TableBody>
          </Table>
        </TableContainer>
      </Paper>
      <Pager pages={pages} result={data} />
    </>
  );
}
