// Teams and system groups look alike: named things with members (users, systems). One panel
// shows either, given how to list, create, delete, and edit the members of one.
import Delete from "@mui/icons-material/Delete";
import Autocomplete from "@mui/material/Autocomplete";
import Box from "@mui/material/Box";
import Button from "@mui/material/Button";
import Chip from "@mui/material/Chip";
import Dialog from "@mui/material/Dialog";
import DialogActions from "@mui/material/DialogActions";
import DialogContent from "@mui/material/DialogContent";
import DialogTitle from "@mui/material/DialogTitle";
import IconButton from "@mui/material/IconButton";
import List from "@mui/material/List";
import ListItem from "@mui/material/ListItem";
import ListItemButton from "@mui/material/ListItemButton";
import ListItemText from "@mui/material/ListItemText";
import Paper from "@mui/material/Paper";
import Stack from "@mui/material/Stack";
import TextField from "@mui/material/TextField";
import Typography from "@mui/material/Typography";
import type { SerializedError } from "@reduxjs/toolkit";
import type { FetchBaseQueryError } from "@reduxjs/toolkit/query";
import { useState } from "react";

import { ConfirmDialog } from "@/components/ui/confirm-dialog";
import { ProblemAlert } from "@/components/ui/problem-alert";

type ApiError = FetchBaseQueryError | SerializedError | undefined;
export type Named = { id: string; name: string; description: string | null; count?: number };
export type Member = { id: string; label: string };

export function NamedPanel({
  noun,
  memberNoun,
  items,
  error,
  manage,
  onCreate,
  onDelete,
  members,
  candidates,
  onSearchCandidates,
  onAddMembers,
  onRemoveMember,
  selected,
  onSelect,
}: {
  noun: string;
  memberNoun: string;
  items: Named[];
  error: ApiError;
  manage: boolean;
  onCreate: (name: string, description: string) => Promise<ApiError>;
  onDelete: (item: Named) => void;
  members: Member[];
  candidates: Member[];
  onSearchCandidates: (text: string) => void;
  onAddMembers: (ids: string[]) => void;
  onRemoveMember: (member: Member) => void;
  selected: Named | null;
  onSelect: (item: Named) => void;
}) {
  const [creating, setCreating] = useState(false);
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const [createError, setCreateError] = useState<ApiError>(undefined);
  const [deleting, setDeleting] = useState<Named | null>(null);
  const [adding, setAdding] = useState<Member[]>([]);

  return (
    <>
      <ProblemAlert error={error} />
      <Box sx={{ display: "grid", gap: 2, gridTemplateColumns: { xs: "1fr", md: "1fr 2fr" } }}>
        <Paper variant="outlined" sx={{ p: 1 }}>
          <Box sx={{ display: "flex", alignItems: "center", px: 1, py: 0.5 }}>
            <Typography variant="h3" component="h2" sx={{ flexGrow: 1 }}>
              {noun}s
            </Typography>
            {manage && (
              <Button size="small" variant="contained" onClick={() => setCreating(true)}>
                New {noun.toLowerCase()}
              </Button>
            )}
          </Box>
          <List dense aria-label={`${noun}s`}>
            {items.map((item) => (
              <ListItem
                key={item.id}
                disablePadding
                secondaryAction={
                  manage && (
                    <IconButton
                      edge="end"
                      aria-label={`Delete ${item.name}`}
                      onClick={() => setDeleting(item)}
                    >
                      <Delete />
                    </IconButton>
                  )
                }
              >
                <ListItemButton selected={selected?.id === item.id} onClick={() => onSelect(item)}>
                  <ListItemText
                    primary={item.name}
                    secondary={`${item.count ?? 0} ${memberNoun}(s)${item.description ? ` · ${item.description}` : ""}`}
                  />
                </ListItemButton>
              </ListItem>
            ))}
          </List>
          {items.length === 0 && (
            <Typography variant="body2" color="text.secondary" sx={{ p: 1 }}>
              None yet.
            </Typography>
          )}
        </Paper>
        <Paper variant="outlined" sx={{ p: 2 }}>
          {selected ? (
            <Stack spacing={2}>
              <Typography variant="h3" component="h2">
                {memberNoun[0]?.toUpperCase()}
                {memberNoun.slice(1)}s of {selected.name}
              </Typography>
              {manage && (
                <Box sx={{ display: "flex", gap: 1, alignItems: "flex-start" }}>
                  <Autocomplete
                    multiple
                    options={candidates.filter(
                      (candidate) => !members.some((member) => member.id === candidate.id),
                    )}
                    getOptionLabel={(option) => option.label}
                    isOptionEqualToValue={(a, b) => a.id === b.id}
                    value={adding}
                    onChange={(_, value) => setAdding(value)}
                    onInputChange={(_, text) => onSearchCandidates(text)}
                    renderInput={(params) => <TextField {...params} label={`Add ${memberNoun}s`} />}
                    sx={{ flexGrow: 1 }}
                  />
                  <Button
                    variant="outlined"
                    disabled={!adding.length}
                    onClick={() => {
                      onAddMembers(adding.map((member) => member.id));
                      setAdding([]);
                    }}
                  >
                    Add
                  </Button>
                </Box>
              )}
              <Box sx={{ display: "flex", flexWrap: "wrap", gap: 1 }}>
                {members.map((member) => (
                  <Chip
                    key={member.id}
                    label={member.label}
                    onDelete={manage ? () => onRemoveMember(member) : undefined}
                  />
                ))}
                {members.length === 0 && (
                  <Typography variant="body2" color="text.secondary">
                    No {memberNoun}s.
                  </Typography>
                )}
              </Box>
            </Stack>
          ) : (
            <Typography color="text.secondary">
              Pick a {noun.toLowerCase()} to see its {memberNoun}s.
            </Typography>
          )}
        </Paper>
      </Box>
      <Dialog
        open={creating}
        onClose={() => setCreating(false)}
        aria-labelledby="create-title"
        fullWidth
        maxWidth="xs"
      >
        <DialogTitle id="create-title">New {noun.toLowerCase()}</DialogTitle>
        <DialogContent>
          <Stack spacing={2} sx={{ mt: 1 }}>
            <ProblemAlert error={createError} />
            <TextField
              label="Name"
              autoFocus
              value={name}
              onChange={(e) => setName(e.target.value)}
            />
            <TextField
              label="Description"
              value={description}
              onChange={(e) => setDescription(e.target.value)}
            />
          </Stack>
        </DialogContent>
        <DialogActions>
          <Button onClick={() => setCreating(false)}>Cancel</Button>
          <Button
            variant="contained"
            disabled={!name.trim()}
            onClick={async () => {
              const failed = await onCreate(name.trim(), description.trim());
              setCreateError(failed);
              if (!failed) {
                setCreating(false);
                setName("");
                setDescription("");
              }
            }}
          >
            Create
          </Button>
        </DialogActions>
      </Dialog>
      <ConfirmDialog
        open={deleting !== null}
        title={`Delete ${deleting?.name ?? ""}?`}
        confirm="Delete"
        danger
        onClose={() => setDeleting(null)}
        onConfirm={() => deleting && onDelete(deleting)}
      >
        Grants on it go with it.
      </ConfirmDialog>
    </>
  );
}
