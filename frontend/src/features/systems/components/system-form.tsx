import Alert from "@mui/material/Alert";
import Autocomplete from "@mui/material/Autocomplete";
import Box from "@mui/material/Box";
import Button from "@mui/material/Button";
import Card from "@mui/material/Card";
import CardContent from "@mui/material/CardContent";
import FormControlLabel from "@mui/material/FormControlLabel";
import MenuItem from "@mui/material/MenuItem";
import Stack from "@mui/material/Stack";
import Switch from "@mui/material/Switch";
import TextField from "@mui/material/TextField";
import Typography from "@mui/material/Typography";
import { useState, type FormEvent } from "react";

import {
  useCreateSystemMutation,
  useListCredentialsQuery,
  useListGroupsQuery,
  useUpdateSystemMutation,
  type SystemOut,
} from "@/client/orca-api";
import { ProblemAlert } from "@/components/ui/problem-alert";
import { usePermissions } from "@/hooks/use-permissions";
import { fieldMessage, problemOf } from "@/lib/errors";
import { MONO } from "@/lib/theme";
import { formatLabels, parseLabels } from "@/features/systems/labels";

type Connector = "ssh" | "winrm" | "local";

const CREDENTIAL_KINDS: Record<Connector, string[]> = {
  ssh: ["ssh-password", "ssh-key"],
  winrm: ["winrm-password", "winrm-certificate"],
  local: [],
};

type Values = {
  name: string;
  description: string;
  connector: Connector;
  host: string;
  port: string;
  credentialId: string;
  labels: string;
  groupIds: string[];
  maxConcurrency: string;
  hostKey: string;
  // ssh
  jumpHost: string;
  jumpPort: string;
  jumpUsername: string;
  jumpHostKey: string;
  connectTimeout: string;
  // winrm
  transport: string;
  scheme: "http" | "https";
  certValidation: boolean;
  caBundle: string;
  workingDirectory: string;
  operationTimeout: string;
};

type TextKey = { [K in keyof Values]: Values[K] extends string ? K : never }[keyof Values];

function initial(system?: SystemOut): Values {
  const options = (system?.options ?? {}) as Record<string, unknown>;
  const text = (key: string) =>
    options[key] === undefined || options[key] === null ? "" : String(options[key]);
  return {
    name: system?.name ?? "",
    description: system?.description ?? "",
    connector: ((system?.connector as Connector) ?? "ssh") || "ssh",
    host: system?.host ?? "",
    port: system?.port ? String(system.port) : "",
    credentialId: system?.credential_id ?? "",
    labels: system ? formatLabels(system.labels) : "",
    groupIds: system?.group_ids ?? [],
    maxConcurrency: system?.max_concurrency ? String(system.max_concurrency) : "",
    hostKey: "",
    jumpHost: text("jump_host"),
    jumpPort: text("jump_port"),
    jumpUsername: text("jump_username"),
    jumpHostKey: text("jump_host_key"),
    connectTimeout: text("connect_timeout"),
    transport: text("transport") || "ntlm",
    scheme: options.scheme === "https" ? "https" : "http",
    certValidation: options.cert_validation !== false,
    caBundle: text("ca_bundle"),
    workingDirectory: text("working_directory"),
    operationTimeout: text("operation_timeout"),
  };
}

function options(values: Values): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const number = (key: string, value: string) => {
    if (value.trim()) out[key] = Number(value);
  };
  const string = (key: string, value: string) => {
    if (value.trim()) out[key] = value.trim();
  };
  if (values.connector === "ssh") {
    string("jump_host", values.jumpHost);
    number("jump_port", values.jumpPort);
    string("jump_username", values.jumpUsername);
    string("jump_host_key", values.jumpHostKey);
    number("connect_timeout", values.connectTimeout);
  }
  if (values.connector === "winrm") {
    out.transport = values.transport;
    out.scheme = values.scheme;
    if (values.scheme === "https" && !values.certValidation) out.cert_validation = false;
    string("ca_bundle", values.caBundle);
    string("working_directory", values.workingDirectory);
    number("operation_timeout", values.operationTimeout);
  }
  return out;
}

