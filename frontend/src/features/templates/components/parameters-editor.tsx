import Add from "@mui/icons-material/Add";
import ArrowDownward from "@mui/icons-material/ArrowDownward";
import ArrowUpward from "@mui/icons-material/ArrowUpward";
import Delete from "@mui/icons-material/Delete";
import Alert from "@mui/material/Alert";
import Autocomplete from "@mui/material/Autocomplete";
import Box from "@mui/material/Box";
import Button from "@mui/material/Button";
import FormControlLabel from "@mui/material/FormControlLabel";
import IconButton from "@mui/material/IconButton";
import MenuItem from "@mui/material/MenuItem";
import Paper from "@mui/material/Paper";
import Stack from "@mui/material/Stack";
import Switch from "@mui/material/Switch";
import TextField from "@mui/material/TextField";
import Typography from "@mui/material/Typography";

import type { ParameterType } from "@/client/orca-api";
import { fieldMessage, type ApiProblem } from "@/lib/errors";
import { MONO } from "@/lib/theme";
import { newDef, PARAMETER_TYPES, type ParameterDef } from "@/features/templates/parameter-defs";

const NAME = /^[a-z_][a-z0-9_]{0,63}$/;

function DefaultInput({
  def,
  onChange,
  error,
}: {
  def: ParameterDef;
  onChange: (value: string) => void;
  error?: string;
}) {
  const common = {
    label: "Default",
    value: def.default,
    error: Boolean(error),
    helperText: error ?? (def.required ? "Used when a launch gives none" : undefined),
    onChange: (event: { target: { value: string } }) => onChange(event.target.value),
    sx: { minWidth: 160 },
  };
  if (def.type === "secret") {
    return (
      <Typography variant="body2" color="text.secondary" sx={{ alignSelf: "center" }}>
        No default: a secret's would be stored plain.
      </Typography>
    );
  }
  if (def.type === "boolean") {
    return (
      <TextField select {...common}>
        <MenuItem value="">None</MenuItem>
        <MenuItem value="true">Yes (true)</MenuItem>
        <MenuItem value="false">No (false)</MenuItem>
      </TextField>
    );
  }
  if (def.type === "choice") {
    return (
      <TextField select {...common}>
        <MenuItem value="">None</MenuItem>
        {def.choices.map((choice) => (
          <MenuItem key={choice} value={choice}>
            {choice}
          </MenuItem>
        ))}
      </TextField>
    );
  }
  return <TextField {...common} type={def.type === "integer" ? "number" : "text"} />;
}

/** The typed parameters of a template: name, label, type, required, default, and the
 * constraints of its type (choices; minimum and maximum; length; pattern). */
