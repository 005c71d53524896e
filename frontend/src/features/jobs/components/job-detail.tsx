import Alert from "@mui/material/Alert";
import Box from "@mui/material/Box";
import Button from "@mui/material/Button";
import Card from "@mui/material/Card";
import CardContent from "@mui/material/CardContent";
import Chip from "@mui/material/Chip";
import Collapse from "@mui/material/Collapse";
import LinearProgress from "@mui/material/LinearProgress";
import Typography from "@mui/material/Typography";
import { useMemo, useState } from "react";
import { useStore } from "react-redux";
import { useNavigate, useSearchParams } from "react-router";

import {
  useCancelExecutionMutation,
  useCancelJobMutation,
  useRerunJobMutation,
  type ExecutionOut,
  type JobOut,
} from "@/client/orca-api";
import { ConfirmDialog } from "@/components/ui/confirm-dialog";
import { PageHeader } from "@/components/ui/page-header";
import { ProblemAlert } from "@/components/ui/problem-alert";
import { StatusChip } from "@/components/ui/status-chip";
import { TERMINAL_STATES } from "@/lib/states";
import { paths } from "@/config/paths";
import { usePermissions } from "@/hooks/use-permissions";
import { authorizedFetch, saveResponse } from "@/lib/authorized-fetch";
import { ago, bytes, duration } from "@/lib/format";
import type { AppStore } from "@/lib/store";
import { MONO } from "@/lib/theme";
import { ExecutionsList } from "@/features/jobs/components/executions-list";
import { JobOrigin } from "@/features/jobs/components/job-origin";
import { OutputViewer, type StreamChoice } from "@/features/jobs/components/output-viewer";
import { StatusGrid } from "@/features/jobs/components/status-grid";
import { useExecutionOutput } from "@/features/jobs/hooks/use-execution-output";
import { useJobExecutions } from "@/features/jobs/hooks/use-job-executions";
import { useConnectionState } from "@/features/jobs/hooks/use-live";

