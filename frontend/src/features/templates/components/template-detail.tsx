import Box from "@mui/material/Box";
import Button from "@mui/material/Button";
import Card from "@mui/material/Card";
import CardContent from "@mui/material/CardContent";
import Chip from "@mui/material/Chip";
import Link from "@mui/material/Link";
import Table from "@mui/material/Table";
import TableBody from "@mui/material/TableBody";
import TableCell from "@mui/material/TableCell";
import TableContainer from "@mui/material/TableContainer";
import TableHead from "@mui/material/TableHead";
import TableRow from "@mui/material/TableRow";
import Typography from "@mui/material/Typography";
import { useState, type ReactNode } from "react";
import { Link as RouterLink, useNavigate } from "react-router";

import {
  useDeleteTemplateMutation,
  useListJobsQuery,
  useListSchedulesQuery,
  type Parameter,
  type TemplateOut,
} from "@/client/orca-api";
import { ConfirmDialog } from "@/components/ui/confirm-dialog";
import { Field, FieldList } from "@/components/ui/field-list";
import { PageHeader } from "@/components/ui/page-header";
import { ProblemAlert } from "@/components/ui/problem-alert";
import { StatusChip } from "@/components/ui/status-chip";
import { paths } from "@/config/paths";
import { usePermissions } from "@/hooks/use-permissions";
import { ago, when } from "@/lib/format";
import { hintOf, labelOf, mustGive, typeOf } from "@/lib/parameters";
import { describeTargets } from "@/lib/targets";
import { MONO } from "@/lib/theme";

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

function ParametersTable({ parameters }: { parameters: Parameter[] }) {
  if (parameters.length === 0) {
    return (
      <Typography variant="body2" color="text.secondary">
        None: every launch runs the same command.
      </Typography>
    );
  }
  return (
    <TableContainer>
      <Table size="small" aria-label="Parameters">
        <TableHead>
          <TableRow>
            <TableCell>Name</TableCell>
            <TableCell>Label</TableCell>
            <TableCell>Type</TableCell>
            <TableCell>Rules</TableCell>
          </TableRow>
        </TableHead>
        <TableBody>
          {parameters.map((parameter) => (
            <TableRow key={parameter.name}>
              <TableCell sx={{ fontFamily: MONO }}>{parameter.name}</TableCell>
              <TableCell>
                {labelOf(parameter)}
                {parameter.description && (
                  <Typography variant="body2" color="text.secondary">
                    {parameter.description}
                  </Typography>
                )}
              </TableCell>
              <TableCell>
                {typeOf(parameter)}
                {typeOf(parameter) === "choice" && `: ${(parameter.choices ?? []).join(", ")}`}
              </TableCell>
              <TableCell>
                {[mustGive(parameter) ? "required" : "", hintOf(parameter)]
                  .filter(Boolean)
                  .join(" · ") || "—"}
              </TableCell>
            </TableRow>
          ))}
        </TableBody>
      </Table>
    </TableContainer>
  );
}