export function ParametersEditor({
  value,
  onChange,
  problem,
}: {
  value: ParameterDef[];
  onChange: (value: ParameterDef[]) => void;
  problem: ApiProblem | null;
}) {
  const update = (index: number, change: Partial<ParameterDef>) =>
    onChange(value.map((def, at) => (at === index ? { ...def, ...change } : def)));
  const move = (index: number, by: number) => {
    const next = [...value];
    const [item] = next.splice(index, 1);
    next.splice(index + by, 0, item!);
    onChange(next);
  };
  const listProblem = fieldMessage(problem, "parameters");
  const listOnly =
    listProblem && !problem?.fields.some((field) => /^parameters[[.]\d/.test(field.field));

  return (
    <Stack spacing={2}>
      {listOnly && <Alert severity="error">{listProblem}</Alert>}
      {value.length === 0 && (
        <Typography variant="body2" color="text.secondary">
          No parameters: every launch runs the same command. Add one to ask for a value at each
          launch.
        </Typography>
      )}
      {value.map((def, index) => {
        const at = `parameters[${index}]`;
        const problemOf = (field?: string) =>
          fieldMessage(problem, field ? `${at}.${field}` : at) ??
          fieldMessage(problem, field ? `parameters.${index}.${field}` : `parameters.${index}`);
        const nameProblem =
          problemOf("name") ??
          (def.name && !NAME.test(def.name)
            ? "Lower-case letters, digits and _, starting with a letter or _"
            : undefined);
        const whole = fieldMessage(problem, at);
        const wholeOnly = whole && !problem?.fields.some((f) => f.field.startsWith(`${at}.`));
        const title = def.name || `Parameter ${index + 1}`;
        return (
          <Paper
            key={def.key}
            variant="outlined"
            sx={{ p: 2 }}
            role="group"
            aria-label={`Parameter ${index + 1}`}
          >
            <Stack spacing={2}>
              <Box sx={{ display: "flex", alignItems: "center", gap: 1 }}>
                <Typography variant="h3" component="h3" sx={{ flexGrow: 1, fontFamily: MONO }}>
                  {title}
                </Typography>
                <IconButton
                  aria-label={`Move ${title} up`}
                  disabled={index === 0}
                  onClick={() => move(index, -1)}
                  size="small"
                >
                  <ArrowUpward fontSize="small" />
                </IconButton>
                <IconButton
                  aria-label={`Move ${title} down`}
                  disabled={index === value.length - 1}
                  onClick={() => move(index, 1)}
                  size="small"
                >
                  <ArrowDownward fontSize="small" />
                </IconButton>
                <IconButton
                  aria-label={`Remove ${title}`}
                  onClick={() => onChange(value.filter((_, i) => i !== index))}
                  size="small"
                >
                  <Delete fontSize="small" />
                </IconButton>
              </Box>
              {wholeOnly && <Alert severity="error">{whole}</Alert>}
              <Box
                sx={{
                  display: "grid",
                  gap: 2,
                  gridTemplateColumns: { xs: "1fr", sm: "1fr 1fr", md: "1fr 1fr 180px" },
                }}
              >
                <TextField
                  label="Name"
                  required
                  value={def.name}
                  onChange={(event) => update(index, { name: event.target.value })}
                  error={Boolean(nameProblem)}
                  helperText={
                    nameProblem ??
                    (def.type === "secret"
                      ? `In the command: $ORCA_PARAM_${(def.name || "name").toUpperCase()}`
                      : `In the command: {{ ${def.name || "name"} }}`)
                  }
                  slotProps={{
                    htmlInput: { style: { fontFamily: MONO }, spellCheck: false, maxLength: 64 },
                  }}
                />
                <TextField
                  label="Label"
                  value={def.label}
                  onChange={(event) => update(index, { label: event.target.value })}
                  error={Boolean(problemOf("label"))}
                  helperText={problemOf("label") ?? "What the launch form calls it"}
                />
                <TextField
                  select
                  label="Type"
                  value={def.type}
                  onChange={(event) => {
                    const type = event.target.value as ParameterType;
                    update(index, { type, default: type === def.type ? def.default : "" });
                  }}
                  error={Boolean(problemOf("type"))}
                  helperText={problemOf("type")}
                >
                  {PARAMETER_TYPES.map((item) => (
                    <MenuItem key={item.value} value={item.value}>
                      {item.label}
                    </MenuItem>
                  ))}
                </TextField>
              </Box>
              <TextField
                label="Description"
                value={def.description}
                onChange={(event) => update(index, { description: event.target.value })}
                error={Boolean(problemOf("description"))}
                helperText={problemOf("description")}
              />
              {def.type === "choice" && (
                <Autocomplete
                  multiple
                  freeSolo
                  options={[]}
                  value={def.choices}
                  onChange={(_, choices) =>
                    update(index, {
                      choices: [...new Set(choices.map((choice) => choice.trim()).filter(Boolean))],
                      default: choices.includes(def.default) ? def.default : "",
                    })
                  }
                  renderInput={(params) => (
                    <TextField
                      {...params}
                      label="Choices"
                      required
                      error={Boolean(problemOf("choices"))}
                      helperText={problemOf("choices") ?? "Type a value and press Enter for each"}
                    />
                  )}
                />
              )}
              <Box sx={{ display: "flex", flexWrap: "wrap", gap: 2, alignItems: "flex-start" }}>
                <FormControlLabel
                  control={
                    <Switch
                      checked={def.required}
                      onChange={(event) => update(index, { required: event.target.checked })}
                    />
                  }
                  label="Required"
                  sx={{ mt: 0.5 }}
                />
                <DefaultInput
                  def={def}
                  onChange={(value) => update(index, { default: value })}
                  error={problemOf("default")}
                />
                {def.type === "integer" && (
                  <>
                    <TextField
                      label="Minimum"
                      type="number"
                      value={def.minimum}
                      onChange={(event) => update(index, { minimum: event.target.value })}
                      error={Boolean(problemOf("minimum"))}
                      helperText={problemOf("minimum")}
                      sx={{ width: 140 }}
                    />
                    <TextField
                      label="Maximum"
                      type="number"
                      value={def.maximum}
                      onChange={(event) => update(index, { maximum: event.target.value })}
                      error={Boolean(problemOf("maximum"))}
                      helperText={problemOf("maximum")}
                      sx={{ width: 140 }}
                    />
                  </>
                )}
                {(def.type === "string" || def.type === "secret") && (
                  <>
                    <TextField
                      label="Shortest"
                      type="number"
                      value={def.minLength}
                      onChange={(event) => update(index, { minLength: event.target.value })}
                      error={Boolean(problemOf("min_length"))}
                      helperText={problemOf("min_length") ?? "characters"}
                      slotProps={{ htmlInput: { min: 0, max: 4096 } }}
                      sx={{ width: 130 }}
                    />
                    <TextField
                      label="Longest"
                      type="number"
                      value={def.maxLength}
                      onChange={(event) => update(index, { maxLength: event.target.value })}
                      error={Boolean(problemOf("max_length"))}
                      helperText={problemOf("max_length") ?? "characters"}
                      slotProps={{ htmlInput: { min: 1, max: 4096 } }}
                      sx={{ width: 130 }}
                    />
                  </>
                )}
                {def.type === "string" && (
                  <TextField
                    label="Pattern"
                    value={def.pattern}
                    onChange={(event) => update(index, { pattern: event.target.value })}
                    error={Boolean(problemOf("pattern"))}
                    helperText={
                      problemOf("pattern") ?? "A regular expression the whole value must match"
                    }
                    slotProps={{ htmlInput: { style: { fontFamily: MONO }, spellCheck: false } }}
                    sx={{ flexGrow: 1, minWidth: 220 }}
                  />
                )}
              </Box>
              {def.type === "secret" && (
                <Typography variant="body2" color="text.secondary">
                  A secret never goes into the command text: the command reads it from the
                  environment variable <code>ORCA_PARAM_{(def.name || "name").toUpperCase()}</code>.
                  It is stored encrypted where kept (a schedule's), and never shown or audited.
                </Typography>
              )}
            </Stack>
          </Paper>
        );
      })}
      <Box>
        <Button startIcon={<Add />} onClick={() => onChange([...value, newDef()])}>
          Add a parameter
        </Button>
      </Box>
    </Stack>
  );
}
