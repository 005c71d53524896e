import Alert from "@mui/material/Alert";
import Box from "@mui/material/Box";
import Button from "@mui/material/Button";
import Card from "@mui/material/Card";
import CardContent from "@mui/material/CardContent";
import Checkbox from "@mui/material/Checkbox";
import Chip from "@mui/material/Chip";
import FormControlLabel from "@mui/material/FormControlLabel";
import MenuItem from "@mui/material/MenuItem";
import Stack from "@mui/material/Stack";
import TextField from "@mui/material/TextField";
import ToggleButton from "@mui/material/ToggleButton";
import ToggleButtonGroup from "@mui/material/ToggleButtonGroup";
import Typography from "@mui/material/Typography";
import { lazy, Suspense, useState, type FormEvent, type ReactNode } from "react";

import {
  useCreateTemplateMutation,
  useUpdateTemplateMutation,
  type Shell,
  type TemplateCreate,
  type TemplateOut,
  type TemplateUpdate,
} from "@/client/orca-api";
import { TargetPicker } from "@/components/targets/target-picker";
import { PageLoading } from "@/components/ui/page-loading";
import { ProblemAlert } from "@/components/ui/problem-alert";
import { parseEnvironment } from "@/lib/environment";
import { fieldMessage, problemOf } from "@/lib/errors";
import { draftOf, toTargets, type TargetDraft } from "@/lib/targets";
import { MONO } from "@/lib/theme";
import { AccessEditor, type AccessRow } from "@/features/templates/components/access-editor";
import { ParametersEditor } from "@/features/templates/components/parameters-editor";
import {
  defOf,
  parameterOf,
  placeholders,
  type ParameterDef,
} from "@/features/templates/parameter-defs";

const ScriptEditor = lazy(() => import("@/components/ui/script-editor"));

type Threshold = "none" | "count" | "percent";

function Section({ title, children }: { title: string; children: ReactNode }) {
  return (
    <Card>
      <CardContent>
        <Stack spacing={2}>
          <Typography variant="h2" component="h2">
            {title}
          </Typography>
          {children}
        </Stack>
      </CardContent>
    </Card>
  );
}

/** A new template, or changes to `template`. Environment values are write-only: editing keeps
 * the stored ones unless new ones are typed (which replace the whole set). */
