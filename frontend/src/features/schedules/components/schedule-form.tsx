import Alert from "@mui/material/Alert";
import Autocomplete from "@mui/material/Autocomplete";
import Box from "@mui/material/Box";
import Button from "@mui/material/Button";
import Card from "@mui/material/Card";
import CardContent from "@mui/material/CardContent";
import Chip from "@mui/material/Chip";
import CircularProgress from "@mui/material/CircularProgress";
import FormControl from "@mui/material/FormControl";
import FormControlLabel from "@mui/material/FormControlLabel";
import FormHelperText from "@mui/material/FormHelperText";
import FormLabel from "@mui/material/FormLabel";
import Radio from "@mui/material/Radio";
import RadioGroup from "@mui/material/RadioGroup";
import Stack from "@mui/material/Stack";
import Switch from "@mui/material/Switch";
import TextField from "@mui/material/TextField";
import Typography from "@mui/material/Typography";
import { useMemo, useState, type FormEvent, type ReactNode } from "react";

import {
  useCreateScheduleMutation,
  useGetTemplateQuery,
  useListTemplatesQuery,
  usePreviewCronQuery,
  useUpdateScheduleMutation,
  type MissedRunPolicy,
  type ScheduleOut,
  type ScheduleUpdate,
} from "@/client/orca-api";
import { ParameterFields } from "@/components/parameters/parameter-fields";
import { ProblemAlert } from "@/components/ui/problem-alert";
import { useDebounced } from "@/hooks/use-debounced";
import { usePermissions } from "@/hooks/use-permissions";
import { fieldMessage, problemOf } from "@/lib/errors";
import { initialDraft, valuesOf, type ParameterDraft } from "@/lib/parameters";
import { MONO } from "@/lib/theme";
import { NextRuns } from "@/features/schedules/components/next-runs";
import {
  browserTimeZone,
  CRON_PRESETS,
  MISSED_POLICIES,
  timeZones,
} from "@/features/schedules/time-zones";

type TemplateChoice = { id: string; name: string };

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

const normal = (cron: string) => cron.trim().split(/\s+/).join(" ");

/** A new schedule (of `template` when given), or changes to `schedule`. Only what changed is
 * sent: a change to what runs or when makes the editor the schedule's owner, so nothing else
 * should count as one. */
