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
  useDeleteSystemMutation,
  useListJobsQuery,
  useScanHostKeyMutation,
  useTestSystemMutation,
  type HostKeyScan,
  type SystemOut,
} from "@/client/orca-api";
import { ConfirmDialog } from "@/components/ui/confirm-dialog";
import { PageHeader } from "@/components/ui/page-header";
import { ProblemAlert } from "@/components/ui/problem-alert";
import { HealthChip, StatusChip } from "@/components/ui/status-chip";
import { paths } from "@/config/paths";
import { usePermissions } from "@/hooks/use-permissions";
import { ago, when } from "@/lib/format";
import { MONO } from "@/lib/theme";
import { HostKeyDialog } from "@/features/systems/components/host-key-dialog";

function Field({ label, children }: { label: string; children: ReactNode }) {
  return (
    <>
      <Box component="dt" sx={{ color: "text.secondary" }}>
        {label}
      </Box>
      <Box component="dd" sx={{ m: 0, overflowWrap: "anywhere" }}>
        {children}
      </Box>
    </>
  );
}

export function SystemDetail({ system }: { system: SystemOut }) {
  const { can } = usePermissions();
  const navigate = useNavigate();
  const [test, tested] = useTestSystemMutation();
  const [scan, scanned] = useScanHostKeyMutation();
  const [remove, removed] = useDeleteSystemMutation();
  const [scanResult, setScanResult] = useState<HostKeyScan | null>(null);
  const [confirmDelete, setConfirmDelete] = useState(false);
  const jobs = useListJobsQuery({ systemId: system.id, limit: 10 });
  const options = Object.entries(system.options).filter(([key]) => key !== "ca_bundle");

  return (
    <>
      <PageHeader
        title={system.name}
        subtitle={system.description ?? undefined}
        actions={
          <>
            <Button
              variant="outlined"
              onClick={() => void test({ systemId: system.id })}
              disabled={tested.isLoading}
            >
              {tested.isLoading ? "Testing…" : "Test connection"}
            </Button>
            {system.connector === "ssh" && can("systems:edit") && (
              <Button
                variant="outlined"
                disabled={scanned.isLoading}
                onClick={async () => {
                  const result = await scan({ systemId: system.id });
                  if ("data" in result && result.data) setScanResult(result.data);
                }}
              >
                {scanned.isLoading ? "Scanning…" : "Scan host key"}
              </Button>
            )}
            {can("systems:edit") && (
              <Button component={RouterLink} to={paths.editSystem(system.id)} variant="outlined">
                Edit
              </Button>
            )}
            {can("systems:admin") && (
              <Button color="error" variant="outlined" onClick={() => setConfirmDelete(true)}>
                Delete
              </Button>
            )}
          </>
        }
      />
      <ProblemAlert error={tested.error} title="Could not test" />
      <ProblemAlert error={scanned.error} title="Could not scan the host key" />
      <ProblemAlert error={removed.error} title="Not deleted" />
      {tested.data && (
        <Alert severity={tested.data.ok ? "success" : "error"} sx={{ mb: 2 }} role="status">
          {tested.data.ok
            ? `Connected, authenticated and ran a command in ${Math.round(tested.data.latency_ms ?? 0)} ms.`
            : `Failed (${tested.data.category ?? "error"}): ${tested.data.message ?? ""}`}
        </Alert>
      )}
      {system.connector === "ssh" && !system.host_key_fingerprint && (
        <Alert severity="warning" sx={{ mb: 2 }}>
          No host key is trusted for this system yet: scan it, check the fingerprint on the machine,
          and trust it.
        </Alert>
      )}
      <Box sx={{ display: "grid", gap: 2, gridTemplateColumns: { xs: "1fr", md: "1fr 1fr" } }}>
        <Card>
          <CardContent>
            <Typography variant="h2" component="h2" gutterBottom>
              Details
            </Typography>
            <Box
              component="dl"
              sx={{
                display: "grid",
                gridTemplateColumns: "max-content 1fr",
                columnGap: 2,
                rowGap: 1,
                m: 0,
              }}
            >
              <Field label="Health">
                <HealthChip health={system.health_status} />{" "}
                <Typography component="span" variant="body2" color="text.secondary">
                  checked {ago(system.last_checked_at)}
                </Typography>
              </Field>
              {system.last_error && <Field label="Last error">{system.last_error}</Field>}
              <Field label="Kind">{system.kind}</Field>
              <Field label="Connector">{system.connector}</Field>
              {system.connector !== "local" && (
                <Field label="Address">
                  <span style={{ fontFamily: MONO }}>
                    {system.host}
                    {system.port ? `:${system.port}` : ""}
                  </span>
                </Field>
              )}
              {system.connector === "ssh" && (
                <Field label="Host key">
                  <span style={{ fontFamily: MONO }}>
                    {system.host_key_fingerprint ?? "not trusted yet"}
                  </span>
                </Field>
              )}
              <Field label="Labels">
                <Box sx={{ display: "flex", flexWrap: "wrap", gap: 0.5 }}>
                  {Object.entries(system.labels).map(([key, value]) => (
                    <Chip
                      key={key}
                      size="small"
                      variant="outlined"
                      label={`${key}=${String(value)}`}
                    />
                  ))}
                  {Object.keys(system.labels).length === 0 && "none"}
                </Box>
              </Field>
              {options.map(([key, value]) => (
                <Field key={key} label={key.replace(/_/g, " ")}>
                  {String(value)}
                </Field>
              ))}
              <Field label="Executions at once">{system.max_concurrency ?? "server default"}</Field>
              <Field label="Added">{when(system.created_at)}</Field>
            </Box>
          </CardContent>
        </Card>
        <Card>
          <CardContent>
            <Typography variant="h2" component="h2" gutterBottom>
              Recent jobs
            </Typography>
            {jobs.data?.items.length === 0 && (
              <Typography variant="body2" color="text.secondary">
                No job has run here yet.
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
                    {ago(job.created_at)}
                  </Typography>
                </Box>
              ))}
            </Box>
          </CardContent>
        </Card>
      </Box>
      <HostKeyDialog systemId={system.id} scan={scanResult} onClose={() => setScanResult(null)} />
      <ConfirmDialog
        open={confirmDelete}
        title={`Delete ${system.name}?`}
        confirm="Delete"
        danger
        onClose={() => setConfirmDelete(false)}
        onConfirm={async () => {
          const result = await remove({ systemId: system.id });
          if ("data" in result) navigate(paths.systems);
        }}
      >
        Jobs that ran here keep their history. The system leaves every group it was in.
      </ConfirmDialog>
    </>
  );
}