export function SystemForm({
  system,
  onSaved,
}: {
  system?: SystemOut;
  onSaved: (system: SystemOut) => void;
}) {
  const [values, setValues] = useState<Values>(() => initial(system));
  const [labelError, setLabelError] = useState<string>();
  const { can } = usePermissions();
  const admin = can("systems:admin");
  const credentials = useListCredentialsQuery({ limit: 500 }, { skip: !can("credentials:read") });
  const groups = useListGroupsQuery({ limit: 500 });
  const [create, created] = useCreateSystemMutation();
  const [update, updated] = useUpdateSystemMutation();
  const error = created.error ?? updated.error;
  const problem = problemOf(error);
  const busy = created.isLoading || updated.isLoading;

  const set = <K extends keyof Values>(key: K, value: Values[K]) =>
    setValues((current) => ({ ...current, [key]: value }));
  const help = (field: string, fallback?: string) => fieldMessage(problem, field) ?? fallback;
  const bad = (field: string) => Boolean(fieldMessage(problem, field));
  // An input for one of how-to-reach-it's text values: only admins change them, and the API's
  // message for its field (`options.jump_port`) shows under it.
  const reach = (key: TextKey, field: string, fallback?: string) => ({
    value: values[key],
    onChange: (event: { target: { value: string } }) => set(key, event.target.value),
    disabled: !admin,
    error: bad(field),
    helperText: help(field, fallback),
  });

  async function submit(event: FormEvent) {
    event.preventDefault();
    const parsed = parseLabels(values.labels);
    setLabelError(parsed.error);
    if (parsed.error) return;
    const common = {
      name: values.name.trim(),
      description: values.description.trim() || null,
      labels: parsed.labels,
      group_ids: values.groupIds,
      max_concurrency: values.maxConcurrency ? Number(values.maxConcurrency) : null,
    };
    const reach = {
      connector: values.connector,
      host: values.connector === "local" ? "localhost" : values.host.trim(),
      port: values.port ? Number(values.port) : null,
      credential_id: values.credentialId || null,
      options: options(values),
    };
    const result = system
      ? await update({
          systemId: system.id,
          systemUpdate: admin ? { ...common, ...reach } : common,
        })
      : await create({
          systemCreate: { ...common, ...reach, host_key: values.hostKey.trim() || null },
        });
    if ("data" in result && result.data) onSaved(result.data);
  }

  const kinds = CREDENTIAL_KINDS[values.connector];
  const credentialChoices = (credentials.data?.items ?? []).filter((c) => kinds.includes(c.kind));

  return (
    <Box component="form" onSubmit={submit} noValidate>
      <ProblemAlert error={error} title="Not saved" />
      <Stack spacing={2}>
        <Card>
          <CardContent>
            <Stack spacing={2}>
              <Typography variant="h2" component="h2">
                The system
              </Typography>
              <TextField
                label="Name"
                required
                value={values.name}
                onChange={(e) => set("name", e.target.value)}
                error={bad("name")}
                helperText={help("name", "Unique; jobs can target it by name.")}
              />
              <TextField
                label="Description"
                value={values.description}
                onChange={(e) => set("description", e.target.value)}
                multiline
                minRows={2}
              />
              <TextField
                label="Labels"
                value={values.labels}
                onChange={(e) => set("labels", e.target.value)}
                error={Boolean(labelError) || bad("labels")}
                helperText={
                  labelError ?? help("labels", "key=value, comma-separated (os=linux, env=prod)")
                }
              />
              <Autocomplete
                multiple
                options={groups.data?.items ?? []}
                getOptionLabel={(group) => group.name}
                value={(groups.data?.items ?? []).filter((group) =>
                  values.groupIds.includes(group.id),
                )}
                onChange={(_, chosen) =>
                  set(
                    "groupIds",
                    chosen.map((group) => group.id),
                  )
                }
                renderInput={(params) => (
                  <TextField
                    {...params}
                    label="Groups"
                    helperText={help("group_ids", "Grants on a group reach its systems.")}
                  />
                )}
              />
              <TextField
                label="Executions at once"
                type="number"
                value={values.maxConcurrency}
                onChange={(e) => set("maxConcurrency", e.target.value)}
                error={bad("max_concurrency")}
                helperText={help(
                  "max_concurrency",
                  "Across all jobs; empty for the server's default.",
                )}
                slotProps={{ htmlInput: { min: 1, max: 1000 } }}
              />
            </Stack>
          </CardContent>
        </Card>
        <Card>
          <CardContent>
            <Stack spacing={2}>
              <Typography variant="h2" component="h2">
                How Orca reaches it
              </Typography>
              {!admin && <Alert severity="info">Only admins change how a system is reached.</Alert>}
              <TextField
                select
                label="Connector"
                value={values.connector}
                disabled={!admin}
                onChange={(e) => set("connector", e.target.value as Connector)}
                helperText="SSH for Linux, WinRM for Windows, local for the worker's own host."
              >
                <MenuItem value="ssh">SSH (Linux)</MenuItem>
                <MenuItem value="winrm">WinRM (Windows)</MenuItem>
                <MenuItem value="local">Local (the worker's host)</MenuItem>
              </TextField>
              {values.connector !== "local" && (
                <Box
                  sx={{
                    display: "grid",
                    gap: 2,
                    gridTemplateColumns: { xs: "1fr", sm: "3fr 1fr" },
                  }}
                >
                  <TextField label="Host" required {...reach("host", "host", "Name or address")} />
                  <TextField
                    label="Port"
                    type="number"
                    {...reach(
                      "port",
                      "port",
                      values.connector === "ssh"
                        ? "Default 22"
                        : values.scheme === "https"
                          ? "Default 5986"
                          : "Default 5985",
                    )}
                  />
                </Box>
              )}
              {values.connector !== "local" && (
                <TextField
                  select
                  label="Credential"
                  disabled={!admin || !can("credentials:read")}
                  value={values.credentialId}
                  onChange={(e) => set("credentialId", e.target.value)}
                  error={bad("credential_id")}
                  helperText={help("credential_id", `A ${kinds.join(" or ")} credential.`)}
                >
                  <MenuItem value="">None</MenuItem>
                  {credentialChoices.map((credential) => (
                    <MenuItem key={credential.id} value={credential.id}>
                      {credential.name} ({credential.kind}, {credential.username})
                    </MenuItem>
                  ))}
                  {values.credentialId &&
                    !credentialChoices.some((c) => c.id === values.credentialId) && (
                      <MenuItem value={values.credentialId}>The current credential</MenuItem>
                    )}
                </TextField>
              )}
              {values.connector === "ssh" && !system && (
                <TextField
                  label="Host key to pin (optional)"
                  value={values.hostKey}
                  onChange={(e) => set("hostKey", e.target.value)}
                  error={bad("host_key")}
                  helperText={help(
                    "host_key",
                    "ssh-ed25519 AAAA… from the host; or scan and trust it after saving.",
                  )}
                  slotProps={{ htmlInput: { style: { fontFamily: MONO } } }}
                />
              )}
              {values.connector === "ssh" && (
                <Box
                  sx={{
                    display: "grid",
                    gap: 2,
                    gridTemplateColumns: { xs: "1fr", sm: "1fr 1fr" },
                  }}
                >
                  <TextField
                    label="Jump host"
                    {...reach(
                      "jumpHost",
                      "options.jump_host",
                      "A bastion to go through (optional)",
                    )}
                  />
                  <TextField
                    label="Jump port"
                    type="number"
                    {...reach("jumpPort", "options.jump_port")}
                  />
                  <TextField
                    label="Jump username"
                    {...reach("jumpUsername", "options.jump_username")}
                  />
                  <TextField
                    label="Jump host key"
                    {...reach(
                      "jumpHostKey",
                      "options.jump_host_key",
                      "The bastion's public key, pinned",
                    )}
                  />
                  <TextField
                    label="Connect timeout (s)"
                    type="number"
                    {...reach("connectTimeout", "options.connect_timeout", "Default 10")}
                  />
                </Box>
              )}
              {values.connector === "winrm" && (
                <>
                  <Box
                    sx={{
                      display: "grid",
                      gap: 2,
                      gridTemplateColumns: { xs: "1fr", sm: "1fr 1fr" },
                    }}
                  >
                    <TextField
                      select
                      label="Transport"
                      disabled={!admin}
                      value={values.transport}
                      onChange={(e) => set("transport", e.target.value)}
                      error={bad("options.transport")}
                      helperText={help(
                        "options.transport",
                        "NTLM encrypts every message, even over HTTP.",
                      )}
                    >
                      <MenuItem value="ntlm">NTLM</MenuItem>
                      <MenuItem value="basic">Basic (HTTPS only)</MenuItem>
                      <MenuItem value="certificate">Client certificate (HTTPS only)</MenuItem>
                      <MenuItem value="kerberos">Kerberos (extra)</MenuItem>
                      <MenuItem value="credssp">CredSSP (extra)</MenuItem>
                    </TextField>
                    <TextField
                      select
                      label="Scheme"
                      disabled={!admin}
                      value={values.scheme}
                      onChange={(e) => set("scheme", e.target.value as "http" | "https")}
                      error={bad("options.scheme")}
                      helperText={help("options.scheme")}
                    >
                      <MenuItem value="http">HTTP (5985)</MenuItem>
                      <MenuItem value="https">HTTPS (5986)</MenuItem>
                    </TextField>
                  </Box>
                  {values.scheme === "https" && (
                    <>
                      <FormControlLabel
                        control={
                          <Switch
                            checked={values.certValidation}
                            disabled={!admin}
                            onChange={(e) => set("certValidation", e.target.checked)}
                          />
                        }
                        label="Verify the host's TLS certificate"
                      />
                      {!values.certValidation && (
                        <Alert severity="warning">
                          Without verification, anyone on the network path can pose as this host and
                          receive its credential. This choice is recorded in the audit log.
                        </Alert>
                      )}
                      <TextField
                        label="CA certificates (PEM)"
                        disabled={!admin}
                        multiline
                        minRows={3}
                        value={values.caBundle}
                        onChange={(e) => set("caBundle", e.target.value)}
                        error={bad("options.ca_bundle")}
                        helperText={help(
                          "options.ca_bundle",
                          "The CAs to trust for this host; empty: the system's store.",
                        )}
                        slotProps={{ htmlInput: { style: { fontFamily: MONO, fontSize: 12 } } }}
                      />
                    </>
                  )}
                  <Box
                    sx={{
                      display: "grid",
                      gap: 2,
                      gridTemplateColumns: { xs: "1fr", sm: "1fr 1fr" },
                    }}
                  >
                    <TextField
                      label="Working directory"
                      {...reach("workingDirectory", "options.working_directory")}
                    />
                    <TextField
                      label="Operation timeout (s)"
                      type="number"
                      {...reach("operationTimeout", "options.operation_timeout", "Default 20")}
                    />
                  </Box>
                </>
              )}
              {values.connector === "local" && (
                <Alert severity="info">
                  Commands run on the worker's own machine, as its local account. Grant local
                  systems to admins only.
                </Alert>
              )}
            </Stack>
          </CardContent>
        </Card>
        <Box>
          <Button type="submit" variant="contained" disabled={busy || !values.name.trim()}>
            {busy ? "Saving…" : system ? "Save changes" : "Add system"}
          </Button>
        </Box>
      </Stack>
    </Box>
  );
}