export function JobDetail({ job }: { job: JobOut }) {
  const { can, me } = usePermissions();
  const navigate = useNavigate();
  const store = useStore() as AppStore;
  const [search, setSearch] = useSearchParams();
  const { status, executions, loaded, error } = useJobExecutions(job);
  const active = status === "pending" || status === "running";
  const connection = useConnectionState();
  const [cancelJob, cancelled] = useCancelJobMutation();
  const [cancelExecution, cancelledOne] = useCancelExecutionMutation();
  const [rerun, rerunning] = useRerunJobMutation();
  const [confirmCancel, setConfirmCancel] = useState(false);
  const [showCommand, setShowCommand] = useState(false);
  const [stream, setStream] = useState<StreamChoice>("combined");

  const selectedId = search.get("execution") ?? executions[0]?.id ?? null;
  const selected = executions.find((execution) => execution.id === selectedId) ?? null;
  const output = useExecutionOutput(selected?.id ?? null);
  const select = (id: string) => {
    const next = new URLSearchParams(search);
    next.set("execution", id);
    setSearch(next, { replace: true });
  };

  const counts = useMemo(() => {
    const byStatus: Record<string, number> = {};
    for (const execution of executions)
      byStatus[execution.status] = (byStatus[execution.status] ?? 0) + 1;
    return byStatus;
  }, [executions]);
  const done = executions.filter((execution) => TERMINAL_STATES.has(execution.status)).length;
  const failedCount = (counts.failed ?? 0) + (counts.timed_out ?? 0) + (counts.error ?? 0);
  const mayControl = can("jobs:run");
  const onlyMine = me && job.created_by_id === me.id;

  async function download(execution: ExecutionOut) {
    const response = await authorizedFetch(
      store,
      `/api/v1/executions/${execution.id}/output/raw?stream=${stream}`,
    );
    if (response.ok) await saveResponse(response, `${execution.system_name}-${stream}.log`);
  }

  async function rerunWith(only: "failed" | "all") {
    const result = await rerun({ jobId: job.id, body: { only } });
    if ("data" in result && result.data) navigate(paths.job(result.data.id));
  }

  return (
    <>
      <PageHeader
        title={job.name}
        subtitle={
          <>
            {job.created_by_username ?? "?"} · {ago(job.created_at)} · {job.target_count} system(s)
            · shell {job.shell ?? "each system's default"} · timeout {job.timeout_seconds} s
            {job.source_job_id && " · a rerun"}
          </>
        }
        actions={
          mayControl && (
            <>
              {active && (
                <Button
                  color="error"
                  variant="outlined"
                  onClick={() => setConfirmCancel(true)}
                  disabled={cancelled.isLoading || Boolean(job.cancel_requested_at)}
                >
                  Cancel job
                </Button>
              )}
              {!active && failedCount > 0 && (
                <Button
                  variant="contained"
                  onClick={() => void rerunWith("failed")}
                  disabled={rerunning.isLoading}
                >
                  Rerun failed ({failedCount})
                </Button>
              )}
              {!active && (
                <Button
                  variant="outlined"
                  onClick={() => void rerunWith("all")}
                  disabled={rerunning.isLoading}
                >
                  Rerun all
                </Button>
              )}
              <Button variant="outlined" onClick={() => navigate(`${paths.newJob}?from=${job.id}`)}>
                Duplicate
              </Button>
            </>
          )
        }
      />
      <ProblemAlert error={cancelled.error ?? cancelledOne.error ?? rerunning.error} />
      <ProblemAlert error={error} title="Could not load the executions" />
      {connection === "reconnecting" && (
        <Alert severity="warning" sx={{ mb: 2 }}>
          The live connection dropped; reconnecting. Nothing is lost: output resumes where it
          stopped.
        </Alert>
      )}
      {!onlyMine &&
        !can("audit:read") &&
        me?.role !== "admin" &&
        job.target_count > executions.length &&
        loaded && (
          <Alert severity="info" sx={{ mb: 2 }}>
            You see {executions.length} of this job's {job.target_count} systems: the others are
            beyond your grants.
          </Alert>
        )}
      <Card sx={{ mb: 2 }}>
        <CardContent>
          <JobOrigin job={job} />
          <Box sx={{ display: "flex", flexWrap: "wrap", alignItems: "center", gap: 1.5, mb: 1.5 }}>
            <StatusChip status={status} size="medium" />
            <Typography variant="body2" aria-live="polite">
              {done} of {executions.length || job.target_count} finished
              {counts.succeeded ? ` · ${counts.succeeded} succeeded` : ""}
              {failedCount ? ` · ${failedCount} failed` : ""}
              {counts.cancelled ? ` · ${counts.cancelled} cancelled` : ""}
              {counts.running ? ` · ${counts.running} running` : ""}
            </Typography>
            {job.threshold_reached_at && (
              <Chip
                size="small"
                color="warning"
                label="failure threshold reached: no new systems started"
              />
            )}
            {job.cancel_requested_at && active && <Chip size="small" label="cancelling" />}
            <Box sx={{ flexGrow: 1 }} />
            <Button
              size="small"
              onClick={() => setShowCommand(!showCommand)}
              aria-expanded={showCommand}
            >
              {showCommand ? "Hide" : "Show"} {job.script ? "script" : "command"}
            </Button>
          </Box>
          <LinearProgress
            variant="determinate"
            value={executions.length ? (100 * done) / executions.length : 0}
            aria-label="Progress"
            sx={{ mb: 1.5, height: 6, borderRadius: 3 }}
          />
          <Collapse in={showCommand}>
            <Box
              component="pre"
              sx={{
                fontFamily: MONO,
                fontSize: 13,
                p: 1.5,
                bgcolor: "action.hover",
                borderRadius: 1,
                overflow: "auto",
                maxHeight: 300,
                m: 0,
                mb: 1.5,
              }}
            >
              {job.script ?? job.command}
            </Box>
            {job.environment_keys.length > 0 && (
              <Typography variant="body2" color="text.secondary" sx={{ mb: 1.5 }}>
                Environment (values hidden): {job.environment_keys.join(", ")}
              </Typography>
            )}
          </Collapse>
          <StatusGrid executions={executions} selected={selectedId} onSelect={select} />
        </CardContent>
      </Card>
      <Box
        sx={{
          display: "grid",
          gap: 2,
          gridTemplateColumns: { xs: "1fr", lg: "minmax(300px, 2fr) 3fr" },
          height: { lg: "calc(100vh - 120px)" },
          minHeight: 480,
        }}
      >
        <Card sx={{ display: "flex", minHeight: { xs: 360, lg: 0 } }}>
          <CardContent sx={{ flexGrow: 1, display: "flex", flexDirection: "column", minHeight: 0 }}>
            <Typography variant="h2" component="h2" gutterBottom>
              Systems
            </Typography>
            <ExecutionsList
              executions={executions}
              selected={selectedId}
              onSelect={select}
              canCancel={mayControl}
              onCancel={(execution) => void cancelExecution({ executionId: execution.id })}
            />
          </CardContent>
        </Card>
        <Card sx={{ display: "flex", minHeight: { xs: 420, lg: 0 } }}>
          <CardContent sx={{ flexGrow: 1, display: "flex", flexDirection: "column", minHeight: 0 }}>
            {selected ? (
              <>
                <Box
                  sx={{ display: "flex", flexWrap: "wrap", alignItems: "center", gap: 1, mb: 1 }}
                >
                  <Typography variant="h2" component="h2" sx={{ mr: 1 }}>
                    {selected.system_name}
                  </Typography>
                  <StatusChip status={selected.status} />
                  <Typography variant="body2" color="text.secondary">
                    {selected.exit_code !== null ? `exit ${selected.exit_code} · ` : ""}
                    {selected.started_at
                      ? duration(selected.started_at, selected.finished_at)
                      : "not started"}
                    {selected.output.bytes ? ` · ${bytes(selected.output.bytes)}` : ""}
                    {selected.attempt > 1 ? ` · attempt ${selected.attempt}` : ""}
                  </Typography>
                </Box>
                {selected.waiting && (
                  <Alert severity="info" sx={{ mb: 1 }}>
                    Waiting: {selected.waiting.message}
                  </Alert>
                )}
                {selected.error && (
                  <Alert severity="error" sx={{ mb: 1 }}>
                    {selected.error.code}
                    {selected.error.reason ? ` (${selected.error.reason})` : ""}:{" "}
                    {selected.error.message}
                  </Alert>
                )}
                {selected.output.truncated && (
                  <Alert severity="warning" sx={{ mb: 1 }}>
                    Output passed the cap: {bytes(selected.output.dropped_bytes)} in the middle were
                    dropped; the start and the end are kept.
                  </Alert>
                )}
                <OutputViewer
                  buffer={output.buffer}
                  version={output.version}
                  stream={stream}
                  onStream={setStream}
                  onDownload={() => void download(selected)}
                  running={!TERMINAL_STATES.has(selected.status)}
                  label={`Output of ${selected.system_name}`}
                />
              </>
            ) : (
              <Typography color="text.secondary">
                {loaded ? "Pick a system to see its output." : "Loading…"}
              </Typography>
            )}
          </CardContent>
        </Card>
      </Box>
      <ConfirmDialog
        open={confirmCancel}
        title="Cancel this job?"
        confirm="Cancel job"
        danger
        onClose={() => setConfirmCancel(false)}
        onConfirm={() => void cancelJob({ jobId: job.id })}
      >
        Systems not started yet will not start; running commands are stopped on their hosts.
      </ConfirmDialog>
    </>
  );
}
