import Alert from "@mui/material/Alert";
import Box from "@mui/material/Box";
import Button from "@mui/material/Button";
import Card from "@mui/material/Card";
import CardContent from "@mui/material/CardContent";
import Chip from "@mui/material/Chip";
import Link from "@mui/material/Link";
import Typography from "@mui/material/Typography";
import { useState, type ReactNode } from "react";
import { Link as RouterLink, useNavigate } from "react-router";

import {
  useDeleteScheduleMutation,
  useUpdateScheduleMutation,
  type ScheduleOut,
} from "@/client/orca-api";
import { ConfirmDialog } from "@/components/ui/confirm-dialog";
import { Field, FieldList } from "@/components/ui/field-list";
import { PageHeader } from "@/components/ui/page-header";
import { ProblemAlert } from "@/components/ui/problem-alert";
import { StatusChip } from "@/components/ui/status-chip";
import { paths } from "@/config/paths";
import { ago, when } from "@/lib/format";
import { shown } from "@/lib/parameters";
import { MONO } from "@/lib/theme";
import { NextRuns } from "@/features/schedules/components/next-runs";
import { RunsTable } from "@/features/schedules/components/runs-table";
import { MISSED_POLICIES } from "@/features/schedules/time-zones";

function Section({ title, children }: { title: string; children: ReactNode }) {
  return (
    <Card>
      <CardContent>
        <Typography variant="h2" component="h2" gutterBottom>
          {title}
        </Typography>
        {children}
      </CardContent>
    </Card>
  );
}

export function ScheduleDetail({ schedule }: { schedule: ScheduleOut }) {
  const navigate = useNavigate();
  const [update, updated] = useUpdateScheduleMutation();
  const [remove, removed] = useDeleteScheduleMutation();
  const [confirmDelete, setConfirmDelete] = useState(false);
  const values = Object.entries(schedule.parameters);
  const last = schedule.last_run;

  return (
    <>
      <PageHeader
        title={schedule.name}
        subtitle={
          <>
            Launches{" "}
            <Link component={RouterLink} to={paths.template(schedule.template_id)}>
              {schedule.template_name || "its template"}
            </Link>{" "}
            as {schedule.owner_username ?? "its owner (deleted)"}
            {schedule.description && (
              <Box component="span" sx={{ display: "block", mt: 0.5 }}>
                {schedule.description}
              </Box>
            )}
          </>
        }
        actions={
          schedule.can_manage && (
            <>
              <Button
                variant={schedule.enabled ? "outlined" : "contained"}
                disabled={updated.isLoading}
                onClick={() =>
                  void update({
                    scheduleId: schedule.id,
                    scheduleUpdate: { enabled: !schedule.enabled },
                  })
                }
              >
                {schedule.enabled ? "Pause" : "Resume"}
              </Button>
              <Button
                variant="outlined"
                component={RouterLink}
                to={paths.editSchedule(schedule.id)}
              >
                Edit
              </Button>
              <Button color="error" variant="outlined" onClick={() => setConfirmDelete(true)}>
                Delete
              </Button>
            </>
          )
        }
      />
      <ProblemAlert error={updated.error} title="Not changed" />
      <ProblemAlert error={removed.error} title="Not deleted" />
      {!schedule.enabled && (
        <Alert severity="info" sx={{ mb: 2 }} data-testid="paused">
          Paused: nothing runs until it is resumed, and the due times passed while paused are not
          caught up.
        </Alert>
      )}
      {last?.status === "failed" && (
        <Alert severity="error" sx={{ mb: 2 }}>
          The last due time ({when(last.due_at)}) could not launch: {last.message}
        </Alert>
      )}
      <Box sx={{ display: "grid", gap: 2, gridTemplateColumns: { xs: "1fr", md: "1fr 1fr" } }}>
        <Section title="When">
          <FieldList>
            <Field label="Status">
              <Chip
                size="small"
                color={schedule.enabled ? "success" : "default"}
                variant={schedule.enabled ? "filled" : "outlined"}
                label={schedule.enabled ? "enabled" : "paused"}
              />
            </Field>
            <Field label="Cron">
              <span style={{ fontFamily: MONO }}>{schedule.cron}</span>
            </Field>
            <Field label="Time zone">{schedule.timezone}</Field>
            <Field label="Missed runs">
              {MISSED_POLICIES[schedule.missed_policy].label}, after {schedule.grace_seconds} s
              grace
              <Typography variant="body2" color="text.secondary">
                {MISSED_POLICIES[schedule.missed_policy].help}
              </Typography>
            </Field>
            <Field label="While running">
              {schedule.skip_if_running
                ? "skip a due time while its last job runs"
                : "launch anyway"}
            </Field>
            <Field label="Last run">
              {last ? (
                <Box sx={{ display: "flex", gap: 1, alignItems: "center", flexWrap: "wrap" }}>
                  <StatusChip status={last.status} />
                  {ago(last.due_at)}
                  {last.job_id && (
                    <Link component={RouterLink} to={paths.job(last.job_id)}>
                      the job
                    </Link>
                  )}
                </Box>
              ) : (
                "never"
              )}
            </Field>
            <Field label="Changed">{when(schedule.updated_at)}</Field>
          </FieldList>
        </Section>
        <Section title="Next five runs">
          <NextRuns
            runs={schedule.next_runs}
            timeZone={schedule.timezone}
            empty={schedule.enabled ? "None." : "None while paused."}
          />
        </Section>
        <Section title="Parameter values">
          {values.length === 0 && schedule.secret_parameters.length === 0 ? (
            <Typography variant="body2" color="text.secondary">
              None given: the template's defaults apply.
            </Typography>
          ) : (
            <FieldList>
              {values.map(([name, value]) => (
                <Field key={name} label={name}>
                  <span style={{ fontFamily: MONO }}>{shown(value)}</span>
                </Field>
              ))}
              {schedule.secret_parameters.map((name) => (
                <Field key={name} label={name}>
                  <em>secret, stored encrypted</em>
                </Field>
              ))}
            </FieldList>
          )}
        </Section>
      </Box>
      <Box sx={{ mt: 2 }}>
        <Section title="Run history">
          <RunsTable scheduleId={schedule.id} timeZone={schedule.timezone} />
        </Section>
      </Box>
      <ConfirmDialog
        open={confirmDelete}
        title={`Delete ${schedule.name}?`}
        confirm="Delete"
        danger
        onClose={() => setConfirmDelete(false)}
        onConfirm={async () => {
          const result = await remove({ scheduleId: schedule.id });
          if ("data" in result) navigate(paths.schedules);
        }}
      >
        Its run history goes with it; the jobs it launched stay.
      </ConfirmDialog>
    </>
  );
}
