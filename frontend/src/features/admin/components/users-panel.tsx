import Alert from "@mui/material/Alert";
import Box from "@mui/material/Box";
import Button from "@mui/material/Button";
import Dialog from "@mui/material/Dialog";
import DialogActions from "@mui/material/DialogActions";
import DialogContent from "@mui/material/DialogContent";
import DialogTitle from "@mui/material/DialogTitle";
import MenuItem from "@mui/material/MenuItem";
import Paper from "@mui/material/Paper";
import Stack from "@mui/material/Stack";
import Table from "@mui/material/Table";
import TableBody from "@mui/material/TableBody";
import TableCell from "@mui/material/TableCell";
import TableContainer from "@mui/material/TableContainer";
import TableHead from "@mui/material/TableHead";
import TableRow from "@mui/material/TableRow";
import TextField from "@mui/material/TextField";
import { useState } from "react";

import {
  useCreateUserMutation,
  useListUsersQuery,
  useResetPasswordMutation,
  useUpdateUserMutation,
  type Role,
  type UserOut,
} from "@/client/orca-api";
import { Pager } from "@/components/ui/pager";
import { ProblemAlert } from "@/components/ui/problem-alert";
import { SearchField } from "@/components/ui/search-field";
import { useCursorPages } from "@/hooks/use-cursor-pages";
import { usePermissions } from "@/hooks/use-permissions";
import { ago } from "@/lib/format";
import { fieldMessage, problemOf } from "@/lib/errors";
import { MONO } from "@/lib/theme";

const ROLES: Role[] = ["admin", "operator", "viewer", "auditor"];

function OneTimePassword({
  username,
  password,
  onClose,
}: {
  username: string;
  password: string | null;
  onClose: () => void;
}) {
  return (
    <Dialog open={password !== null} onClose={onClose} aria-labelledby="password-title">
      <DialogTitle id="password-title">Password for {username}</DialogTitle>
      <DialogContent>
        <Alert severity="warning" sx={{ mb: 2 }}>
          This is the only time it is shown. Hand it over safely; it can be reset later, never read
          again.
        </Alert>
        <Box
          component="code"
          data-testid="one-time-password"
          sx={{
            display: "block",
            p: 1.5,
            bgcolor: "action.hover",
            borderRadius: 1,
            fontFamily: MONO,
            fontSize: 16,
          }}
        >
          {password}
        </Box>
      </DialogContent>
      <DialogActions>
        <Button onClick={() => void navigator.clipboard?.writeText(password ?? "")}>Copy</Button>
        <Button variant="contained" onClick={onClose}>
          Done
        </Button>
      </DialogActions>
    </Dialog>
  );
}