export function TemplateDetail({ template }: { template: TemplateOut }) {
  const { can } = usePermissions();
  const navigate = useNavigate();
  const [remove, removed] = useDeleteTemplateMutation();
  const [confirmDelete, setConfirmDelete] = useState(false);
  const jobs = useListJobsQuery({ templateId: template.id, limit: 10 });
  const schedules = useListSchedulesQuery({ templateId: template.id, limit: 50 });
  const threshold = template.failure_threshold;

  return (
    <>
      <PageHeader
        title={template.name}
        subtitle={
          <>
            v{template.version} · by {template.created_by_username ?? "?"} · changed{" "}
            {ago(template.updated_at)}
            {template.description && (
              <Box component="span" sx={{ display: "block", mt: 0.5, whiteSpace: "pre-wrap" }}>
                {template.description}
              </Box>
            )}
          </>
        }
        actions={
          <>
            {template.can_launch && (
              <Button
                variant="contained"
                component={RouterLink}
                to={paths.launchTemplate(template.id)}
              >
                Launch
              </Button>
            )}
            {template.can_launch && can("schedules:manage") && (
              <Button
                variant="outlined"
                component={RouterLink}
                to={`${paths.newSchedule}?template=${template.id}`}
              >
                Schedule
              </Button>
            )}
            {template.can_edit && (
              <Button
                variant="outlined"
                component={RouterLink}
                to={paths.editTemplate(template.id)}
              >
                Edit
              </Button>
            )}
            {template.can_edit && (
              <Button color="error" variant="outlined" onClick={() => setConfirmDelete(true)}>
                Delete
              </Button>
            )}
          </>
        }
      />
      <ProblemAlert error={removed.error} title="Not deleted" />
      <Box sx={{ display: "grid", gap: 2, gridTemplateColumns: { xs: "1fr", lg: "3fr 2fr" } }}>
        <Box sx={{ display: "grid", gap: 2, alignContent: "start", minWidth: 0 }}>
          <Section title={template.script ? "Script" : "Command"}>
            <Box
              component="pre"
              data-testid="template-command"
              sx={{
                fontFamily: MONO,
                fontSize: 13,
                p: 1.5,
                bgcolor: "action.hover",
                borderRadius: 1,
                overflow: "auto",
                maxHeight: 360,
                m: 0,
              }}
            >
              {template.script ?? template.command}
            </Box>
          </Section>
          <Section title="Parameters">
            <ParametersTable parameters={template.parameters} />
          </Section>
          <Section title="Recent jobs">
            {jobs.data?.items.length === 0 && (
              <Typography variant="body2" color="text.secondary">
                Not launched yet.
              </Typography>
            )}
            <Box component="ul" sx={{ listStyle: "none", p: 0, m: 0, display: "grid", gap: 1 }}>
              {jobs.data?.items.map((job) => (
                <Box
                  component="li"
                  key={job.id}
                  sx={{ display: "flex", gap: 1, alignItems: "center" }}
                >
                  <StatusChip status={job.status} />
                  <Link
                    component={RouterLink}
                    to={paths.job(job.id)}
                    underline="hover"
                    sx={{ flexGrow: 1, overflowWrap: "anywhere" }}
                  >
                    {job.name}
                  </Link>
                  <Typography variant="body2" color="text.secondary">
                    v{job.template_version} · {job.created_by_username ?? "?"} ·{" "}
                    {ago(job.created_at)}
                  </Typography>
                </Box>
              ))}
            </Box>
          </Section>
        </Box>
        <Box sx={{ display: "grid", gap: 2, alignContent: "start", minWidth: 0 }}>
          <Section title="How it runs">
            <FieldList>
              <Field label="Targets">{describeTargets(template.targets) || "—"}</Field>
              <Field label="Shell">{template.shell ?? "each system's default"}</Field>
              <Field label="Timeout">{template.timeout_seconds} s per system</Field>
              <Field label="Priority">{template.priority}</Field>
              <Field label="Concurrency">{template.concurrency ?? "no limit"}</Field>
              <Field label="Stop after">
                {threshold
                  ? [
                      threshold.count ? `${threshold.count} failures` : "",
                      threshold.percent ? `${threshold.percent}% failed` : "",
                    ]
                      .filter(Boolean)
                      .join(" or ")
                  : "never"}
              </Field>
              <Field label="Retries">
                {template.retries
                  ? `${template.retries.attempts} attempts, ${template.retries.backoff_seconds} s apart (doubling)`
                  : "none"}
              </Field>
              <Field label="Working directory">
                {template.working_directory ?? "the account's home"}
              </Field>
              <Field label="Environment">
                {template.environment_keys.length
                  ? `${template.environment_keys.join(", ")} (values hidden)`
                  : "none"}
              </Field>
              <Field label="Created">{when(template.created_at)}</Field>
            </FieldList>
          </Section>
          <Section title="Access">
            <Typography variant="body2" color="text.secondary" sx={{ mb: 1 }}>
              Its author and admins may launch and edit it.
            </Typography>
            {template.access.length === 0 ? (
              <Typography variant="body2">No team is given access.</Typography>
            ) : (
              <Box sx={{ display: "flex", flexWrap: "wrap", gap: 0.5 }}>
                {template.access.map((row) => (
                  <Chip
                    key={row.team_id}
                    size="small"
                    variant="outlined"
                    label={`${row.team_name}: ${row.level}`}
                  />
                ))}
              </Box>
            )}
          </Section>
          <Section title="Schedules">
            {schedules.data?.items.length === 0 && (
              <Typography variant="body2" color="text.secondary">
                No schedule launches it.
              </Typography>
            )}
            <Box component="ul" sx={{ listStyle: "none", p: 0, m: 0, display: "grid", gap: 1 }}>
              {schedules.data?.items.map((schedule) => (
                <Box
                  component="li"
                  key={schedule.id}
                  sx={{ display: "flex", gap: 1, alignItems: "center", flexWrap: "wrap" }}
                >
                  <Link component={RouterLink} to={paths.schedule(schedule.id)} underline="hover">
                    {schedule.name}
                  </Link>
                  <Typography variant="body2" sx={{ fontFamily: MONO }}>
                    {schedule.cron}
                  </Typography>
                  <Typography variant="body2" color="text.secondary">
                    {schedule.enabled ? `next ${ago(schedule.next_run_at)}` : "paused"}
                  </Typography>
                </Box>
              ))}
            </Box>
          </Section>
        </Box>
      </Box>
      <ConfirmDialog
        open={confirmDelete}
        title={`Delete ${template.name}?`}
        confirm="Delete"
        danger
        onClose={() => setConfirmDelete(false)}
        onConfirm={async () => {
          const result = await remove({ templateId: template.id });
          if ("data" in result) navigate(paths.templates);
        }}
      >
        Jobs launched from it stay. The API refuses while a schedule uses it.
      </ConfirmDialog>
    </>
  );
}
