import Add from "@mui/icons-material/Add";
import Delete from "@mui/icons-material/Delete";
import Autocomplete from "@mui/material/Autocomplete";
import Box from "@mui/material/Box";
import Button from "@mui/material/Button";
import IconButton from "@mui/material/IconButton";
import MenuItem from "@mui/material/MenuItem";
import Stack from "@mui/material/Stack";
import TextField from "@mui/material/TextField";
import Typography from "@mui/material/Typography";

import { useListTeamsQuery, type TemplateLevel } from "@/client/orca-api";
import { usePermissions } from "@/hooks/use-permissions";
import { fieldMessage, type ApiProblem } from "@/lib/errors";

export type AccessRow = { team: string; level: TemplateLevel };

/** Teams that may launch the template, or also edit it. Admins and auditors pick from every
 * team; others from their own (or type a team's name). */
export function AccessEditor({
  value,
  onChange,
  problem,
}: {
  value: AccessRow[];
  onChange: (value: AccessRow[]) => void;
  problem: ApiProblem | null;
}) {
  const { can, me } = usePermissions();
  const allTeams = useListTeamsQuery({ limit: 500 }, { skip: !can("teams:read") });
  const options = (allTeams.data?.items ?? me?.teams ?? []).map((team) => team.name);
  const update = (index: number, change: Partial<AccessRow>) =>
    onChange(value.map((row, at) => (at === index ? { ...row, ...change } : row)));

  return (
    <Stack spacing={1.5}>
      <Typography variant="body2" color="text.secondary">
        Its author and admins may always launch and edit it. A team given <em>launch</em> may run it
        (on systems its members may run on); <em>edit</em> may also change it.
      </Typography>
      {value.map((row, index) => {
        const message =
          fieldMessage(problem, `access.${index}`) ?? fieldMessage(problem, `access[${index}]`);
        return (
          <Box key={index} sx={{ display: "flex", gap: 1, alignItems: "flex-start" }}>
            <Autocomplete
              freeSolo
              options={options}
              value={row.team}
              onChange={(_, team) => update(index, { team: team ?? "" })}
              onInputChange={(_, team) => update(index, { team })}
              sx={{ flexGrow: 1 }}
              renderInput={(params) => (
                <TextField
                  {...params}
                  label={`Team ${index + 1}`}
                  error={Boolean(message)}
                  helperText={message}
                />
              )}
            />
            <TextField
              select
              label="May"
              value={row.level}
              onChange={(event) => update(index, { level: event.target.value as TemplateLevel })}
              sx={{ minWidth: 130 }}
            >
              <MenuItem value="launch">launch</MenuItem>
              <MenuItem value="edit">edit</MenuItem>
            </TextField>
            <IconButton
              aria-label={`Remove team ${index + 1}`}
              onClick={() => onChange(value.filter((_, at) => at !== index))}
            >
              <Delete />
            </IconButton>
          </Box>
        );
      })}
      {fieldMessage(problem, "access") && !value.length && (
        <Typography color="error" variant="body2">
          {fieldMessage(problem, "access")}
        </Typography>
      )}
      <Box>
        <Button
          size="small"
          startIcon={<Add />}
          onClick={() => onChange([...value, { team: "", level: "launch" }])}
        >
          Give a team access
        </Button>
      </Box>
    </Stack>
  );
}