export function TemplateForm({
  template,
  onSaved,
  onCancel,
}: {
  template?: TemplateOut;
  onSaved: (template: TemplateOut) => void;
  onCancel: () => void;
}) {
  const [name, setName] = useState(template?.name ?? "");
  const [description, setDescription] = useState(template?.description ?? "");
  const [targets, setTargets] = useState<TargetDraft>(() => draftOf(template?.targets));
  const [mode, setMode] = useState<"command" | "script">(template?.script ? "script" : "command");
  const [command, setCommand] = useState(template?.command ?? "");
  const [script, setScript] = useState(template?.script ?? "");
  const [shell, setShell] = useState<Shell | "">(
    // New templates default to sh, where text parameters can be quoted into the command.
    template ? (template.shell ?? "") : "sh",
  );
  const [parameters, setParameters] = useState<ParameterDef[]>(() =>
    (template?.parameters ?? []).map(defOf),
  );
  const [timeout, setTimeout_] = useState(String(template?.timeout_seconds ?? 3600));
  const [priority, setPriority] = useState(String(template?.priority ?? 5));
  const [concurrency, setConcurrency] = useState(
    template?.concurrency ? String(template.concurrency) : "",
  );
  const [threshold, setThreshold] = useState<Threshold>(
    template?.failure_threshold?.count
      ? "count"
      : template?.failure_threshold?.percent
        ? "percent"
        : "none",
  );
  const [thresholdValue, setThresholdValue] = useState(
    String(template?.failure_threshold?.count ?? template?.failure_threshold?.percent ?? ""),
  );
  const [attempts, setAttempts] = useState(String(template?.retries?.attempts ?? 1));
  const [backoff, setBackoff] = useState(String(template?.retries?.backoff_seconds ?? 5));
  const [workingDirectory, setWorkingDirectory] = useState(template?.working_directory ?? "");
  const [environment, setEnvironment] = useState("");
  const [clearEnvironment, setClearEnvironment] = useState(false);
  const [access, setAccess] = useState<AccessRow[]>(
    () => template?.access.map((row) => ({ team: row.team_name, level: row.level })) ?? [],
  );
  const [localError, setLocalError] = useState<string>();
  const [create, created] = useCreateTemplateMutation();
  const [update, updated] = useUpdateTemplateMutation();
  const error = created.error ?? updated.error;
  const problem = problemOf(error);
  const help = (field: string, fallback?: string) => fieldMessage(problem, field) ?? fallback;
  const bad = (field: string) => Boolean(fieldMessage(problem, field));
  const storedKeys = template?.environment_keys ?? [];
  const text = mode === "command" ? command : script;
  const named = parameters.map((def) => def.name).filter(Boolean);
  // A secret never goes into the command text (the API refuses it): it is read from the
  // environment, so it is not offered for insertion.
  const insertable = parameters
    .filter((def) => def.name && def.type !== "secret")
    .map((def) => def.name);
  const unknown = placeholders(text).filter((used) => !named.includes(used));

  function insert(parameter: string) {
    const placeholder = `{{ ${parameter} }}`;
    if (mode === "command") setCommand((current) => `${current.trimEnd()} ${placeholder}`.trim());
    else
      setScript(
        (current) => `${current}${current && !current.endsWith("\n") ? " " : ""}${placeholder}`,
      );
  }

  async function submit(event: FormEvent) {
    event.preventDefault();
    const env = parseEnvironment(environment);
    setLocalError(env.error);
    if (env.error) return;
    const body = {
      name: name.trim(),
      description: description.trim() || null,
      targets: toTargets(targets),
      shell: shell || null,
      ...(mode === "command" ? { command } : { script }),
      parameters: parameters.map(parameterOf),
      timeout_seconds: Number(timeout),
      priority: Number(priority),
      concurrency: concurrency ? Number(concurrency) : null,
      failure_threshold:
        threshold === "none" || !thresholdValue ? null : { [threshold]: Number(thresholdValue) },
      retries:
        Number(attempts) > 1
          ? { attempts: Number(attempts), backoff_seconds: Number(backoff || 0) }
          : null,
      working_directory: workingDirectory.trim() || null,
      access: access
        .filter((row) => row.team.trim())
        .map((row) => ({ ...row, team: row.team.trim() })),
    } satisfies TemplateCreate & TemplateUpdate;
    if (!template) {
      const result = await create({ templateCreate: { ...body, environment: env.values } });
      if ("data" in result && result.data) onSaved(result.data);
      return;
    }
    const replaced = Object.keys(env.values).length > 0;
    const result = await update({
      templateId: template.id,
      templateUpdate: {
        ...body,
        ...(replaced ? { environment: env.values } : clearEnvironment ? { environment: {} } : {}),
      },
    });
    if ("data" in result && result.data) onSaved(result.data);
  }

  const busy = created.isLoading || updated.isLoading;
  return (
    <Box component="form" onSubmit={submit} noValidate autoComplete="off">
      <ProblemAlert error={error} title="Not saved" />
      {localError && (
        <Alert severity="error" sx={{ mb: 2 }}>
          {localError}
        </Alert>
      )}
      <Stack spacing={2}>
        <Section title="Template">
          <TextField
            label="Name"
            required
            value={name}
            onChange={(e) => setName(e.target.value)}
            error={bad("name")}
            helperText={help(
              "name",
              "Also the name of the jobs it launches, unless a launch names them",
            )}
          />
          <TextField
            label="Description"
            multiline
            minRows={2}
            value={description}
            onChange={(e) => setDescription(e.target.value)}
            error={bad("description")}
            helperText={help("description", "What it does, for the people who launch it")}
          />
        </Section>
        <Section title="Where">
          <TargetPicker value={targets} onChange={setTargets} />
          {bad("targets") && (
            <Typography color="error" variant="body2">
              {help("targets")}
            </Typography>
          )}
        </Section>
        <Section title="What">
          <Box sx={{ display: "flex", flexWrap: "wrap", gap: 2, alignItems: "center" }}>
            <ToggleButtonGroup
              size="small"
              exclusive
              value={mode}
              onChange={(_, value) => value && setMode(value)}
              aria-label="Command or script"
            >
              <ToggleButton value="command">One command</ToggleButton>
              <ToggleButton value="script">Script</ToggleButton>
            </ToggleButtonGroup>
            <TextField
              select
              label="Shell"
              value={shell}
              onChange={(e) => setShell(e.target.value as Shell | "")}
              error={bad("shell")}
              helperText={help(
                "shell",
                "Text parameters go into the command only with sh, bash or PowerShell",
              )}
              sx={{ minWidth: 240, maxWidth: 420 }}
            >
              <MenuItem value="">Each system's default</MenuItem>
              <MenuItem value="sh">sh (Linux)</MenuItem>
              <MenuItem value="bash">bash (Linux)</MenuItem>
              <MenuItem value="powershell">PowerShell (Windows)</MenuItem>
              <MenuItem value="cmd">cmd (Windows)</MenuItem>
            </TextField>
          </Box>
          {mode === "command" ? (
            <TextField
              label="Command"
              required
              value={command}
              onChange={(e) => setCommand(e.target.value)}
              error={bad("command")}
              helperText={help(
                "command",
                "{{ name }} places a parameter's value (text quoted for the shell); every parameter is also the variable ORCA_PARAM_<NAME>.",
              )}
              slotProps={{
                htmlInput: {
                  style: { fontFamily: MONO },
                  spellCheck: false,
                  autoCapitalize: "off",
                },
              }}
            />
          ) : (
            <Box>
              <Suspense fallback={<PageLoading label="Loading the editor" />}>
                <ScriptEditor
                  value={script}
                  onChange={setScript}
                  language={shell === "powershell" || shell === "cmd" ? "powershell" : "shell"}
                  label="Script"
                />
              </Suspense>
              <Typography
                color={bad("script") ? "error" : "text.secondary"}
                variant="body2"
                sx={{ mt: 0.5 }}
              >
                {help(
                  "script",
                  "{{ name }} places a parameter's value; every parameter is also the variable ORCA_PARAM_<NAME>.",
                )}
              </Typography>
            </Box>
          )}
          {insertable.length > 0 && (
            <Box sx={{ display: "flex", flexWrap: "wrap", gap: 0.5, alignItems: "center" }}>
              <Typography variant="body2" color="text.secondary" sx={{ mr: 0.5 }}>
                Insert:
              </Typography>
              {insertable.map((parameter) => (
                <Chip
                  key={parameter}
                  size="small"
                  variant="outlined"
                  label={`{{ ${parameter} }}`}
                  onClick={() => insert(parameter)}
                  sx={{ fontFamily: MONO }}
                />
              ))}
            </Box>
          )}
          {unknown.length > 0 && (
            <Alert severity="warning">
              {unknown.map((used) => `{{ ${used} }}`).join(", ")} names no parameter yet: add it
              below, or the template is refused.
            </Alert>
          )}
        </Section>
        <Section title="Parameters">
          <ParametersEditor value={parameters} onChange={setParameters} problem={problem} />
        </Section>
        <Section title="How">
          <Box
            sx={{
              display: "grid",
              gap: 2,
              gridTemplateColumns: { xs: "1fr", sm: "1fr 1fr", md: "repeat(4, 1fr)" },
            }}
          >
            <TextField
              label="Timeout (seconds)"
              type="number"
              value={timeout}
              onChange={(e) => setTimeout_(e.target.value)}
              error={bad("timeout_seconds")}
              helperText={help("timeout_seconds", "Per system")}
              slotProps={{ htmlInput: { min: 1, max: 86400 } }}
            />
            <TextField
              label="Priority"
              type="number"
              value={priority}
              onChange={(e) => setPriority(e.target.value)}
              error={bad("priority")}
              helperText={help("priority", "1 to 10; higher first")}
              slotProps={{ htmlInput: { min: 1, max: 10 } }}
            />
            <TextField
              label="Concurrency"
              type="number"
              value={concurrency}
              onChange={(e) => setConcurrency(e.target.value)}
              error={bad("concurrency")}
              helperText={help("concurrency", "Systems at once; empty: no limit")}
              slotProps={{ htmlInput: { min: 1 } }}
            />
            <Box sx={{ display: "flex", gap: 1 }}>
              <TextField
                select
                label="Stop after failures"
                value={threshold}
                onChange={(e) => setThreshold(e.target.value as Threshold)}
                sx={{ minWidth: 130 }}
              >
                <MenuItem value="none">Never</MenuItem>
                <MenuItem value="count">Count</MenuItem>
                <MenuItem value="percent">Percent</MenuItem>
              </TextField>
              {threshold !== "none" && (
                <TextField
                  label={threshold === "count" ? "Failures" : "%"}
                  type="number"
                  value={thresholdValue}
                  onChange={(e) => setThresholdValue(e.target.value)}
                  error={bad("failure_threshold")}
                  helperText={help("failure_threshold")}
                />
              )}
            </Box>
            <TextField
              label="Attempts"
              type="number"
              value={attempts}
              onChange={(e) => setAttempts(e.target.value)}
              error={bad("retries")}
              helperText={help(
                "retries",
                "Tries per unreachable system, 1 to 10 (never a command that started)",
              )}
              slotProps={{ htmlInput: { min: 1, max: 10 } }}
            />
            {Number(attempts) > 1 && (
              <TextField
                label="Backoff (seconds)"
                type="number"
                value={backoff}
                onChange={(e) => setBackoff(e.target.value)}
                error={bad("retries.backoff_seconds")}
                helperText={help("retries.backoff_seconds", "Before the second try, doubled after")}
                slotProps={{ htmlInput: { min: 0, max: 3600 } }}
              />
            )}
          </Box>
          <TextField
            label="Working directory"
            value={workingDirectory}
            onChange={(e) => setWorkingDirectory(e.target.value)}
            error={bad("working_directory")}
            helperText={help(
              "working_directory",
              "Where the command starts; empty: the account's home",
            )}
          />
          <TextField
            label="Environment"
            multiline
            minRows={2}
            value={environment}
            onChange={(e) => setEnvironment(e.target.value)}
            error={bad("environment")}
            helperText={help(
              "environment",
              storedKeys.length
                ? `Stored: ${storedKeys.join(", ")} (values never shown). Leave empty to keep them; NAME=value lines replace the whole set.`
                : "NAME=value per line. Values are stored encrypted and never shown again.",
            )}
            slotProps={{ htmlInput: { style: { fontFamily: MONO }, spellCheck: false } }}
          />
          {storedKeys.length > 0 && !environment.trim() && (
            <FormControlLabel
              control={
                <Checkbox
                  checked={clearEnvironment}
                  onChange={(e) => setClearEnvironment(e.target.checked)}
                />
              }
              label="Remove the stored variables"
            />
          )}
        </Section>
        <Section title="Access">
          <AccessEditor value={access} onChange={setAccess} problem={problem} />
        </Section>
        <Box sx={{ display: "flex", gap: 1 }}>
          <Button
            type="submit"
            variant="contained"
            size="large"
            disabled={busy || !name.trim() || !text.trim()}
          >
            {busy ? "Saving…" : template ? "Save changes" : "Create template"}
          </Button>
          <Button size="large" onClick={onCancel}>
            Cancel
          </Button>
        </Box>
      </Stack>
    </Box>
  );
}