export function ScheduleForm({
  schedule,
  template: givenTemplate,
  onSaved,
  onCancel,
}: {
  schedule?: ScheduleOut;
  template?: TemplateChoice;
  onSaved: (schedule: ScheduleOut) => void;
  onCancel: () => void;
}) {
  const { me } = usePermissions();
  const [name, setName] = useState(schedule?.name ?? "");
  const [description, setDescription] = useState(schedule?.description ?? "");
  const [template, setTemplate] = useState<TemplateChoice | null>(
    schedule ? { id: schedule.template_id, name: schedule.template_name } : (givenTemplate ?? null),
  );
  const [templateSearch, setTemplateSearch] = useState("");
  const [cron, setCron] = useState(schedule?.cron ?? "0 3 * * *");
  const [timezone, setTimezone] = useState(schedule?.timezone ?? browserTimeZone());
  const [enabled, setEnabled] = useState(schedule?.enabled ?? true);
  const [policy, setPolicy] = useState<MissedRunPolicy>(schedule?.missed_policy ?? "skip");
  const [grace, setGrace] = useState(String(schedule?.grace_seconds ?? 300));
  const [skipIfRunning, setSkipIfRunning] = useState(schedule?.skip_if_running ?? true);
  const [draft, setDraft] = useState<{ templateId: string; values: ParameterDraft } | null>(null);
  const [localError, setLocalError] = useState<string>();

  const searched = useDebounced(templateSearch, 250);
  const templates = useListTemplatesQuery({ q: searched || undefined, limit: 20 });
  const launchable = (templates.data?.items ?? [])
    .filter((item) => item.can_launch)
    .map((item) => ({ id: item.id, name: item.name }));
  // The one chosen stays an option while another search is shown.
  const options =
    template && !launchable.some((item) => item.id === template.id)
      ? [template, ...launchable]
      : launchable;
  const chosen = useGetTemplateQuery({ templateId: template?.id ?? "" }, { skip: !template });
  const parameters = chosen.data && chosen.data.id === template?.id ? chosen.data.parameters : null;
  const sameTemplate = Boolean(schedule && template?.id === schedule.template_id);
  const values = useMemo(
    () =>
      draft && draft.templateId === template?.id
        ? draft.values
        : parameters
          ? initialDraft(parameters, sameTemplate ? schedule?.parameters : {})
          : {},
    [draft, template, parameters, sameTemplate, schedule],
  );
  const storedSecrets = sameTemplate ? (schedule?.secret_parameters ?? []) : [];

  const asked = useDebounced({ cron: cron.trim(), timezone }, 400);
  const preview = usePreviewCronQuery(
    { cronPreview: { cron: asked.cron, timezone: asked.timezone, count: 5 } },
    { skip: !asked.cron },
  );
  const previewProblem = problemOf(preview.error);
  const previewRuns = preview.isFetching ? preview.data : preview.currentData;

  const [create, created] = useCreateScheduleMutation();
  const [update, updated] = useUpdateScheduleMutation();
  const error = created.error ?? updated.error;
  const problem = problemOf(error);
  const help = (field: string, fallback?: string) => fieldMessage(problem, field) ?? fallback;
  const bad = (field: string) => Boolean(fieldMessage(problem, field));
  const cronMessage = fieldMessage(problem, "cron") ?? fieldMessage(previewProblem, "cron");
  const zoneMessage = fieldMessage(problem, "timezone") ?? fieldMessage(previewProblem, "timezone");

  async function submit(event: FormEvent) {
    event.preventDefault();
    setLocalError(undefined);
    if (!template) {
      setLocalError("Choose the template it launches.");
      return;
    }
    const given = parameters ? valuesOf(parameters, values) : {};
    if (!schedule) {
      const result = await create({
        scheduleCreate: {
          name: name.trim(),
          description: description.trim() || null,
          template: template.id,
          cron: cron.trim(),
          timezone,
          enabled,
          parameters: given,
          missed_policy: policy,
          grace_seconds: Number(grace),
          skip_if_running: skipIfRunning,
        },
      });
      if ("data" in result && result.data) onSaved(result.data);
      return;
    }
    const change: ScheduleUpdate = {};
    if (name.trim() !== schedule.name) change.name = name.trim();
    if ((description.trim() || null) !== schedule.description)
      change.description = description.trim() || null;
    if (template.id !== schedule.template_id) change.template = template.id;
    if (normal(cron) !== normal(schedule.cron)) change.cron = cron.trim();
    if (timezone !== schedule.timezone) change.timezone = timezone;
    if (policy !== schedule.missed_policy) change.missed_policy = policy;
    if (Number(grace) !== schedule.grace_seconds) change.grace_seconds = Number(grace);
    if (skipIfRunning !== schedule.skip_if_running) change.skip_if_running = skipIfRunning;
    if (change.template || (draft && draft.templateId === template.id)) {
      // A stored secret left blank keeps its value (the API keeps what is not sent again).
      change.parameters = given;
    }
    if (Object.keys(change).length === 0) {
      onSaved(schedule);
      return;
    }
    const result = await update({ scheduleId: schedule.id, scheduleUpdate: change });
    if ("data" in result && result.data) onSaved(result.data);
  }

  const busy = created.isLoading || updated.isLoading;
  const policyId = "missed-policy-label";
  return (
    <Box component="form" onSubmit={submit} noValidate autoComplete="off">
      <ProblemAlert error={error} title="Not saved" />
      {localError && (
        <Alert severity="error" sx={{ mb: 2 }}>
          {localError}
        </Alert>
      )}
      {schedule && me && schedule.owner_id !== me.id && (
        <Alert severity="info" sx={{ mb: 2 }}>
          It runs as {schedule.owner_username ?? "its owner"}. Changing the template, its values,
          the cron expression or the time zone makes you its owner: it then runs as you, with your
          rights.
        </Alert>
      )}
      <Stack spacing={2}>
        <Section title="Schedule">
          <TextField
            label="Name"
            required
            value={name}
            onChange={(e) => setName(e.target.value)}
            error={bad("name")}
            helperText={help("name")}
          />
          <TextField
            label="Description"
            value={description}
            onChange={(e) => setDescription(e.target.value)}
            error={bad("description")}
            helperText={help("description")}
          />
        </Section>
        <Section title="What">
          <Autocomplete
            options={options}
            value={template}
            onChange={(_, choice) => setTemplate(choice)}
            inputValue={templateSearch}
            onInputChange={(_, text) => setTemplateSearch(text)}
            getOptionLabel={(option) => option.name}
            isOptionEqualToValue={(option, chosenOption) => option.id === chosenOption.id}
            filterOptions={(items) => items}
            loading={templates.isFetching}
            renderInput={(params) => (
              <TextField
                {...params}
                label="Template"
                required
                error={bad("template")}
                helperText={help("template", "The templates you may launch; it runs as you.")}
              />
            )}
          />
          {template && chosen.isFetching && !parameters && (
            <CircularProgress size={20} aria-label="Loading the template's parameters" />
          )}
          <ProblemAlert error={chosen.error} title="Could not load the template" />
          {parameters && (
            <ParameterFields
              parameters={parameters}
              value={values}
              onChange={(next) => setDraft({ templateId: template!.id, values: next })}
              problem={problem}
              storedSecrets={draft ? [] : storedSecrets}
            />
          )}
        </Section>
        <Section title="When">
          <Box
            sx={{
              display: "grid",
              gap: 2,
              gridTemplateColumns: { xs: "1fr", md: "1fr 1fr" },
              alignItems: "start",
            }}
          >
            <Stack spacing={1}>
              <TextField
                label="Cron expression"
                required
                value={cron}
                onChange={(e) => setCron(e.target.value)}
                error={Boolean(cronMessage)}
                helperText={
                  cronMessage ??
                  "minute hour day-of-month month day-of-week (0 3 * * 1-5), or @hourly, @daily, @weekly, @monthly"
                }
                slotProps={{ htmlInput: { style: { fontFamily: MONO }, spellCheck: false } }}
              />
              <Box sx={{ display: "flex", flexWrap: "wrap", gap: 0.5 }}>
                {CRON_PRESETS.map((preset) => (
                  <Chip
                    key={preset.cron}
                    size="small"
                    variant={normal(cron) === preset.cron ? "filled" : "outlined"}
                    label={preset.label}
                    onClick={() => setCron(preset.cron)}
                  />
                ))}
              </Box>
              <Autocomplete
                disableClearable
                options={timeZones()}
                value={timezone}
                onChange={(_, zone) => setTimezone(zone)}
                renderInput={(params) => (
                  <TextField
                    {...params}
                    label="Time zone"
                    error={Boolean(zoneMessage)}
                    helperText={
                      zoneMessage ??
                      `The cron fields are read in this zone${timezone === browserTimeZone() ? " (yours)" : ""}; daylight saving is followed.`
                    }
                  />
                )}
              />
            </Stack>
            <Box aria-live="polite" data-testid="cron-preview">
              <Typography variant="h3" component="h3" gutterBottom>
                Next runs
              </Typography>
              {!cron.trim() ? (
                <Typography variant="body2" color="text.secondary">
                  Type a cron expression.
                </Typography>
              ) : previewRuns ? (
                <Box sx={{ opacity: preview.isFetching ? 0.6 : 1 }}>
                  <NextRuns runs={previewRuns.next_runs} timeZone={asked.timezone} />
                </Box>
              ) : previewProblem ? (
                <Typography variant="body2" color="error">
                  {previewProblem.fields[0]?.message ?? previewProblem.message}
                </Typography>
              ) : (
                <CircularProgress size={20} aria-label="Working out the next runs" />
              )}
            </Box>
          </Box>
          {!schedule && (
            <Box>
              <FormControlLabel
                control={
                  <Switch checked={enabled} onChange={(e) => setEnabled(e.target.checked)} />
                }
                label="Enabled: start running at the next due time"
              />
            </Box>
          )}
        </Section>
        <Section title="When a run is missed or busy">
          <FormControl>
            <FormLabel id={policyId}>Missed runs</FormLabel>
            <RadioGroup
              aria-labelledby={policyId}
              value={policy}
              onChange={(e) => setPolicy(e.target.value as MissedRunPolicy)}
            >
              {(Object.keys(MISSED_POLICIES) as MissedRunPolicy[]).map((key) => (
                <FormControlLabel
                  key={key}
                  value={key}
                  control={<Radio />}
                  label={
                    <span>
                      <strong>{MISSED_POLICIES[key].label}.</strong> {MISSED_POLICIES[key].help}
                    </span>
                  }
                  sx={{ alignItems: "flex-start", my: 0.5, "& .MuiRadio-root": { pt: 0.25 } }}
                />
              ))}
            </RadioGroup>
            {bad("missed_policy") && <FormHelperText error>{help("missed_policy")}</FormHelperText>}
          </FormControl>
          <TextField
            label="Grace (seconds)"
            type="number"
            value={grace}
            onChange={(e) => setGrace(e.target.value)}
            error={bad("grace_seconds")}
            helperText={help(
              "grace_seconds",
              "How late a due time may still start as usual (10 s to 7 days); later is missed.",
            )}
            slotProps={{ htmlInput: { min: 10, max: 604800 } }}
            sx={{ maxWidth: 360 }}
          />
          <Box>
            <FormControlLabel
              control={
                <Switch
                  checked={skipIfRunning}
                  onChange={(e) => setSkipIfRunning(e.target.checked)}
                />
              }
              label="Skip if still running"
            />
            <FormHelperText sx={{ mt: 0 }}>
              A due time is skipped (and recorded so) while the job this schedule launched last
              still runs.
            </FormHelperText>
          </Box>
        </Section>
        <Box sx={{ display: "flex", gap: 1 }}>
          <Button
            type="submit"
            variant="contained"
            size="large"
            disabled={busy || !name.trim() || !cron.trim() || !template}
          >
            {busy ? "Saving…" : schedule ? "Save changes" : "Create schedule"}
          </Button>
          <Button size="large" onClick={onCancel}>
            Cancel
          </Button>
        </Box>
      </Stack>
    </Box>
  );
}
