import Box from "@mui/material/Box";
import FormControlLabel from "@mui/material/FormControlLabel";
import FormHelperText from "@mui/material/FormHelperText";
import MenuItem from "@mui/material/MenuItem";
import Stack from "@mui/material/Stack";
import Switch from "@mui/material/Switch";
import TextField from "@mui/material/TextField";
import Typography from "@mui/material/Typography";

import type { Parameter } from "@/client/orca-api";
import { fieldMessage, type ApiProblem } from "@/lib/errors";
import {
  envName,
  hintOf,
  labelOf,
  mustGive,
  typeOf,
  valueProblem,
  type ParameterDraft,
} from "@/lib/parameters";

/** One typed input per parameter of a template: a number field for an integer, a switch for a
 * boolean, a select for a choice, a password field for a secret, a text field for a string
 * (with its length and pattern as hints). The API's answer for `parameters.<name>` shows
 * beside its input. `storedSecrets` names secret parameters that already have a value kept
 * (a schedule's): their inputs may stay empty. */
export function ParameterFields({
  parameters,
  value,
  onChange,
  problem,
  storedSecrets = [],
  disabled = false,
}: {
  parameters: Parameter[];
  value: ParameterDraft;
  onChange: (value: ParameterDraft) => void;
  problem: ApiProblem | null;
  storedSecrets?: string[];
  disabled?: boolean;
}) {
  if (parameters.length === 0) {
    return (
      <Typography variant="body2" color="text.secondary">
        This template takes no parameters.
      </Typography>
    );
  }
  const set = (name: string, item: string | boolean) => onChange({ ...value, [name]: item });
  return (
    <Stack spacing={2} data-testid="parameter-fields">
      {parameters.map((parameter) => {
        const kind = typeOf(parameter);
        const name = parameter.name;
        const current = value[name];
        const apiMessage = fieldMessage(problem, `parameters.${name}`);
        const localMessage = valueProblem(parameter, current);
        const message = apiMessage ?? localMessage ?? undefined;
        const stored = kind === "secret" && storedSecrets.includes(name);
        const hint = [parameter.description, hintOf(parameter)].filter(Boolean).join(" · ");
        const label = labelOf(parameter);
        const required = mustGive(parameter) && !stored;

        if (kind === "boolean") {
          return (
            <Box key={name}>
              <FormControlLabel
                control={
                  <Switch
                    checked={current === true}
                    onChange={(event) => set(name, event.target.checked)}
                    disabled={disabled}
                    slotProps={{ input: { "aria-describedby": `param-${name}-help` } }}
                  />
                }
                label={label}
              />
              <FormHelperText id={`param-${name}-help`} error={Boolean(message)} sx={{ mt: 0 }}>
                {message ?? (hint || " ")}
              </FormHelperText>
            </Box>
          );
        }

        if (kind === "choice") {
          return (
            <TextField
              key={name}
              select
              label={label}
              required={required}
              disabled={disabled}
              value={typeof current === "string" ? current : ""}
              onChange={(event) => set(name, event.target.value)}
              error={Boolean(message)}
              helperText={message ?? (hint || undefined)}
            >
              {!required && (
                <MenuItem value="">
                  <em>{parameter.default ? `Default (${String(parameter.default)})` : "None"}</em>
                </MenuItem>
              )}
              {(parameter.choices ?? []).map((choice) => (
                <MenuItem key={choice} value={choice}>
                  {choice}
                </MenuItem>
              ))}
            </TextField>
          );
        }

        const text = typeof current === "string" ? current : "";
        const secretHint = stored
          ? `a value is stored (never shown): type a new one to replace it; reaches the command as ${envName(parameter)}`
          : `never shown again; reaches the command only as ${envName(parameter)}`;
        return (
          <TextField
            key={name}
            label={label}
            required={required}
            disabled={disabled}
            type={kind === "integer" ? "number" : kind === "secret" ? "password" : "text"}
            autoComplete={kind === "secret" ? "new-password" : "off"}
            value={text}
            placeholder={stored ? "stored" : undefined}
            onChange={(event) => set(name, event.target.value)}
            error={Boolean(message)}
            helperText={
              message ??
              (kind === "secret"
                ? [hint, secretHint].filter(Boolean).join(" · ")
                : hint || undefined)
            }
            slotProps={{
              htmlInput: {
                ...(kind === "integer"
                  ? {
                      min: parameter.minimum ?? undefined,
                      max: parameter.maximum ?? undefined,
                      step: 1,
                      inputMode: "numeric",
                    }
                  : {
                      maxLength: parameter.max_length ?? undefined,
                      spellCheck: false,
                    }),
                "data-parameter": name,
              },
            }}
          />
        );
      })}
    </Stack>
  );
}
