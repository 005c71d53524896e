import Alert from "@mui/material/Alert";
import Box from "@mui/material/Box";
import Button from "@mui/material/Button";
import Card from "@mui/material/Card";
import CardContent from "@mui/material/CardContent";
import Stack from "@mui/material/Stack";
import TextField from "@mui/material/TextField";
import Typography from "@mui/material/Typography";
import { useState, type FormEvent } from "react";

import { useLaunchTemplateMutation, type JobOut, type TemplateOut } from "@/client/orca-api";
import { ParameterFields } from "@/components/parameters/parameter-fields";
import { ProblemAlert } from "@/components/ui/problem-alert";
import { fieldMessage, problemOf } from "@/lib/errors";
import { initialDraft, valuesOf, type ParameterDraft } from "@/lib/parameters";
import { describeTargets } from "@/lib/targets";
import { MONO } from "@/lib/theme";

/** A form made from the template's parameters; a launch submits the job as the caller. */
export function LaunchForm({
  template,
  onLaunched,
  onCancel,
}: {
  template: TemplateOut;
  onLaunched: (job: JobOut) => void;
  onCancel: () => void;
}) {
  const [values, setValues] = useState<ParameterDraft>(() => initialDraft(template.parameters));
  const [name, setName] = useState("");
  // One key per form: a double-click or a retry after a timeout makes one job, not two.
  const [idempotencyKey] = useState(() => crypto.randomUUID());
  const [launch, { isLoading, error }] = useLaunchTemplateMutation();
  const problem = problemOf(error);

  async function submit(event: FormEvent) {
    event.preventDefault();
    const result = await launch({
      templateId: template.id,
      "Idempotency-Key": idempotencyKey,
      templateLaunch: {
        parameters: valuesOf(template.parameters, values),
        name: name.trim() || null,
      },
    });
    if ("data" in result && result.data) onLaunched(result.data);
  }

  return (
    <Box component="form" onSubmit={submit} noValidate autoComplete="off">
      <ProblemAlert error={error} title="Not launched" />
      {!template.can_launch && (
        <Alert severity="info" sx={{ mb: 2 }}>
          You may not launch this template: ask its author or an admin to give one of your teams
          launch on it.
        </Alert>
      )}
      <Stack spacing={2}>
        <Card>
          <CardContent>
            <Stack spacing={2}>
              <Typography variant="h2" component="h2">
                Parameters
              </Typography>
              <ParameterFields
                parameters={template.parameters}
                value={values}
                onChange={setValues}
                problem={problem}
                disabled={!template.can_launch}
              />
            </Stack>
          </CardContent>
        </Card>
        <Card>
          <CardContent>
            <Stack spacing={2}>
              <Typography variant="h2" component="h2">
                Job
              </Typography>
              <Typography variant="body2">
                Runs on {describeTargets(template.targets) || "its targets"} (resolved now; you need
                to be allowed to run on every one), with shell{" "}
                {template.shell ?? "each system's default"}.
              </Typography>
              <Box
                component="pre"
                sx={{
                  fontFamily: MONO,
                  fontSize: 13,
                  p: 1.5,
                  bgcolor: "action.hover",
                  borderRadius: 1,
                  overflow: "auto",
                  maxHeight: 200,
                  m: 0,
                }}
              >
                {template.command ?? template.script}
              </Box>
              <TextField
                label="Job name (optional)"
                value={name}
                onChange={(event) => setName(event.target.value)}
                error={Boolean(fieldMessage(problem, "name"))}
                helperText={fieldMessage(problem, "name") ?? `Defaults to ${template.name}`}
                disabled={!template.can_launch}
              />
            </Stack>
          </CardContent>
        </Card>
        <Box sx={{ display: "flex", gap: 1 }}>
          <Button
            type="submit"
            variant="contained"
            size="large"
            disabled={isLoading || !template.can_launch}
          >
            {isLoading ? "Launching…" : "Launch"}
          </Button>
          <Button size="large" onClick={onCancel}>
            Cancel
          </Button>
        </Box>
      </Stack>
    </Box>
  );
}
