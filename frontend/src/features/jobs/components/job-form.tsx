import Alert from "@mui/material/Alert";
import Box from "@mui/material/Box";
import Button from "@mui/material/Button";
import Card from "@mui/material/Card";
import CardContent from "@mui/material/CardContent";
import MenuItem from "@mui/material/MenuItem";
import Stack from "@mui/material/Stack";
import TextField from "@mui/material/TextField";
import ToggleButton from "@mui/material/ToggleButton";
import ToggleButtonGroup from "@mui/material/ToggleButtonGroup";
import Typography from "@mui/material/Typography";
import { lazy, Suspense, useState, type FormEvent } from "react";

import { useCreateJobMutation, type JobCreate, type JobOut, type Shell } from "@/client/orca-api";
import { TargetPicker } from "@/components/targets/target-picker";
import { PageLoading } from "@/components/ui/page-loading";
import { ProblemAlert } from "@/components/ui/problem-alert";
import { parseEnvironment } from "@/lib/environment";
import { fieldMessage, problemOf } from "@/lib/errors";
import { draftOf, toTargets, type TargetDraft } from "@/lib/targets";
import { MONO } from "@/lib/theme";

const ScriptEditor = lazy(() => import("@/components/ui/script-editor"));

type Threshold = "none" | "count" | "percent";

/** A new job, or a copy of `from` (its environment values are never shown, so they are
 * typed again). */
export function JobForm({ from, onCreated }: { from?: JobOut; onCreated: (job: JobOut) => void }) {
  const [name, setName] = useState(from ? `${from.name} (copy)` : "");
  const [targets, setTargets] = useState<TargetDraft>(() => draftOf(from?.targets));
  const [mode, setMode] = useState<"command" | "script">(from?.script ? "script" : "command");
  const [command, setCommand] = useState(from?.command ?? "");
  const [script, setScript] = useState(from?.script ?? "");
  const [shell, setShell] = useState<Shell | "">(from?.shell ?? "");
  const [timeout, setTimeout_] = useState(String(from?.timeout_seconds ?? 3600));
  const [priority, setPriority] = useState(String(from?.priority ?? 5));
  const [concurrency, setConcurrency] = useState(from?.concurrency ? String(from.concurrency) : "");
  const [threshold, setThreshold] = useState<Threshold>(
    from?.failure_threshold?.count
      ? "count"
      : from?.failure_threshold?.percent
        ? "percent"
        : "none",
  );
  const [thresholdValue, setThresholdValue] = useState(
    String(from?.failure_threshold?.count ?? from?.failure_threshold?.percent ?? ""),
  );
  const [workingDirectory, setWorkingDirectory] = useState(from?.working_directory ?? "");
  const [environment, setEnvironment] = useState(
    from ? from.environment_keys.map((key) => `${key}=`).join("\n") : "",
  );
  const [localError, setLocalError] = useState<string>();
  // One key per form: a double-click or a retry after a timeout makes one job, not two.
  const [idempotencyKey] = useState(() => crypto.randomUUID());
  const [create, { isLoading, error }] = useCreateJobMutation();
  const problem = problemOf(error);
  const help = (field: string, fallback?: string) => fieldMessage(problem, field) ?? fallback;
  const bad = (field: string) => Boolean(fieldMessage(problem, field));

  async function submit(event: FormEvent) {
    event.preventDefault();
    const env = parseEnvironment(environment);
    setLocalError(env.error);
    if (env.error) return;
    const body: JobCreate = {
      name: name.trim() || null,
      targets: toTargets(targets),
      shell: shell || null,
      timeout_seconds: Number(timeout),
      priority: Number(priority),
      concurrency: concurrency ? Number(concurrency) : null,
      failure_threshold:
        threshold === "none" || !thresholdValue ? null : { [threshold]: Number(thresholdValue) },
      working_directory: workingDirectory.trim() || null,
      environment: env.values,
      ...(mode === "command" ? { command } : { script }),
    };
    const result = await create({ jobCreate: body, "Idempotency-Key": idempotencyKey });
    if ("data" in result && result.data) onCreated(result.data);
  }

  const body = mode === "command" ? command.trim() : script.trim();
  return (
    <Box component="form" onSubmit={submit} noValidate>
      <ProblemAlert error={error} title="Not started" />
      {localError && (
        <Alert severity="error" sx={{ mb: 2 }}>
          {localError}
        </Alert>
      )}
      <Stack spacing={2}>
        <Card>
          <CardContent>
            <Typography variant="h2" component="h2" gutterBottom>
              Where
            </Typography>
            <TargetPicker value={targets} onChange={setTargets} />
          </CardContent>
        </Card>
        <Card>
          <CardContent>
            <Stack spacing={2}>
              <Typography variant="h2" component="h2">
                What
              </Typography>
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
                  helperText={help("shell")}
                  sx={{ minWidth: 240 }}
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
                  value={command}
                  onChange={(e) => setCommand(e.target.value)}
                  error={bad("command")}
                  helperText={help("command", "Runs once on every system.")}
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
                  {bad("script") && (
                    <Typography color="error" variant="body2">
                      {help("script")}
                    </Typography>
                  )}
                </Box>
              )}
              <TextField
                label="Name (optional)"
                value={name}
                onChange={(e) => setName(e.target.value)}
                helperText="Defaults to the command or the script's first line."
              />
            </Stack>
          </CardContent>
        </Card>
        <Card>
          <CardContent>
            <Stack spacing={2}>
              <Typography variant="h2" component="h2">
                How
              </Typography>
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
                  from?.environment_keys.length
                    ? "NAME=value per line. Values are stored encrypted and never shown again: type them anew."
                    : "NAME=value per line. Values are stored encrypted and never shown again.",
                )}
                slotProps={{ htmlInput: { style: { fontFamily: MONO }, spellCheck: false } }}
              />
            </Stack>
          </CardContent>
        </Card>
        <Box>
          <Button type="submit" variant="contained" size="large" disabled={isLoading || !body}>
            {isLoading ? "Starting…" : "Run job"}
          </Button>
        </Box>
      </Stack>
    </Box>
  );
}