export function UsersPanel() {
  const [q, setQ] = useState("");
  const pages = useCursorPages(q);
  const { can, me } = usePermissions();
  const manage = can("users:manage");
  const { data, error } = useListUsersQuery({ limit: 50, cursor: pages.cursor, q: q || undefined });
  const [create, created] = useCreateUserMutation();
  const [update, updated] = useUpdateUserMutation();
  const [resetPassword, resetDone] = useResetPasswordMutation();
  const [dialog, setDialog] = useState(false);
  const [draft, setDraft] = useState({ username: "", role: "operator" as Role, email: "" });
  const [shown, setShown] = useState<{ username: string; password: string | null }>({
    username: "",
    password: null,
  });
  const problem = problemOf(created.error);

  async function add() {
    const result = await create({
      userCreate: { username: draft.username, role: draft.role, email: draft.email || null },
    });
    if ("data" in result && result.data) {
      setDialog(false);
      setDraft({ username: "", role: "operator", email: "" });
      setShown({
        username: result.data.username,
        password: result.data.generated_password ?? null,
      });
    }
  }

  async function newPassword(user: UserOut) {
    const result = await resetPassword({ userId: user.id, body: {} });
    if ("data" in result && result.data)
      setShown({ username: user.username, password: result.data.generated_password ?? null });
  }

  return (
    <>
      <Box sx={{ display: "flex", gap: 1, mb: 2, flexWrap: "wrap" }}>
        <SearchField value={q} onChange={setQ} label="Search users" />
        <Box sx={{ flexGrow: 1 }} />
        {manage && (
          <Button variant="contained" onClick={() => setDialog(true)}>
            Add user
          </Button>
        )}
      </Box>
      <ProblemAlert error={error ?? updated.error ?? resetDone.error} />
      <Paper variant="outlined">
        <TableContainer>
          <Table size="small" aria-label="Users">
            <TableHead>
              <TableRow>
                <TableCell>Username</TableCell>
                <TableCell>Role</TableCell>
                <TableCell>Status</TableCell>
                <TableCell sx={{ display: { xs: "none", md: "table-cell" } }}>
                  Last sign-in
                </TableCell>
                {manage && <TableCell>Actions</TableCell>}
              </TableRow>
            </TableHead>
            <TableBody>
              {data?.items.map((user) => (
                <TableRow key={user.id}>
                  <TableCell>{user.username}</TableCell>
                  <TableCell>
                    {manage && user.id !== me?.id ? (
                      <TextField
                        select
                        value={user.role}
                        onChange={(e) =>
                          void update({
                            userId: user.id,
                            userUpdate: { role: e.target.value as Role },
                          })
                        }
                        slotProps={{ htmlInput: { "aria-label": `Role of ${user.username}` } }}
                        variant="standard"
                      >
                        {ROLES.map((role) => (
                          <MenuItem key={role} value={role}>
                            {role}
                          </MenuItem>
                        ))}
                      </TextField>
                    ) : (
                      user.role
                    )}
                  </TableCell>
                  <TableCell>{user.is_active ? "active" : "deactivated"}</TableCell>
                  <TableCell sx={{ display: { xs: "none", md: "table-cell" } }}>
                    {ago(user.last_login_at)}
                  </TableCell>
                  {manage && (
                    <TableCell>
                      {user.id !== me?.id && (
                        <Stack direction="row" spacing={1}>
                          <Button
                            size="small"
                            onClick={() =>
                              void update({
                                userId: user.id,
                                userUpdate: { is_active: !user.is_active },
                              })
                            }
                          >
                            {user.is_active ? "Deactivate" : "Reactivate"}
                          </Button>
                          <Button size="small" onClick={() => void newPassword(user)}>
                            Reset password
                          </Button>
                        </Stack>
                      )}
                    </TableCell>
                  )}
                </TableRow>
              ))}
            </TableBody>
          </Table>
        </TableContainer>
      </Paper>
      <Pager pages={pages} result={data} />
      <Dialog
        open={dialog}
        onClose={() => setDialog(false)}
        aria-labelledby="add-user-title"
        fullWidth
        maxWidth="xs"
      >
        <DialogTitle id="add-user-title">Add a user</DialogTitle>
        <DialogContent>
          <Stack spacing={2} sx={{ mt: 1 }}>
            <ProblemAlert error={created.error} />
            <TextField
              label="Username"
              autoFocus
              value={draft.username}
              onChange={(e) => setDraft({ ...draft, username: e.target.value })}
              error={Boolean(fieldMessage(problem, "username"))}
              helperText={fieldMessage(problem, "username")}
            />
            <TextField
              select
              label="Role"
              value={draft.role}
              onChange={(e) => setDraft({ ...draft, role: e.target.value as Role })}
            >
              {ROLES.map((role) => (
                <MenuItem key={role} value={role}>
                  {role}
                </MenuItem>
              ))}
            </TextField>
            <TextField
              label="Email (optional)"
              value={draft.email}
              onChange={(e) => setDraft({ ...draft, email: e.target.value })}
            />
          </Stack>
        </DialogContent>
        <DialogActions>
          <Button onClick={() => setDialog(false)}>Cancel</Button>
          <Button
            variant="contained"
            onClick={() => void add()}
            disabled={!draft.username || created.isLoading}
          >
            Add user
          </Button>
        </DialogActions>
      </Dialog>
      <OneTimePassword
        username={shown.username}
        password={shown.password}
        onClose={() => setShown({ username: "", password: null })}
      />
    </>
  );
}
