import Add from "@mui/icons-material/Add";
import Delete from "@mui/icons-material/Delete";
import Alert from "@mui/material/Alert";
import Autocomplete from "@mui/material/Autocomplete";
import Box from "@mui/material/Box";
import Button from "@mui/material/Button";
import Chip from "@mui/material/Chip";
import CircularProgress from "@mui/material/CircularProgress";
import IconButton from "@mui/material/IconButton";
import Stack from "@mui/material/Stack";
import TextField from "@mui/material/TextField";
import Typography from "@mui/material/Typography";
import { useState } from "react";

import { useListGroupsQuery, useListSystemsQuery, usePreviewTargetsQuery } from "@/client/orca-api";
import { useDebounced } from "@/hooks/use-debounced";
import { problemOf } from "@/lib/errors";
import { parseSelector, toTargets, type TargetDraft } from "@/lib/targets";

/** Systems by name, groups, and label selectors, with a live count of what they match. */
export function TargetPicker({
  value,
  onChange,
}: {
  value: TargetDraft;
  onChange: (value: TargetDraft) => void;
}) {
  const [systemSearch, setSystemSearch] = useState("");
  const searched = useDebounced(systemSearch, 250);
  const systems = useListSystemsQuery({ q: searched || undefined, limit: 20 });
  const groups = useListGroupsQuery({ limit: 500 });
  const targets = toTargets(value);
  const empty = !targets.systems?.length && !targets.groups?.length && !targets.labels?.length;
  const debouncedTargets = useDebounced(targets, 300);
  const preview = usePreviewTargetsQuery({ targets: debouncedTargets }, { skip: empty });
  const problem = problemOf(preview.error);
  const set = (change: Partial<TargetDraft>) => onChange({ ...value, ...change });

  return (
    <Stack spacing={2}>
      <Autocomplete
        multiple
        freeSolo
        options={(systems.data?.items ?? []).map((system) => system.name)}
        value={value.systems}
        onChange={(_, chosen) => set({ systems: chosen })}
        inputValue={systemSearch}
        onInputChange={(_, text) => setSystemSearch(text)}
        filterOptions={(options) => options}
        renderInput={(params) => (
          <TextField {...params} label="Systems" helperText="By name; type to search." />
        )}
      />
      <Autocomplete
        multiple
        options={(groups.data?.items ?? []).map((group) => group.name)}
        value={value.groups}
        onChange={(_, chosen) => set({ groups: chosen })}
        renderInput={(params) => (
          <TextField {...params} label="Groups" helperText="Every system in these groups." />
        )}
      />
      <Box>
        <Typography variant="body2" color="text.secondary" gutterBottom>
          Label selectors: a system matches a selector when it has all of its labels.
        </Typography>
        <Stack spacing={1}>
          {value.selectors.map((selector, index) => (
            <Box key={index} sx={{ display: "flex", gap: 1, alignItems: "flex-start" }}>
              <TextField
                label={`Selector ${index + 1}`}
                value={selector}
                placeholder="os=linux, env=prod"
                onChange={(event) =>
                  set({
                    selectors: value.selectors.map((item, at) =>
                      at === index ? event.target.value : item,
                    ),
                  })
                }
                error={selector.trim() !== "" && parseSelector(selector) === null}
                helperText={
                  selector.trim() !== "" && parseSelector(selector) === null
                    ? "key=value, comma-separated"
                    : undefined
                }
                sx={{ flexGrow: 1 }}
              />
              <IconButton
                aria-label={`Remove selector ${index + 1}`}
                onClick={() => set({ selectors: value.selectors.filter((_, at) => at !== index) })}
              >
                <Delete />
              </IconButton>
            </Box>
          ))}
          <Box>
            <Button
              size="small"
              startIcon={<Add />}
              onClick={() => set({ selectors: [...value.selectors, ""] })}
            >
              Add a label selector
            </Button>
          </Box>
        </Stack>
      </Box>
      <Box aria-live="polite" data-testid="target-count">
        {empty ? (
          <Typography color="text.secondary">Choose systems, groups or labels.</Typography>
        ) : preview.isFetching && !preview.data ? (
          <CircularProgress size={20} aria-label="Counting systems" />
        ) : problem ? (
          <Alert severity="error">{problem.message}</Alert>
        ) : preview.data ? (
          <Stack spacing={1}>
            <Typography sx={{ fontWeight: 600 }}>
              Matches {preview.data.count} system{preview.data.count === 1 ? "" : "s"}
              {Object.keys(preview.data.kinds).length > 0 &&
                ` (${Object.entries(preview.data.kinds)
                  .map(([kind, n]) => `${n} ${kind}`)
                  .join(", ")})`}
            </Typography>
            <Box sx={{ display: "flex", flexWrap: "wrap", gap: 0.5 }}>
              {preview.data.systems.slice(0, 30).map((system) => (
                <Chip key={system.id} size="small" label={system.name} variant="outlined" />
              ))}
              {preview.data.count > 30 && (
                <Chip size="small" label={`+${preview.data.count - 30} more`} />
              )}
            </Box>
            {preview.data.beyond_reach_count > 0 && (
              <Alert severity="warning">
                You may not run jobs on {preview.data.beyond_reach_count} of them (
                {preview.data.beyond_reach.slice(0, 10).join(", ")}
                {preview.data.beyond_reach_count > 10 ? ", …" : ""}): the job would be refused.
              </Alert>
            )}
          </Stack>
        ) : null}
      </Box>
    </Stack>
  );
}
