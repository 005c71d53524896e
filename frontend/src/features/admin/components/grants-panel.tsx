import Delete from "@mui/icons-material/Delete";
import Box from "@mui/material/Box";
import Button from "@mui/material/Button";
import IconButton from "@mui/material/IconButton";
import MenuItem from "@mui/material/MenuItem";
import Paper from "@mui/material/Paper";
import Table from "@mui/material/Table";
import TableBody from "@mui/material/TableBody";
import TableCell from "@mui/material/TableCell";
import TableContainer from "@mui/material/TableContainer";
import TableHead from "@mui/material/TableHead";
import TableRow from "@mui/material/TableRow";
import TextField from "@mui/material/TextField";
import Typography from "@mui/material/Typography";
import { useState } from "react";

import {
  useCreateGrantMutation,
  useDeleteGrantMutation,
  useListGrantsQuery,
  useListGroupsQuery,
  useListTeamsQuery,
  useUpdateGrantMutation,
  type GrantLevel,
} from "@/client/orca-api";
import { EmptyRow } from "@/components/ui/empty-row";
import { ProblemAlert } from "@/components/ui/problem-alert";
import { usePermissions } from "@/hooks/use-permissions";

const LEVELS: { value: GrantLevel; text: string }[] = [
  { value: "view", text: "view: see systems, jobs and output" },
  { value: "execute", text: "execute: also run jobs" },
  { value: "manage", text: "manage: also edit systems" },
];

/** Which team holds which level on which group of systems. */
export function GrantsPanel() {
  const { can } = usePermissions();
  const manage = can("grants:manage");
  const grants = useListGrantsQuery({ limit: 500 });
  const teams = useListTeamsQuery({ limit: 500 });
  const groups = useListGroupsQuery({ limit: 500 });
  const [create, created] = useCreateGrantMutation();
  const [update, updated] = useUpdateGrantMutation();
  const [remove, removed] = useDeleteGrantMutation();
  const [draft, setDraft] = useState<{ team: string; group: string; level: GrantLevel }>({
    team: "",
    group: "",
    level: "view",
  });
  const teamName = new Map((teams.data?.items ?? []).map((team) => [team.id, team.name]));
  const groupName = new Map((groups.data?.items ?? []).map((group) => [group.id, group.name]));

  return (
    <>
      <ProblemAlert error={grants.error ?? created.error ?? updated.error ?? removed.error} />
      {manage && (
        <Paper variant="outlined" sx={{ p: 2, mb: 2 }}>
          <Typography variant="h3" component="h2" gutterBottom>
            Grant access
          </Typography>
          <Box sx={{ display: "flex", flexWrap: "wrap", gap: 1.5, alignItems: "center" }}>
            <TextField
              select
              label="Team"
              value={draft.team}
              onChange={(e) => setDraft({ ...draft, team: e.target.value })}
              sx={{ minWidth: 180 }}
            >
              {(teams.data?.items ?? []).map((team) => (
                <MenuItem key={team.id} value={team.id}>
                  {team.name}
                </MenuItem>
              ))}
            </TextField>
            <TextField
              select
              label="Level"
              value={draft.level}
              onChange={(e) => setDraft({ ...draft, level: e.target.value as GrantLevel })}
              sx={{ minWidth: 260 }}
            >
              {LEVELS.map((level) => (
                <MenuItem key={level.value} value={level.value}>
                  {level.text}
                </MenuItem>
              ))}
            </TextField>
            <TextField
              select
              label="Group"
              value={draft.group}
              onChange={(e) => setDraft({ ...draft, group: e.target.value })}
              sx={{ minWidth: 180 }}
            >
              {(groups.data?.items ?? []).map((group) => (
                <MenuItem key={group.id} value={group.id}>
                  {group.name}
                </MenuItem>
              ))}
            </TextField>
            <Button
              variant="contained"
              disabled={!draft.team || !draft.group || created.isLoading}
              onClick={() =>
                void create({
                  grantCreate: { team_id: draft.team, group_id: draft.group, level: draft.level },
                })
              }
            >
              Grant
            </Button>
          </Box>
        </Paper>
      )}
      <Paper variant="outlined">
        <TableContainer>
          <Table size="small" aria-label="Grants">
            <TableHead>
              <TableRow>
                <TableCell>Team</TableCell>
                <TableCell>Level</TableCell>
                <TableCell>On group</TableCell>
                {manage && <TableCell>Remove</TableCell>}
              </TableRow>
            </TableHead>
            <TableBody>
              {grants.data?.items.map((grant) => (
                <TableRow key={grant.id}>
                  <TableCell>{teamName.get(grant.team_id) ?? grant.team_id}</TableCell>
                  <TableCell>
                    {manage ? (
                      <TextField
                        select
                        variant="standard"
                        value={grant.level}
                        onChange={(e) =>
                          void update({
                            grantId: grant.id,
                            grantUpdate: { level: e.target.value as GrantLevel },
                          })
                        }
                        slotProps={{ htmlInput: { "aria-label": "Level" } }}
                      >
                        {LEVELS.map((level) => (
                          <MenuItem key={level.value} value={level.value}>
                            {level.value}
                          </MenuItem>
                        ))}
                      </TextField>
                    ) : (
                      grant.level
                    )}
                  </TableCell>
                  <TableCell>{groupName.get(grant.group_id) ?? grant.group_id}</TableCell>
                  {manage && (
                    <TableCell>
                      <IconButton
                        aria-label="Remove this grant"
                        onClick={() => void remove({ grantId: grant.id })}
                      >
                        <Delete />
                      </IconButton>
                    </TableCell>
                  )}
                </TableRow>
              ))}
              <EmptyRow show={grants.data?.items.length === 0} colSpan={4}>
                No grants: only admins and auditors see any system.
              </EmptyRow>
            </TableBody>
          </Table>
        </TableContainer>
      </Paper>
    </>
  );
}
