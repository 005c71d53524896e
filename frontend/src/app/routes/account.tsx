import Alert from "@mui/material/Alert";
import Box from "@mui/material/Box";
import Button from "@mui/material/Button";
import Card from "@mui/material/Card";
import CardContent from "@mui/material/CardContent";
import Stack from "@mui/material/Stack";
import TextField from "@mui/material/TextField";
import { useState, type FormEvent } from "react";

import { useChangePasswordMutation } from "@/client/orca-api";
import { PageHeader } from "@/components/ui/page-header";
import { ProblemAlert } from "@/components/ui/problem-alert";
import { usePermissions } from "@/hooks/use-permissions";
import { fieldMessage, problemOf } from "@/lib/errors";
import { signedIn } from "@/lib/session";
import { useAppDispatch } from "@/lib/store";

export default function AccountRoute() {
  const { me } = usePermissions();
  const [current, setCurrent] = useState("");
  const [next, setNext] = useState("");
  const [done, setDone] = useState(false);
  const [change, { isLoading, error }] = useChangePasswordMutation();
  const dispatch = useAppDispatch();
  const problem = problemOf(error);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setDone(false);
    const result = await change({
      changePasswordRequest: { current_password: current, new_password: next },
    });
    if ("data" in result && result.data) {
      // Every other session ended; this one continues on the fresh pair.
      dispatch(signedIn(result.data.access_token));
      setCurrent("");
      setNext("");
      setDone(true);
    }
  }

  return (
    <>
      <PageHeader
        title="Your account"
        subtitle={
          me
            ? `${me.username} · ${me.role}${me.teams.length ? ` · teams: ${me.teams.map((team) => team.name).join(", ")}` : ""}`
            : undefined
        }
      />
      <Card sx={{ maxWidth: 480 }}>
        <CardContent>
          <Box component="form" onSubmit={submit} noValidate>
            <Stack spacing={2}>
              {done && (
                <Alert severity="success">
                  Password changed. Every other session of yours has ended.
                </Alert>
              )}
              <ProblemAlert error={error} title="Not changed" />
              <TextField
                label="Current password"
                type="password"
                autoComplete="current-password"
                value={current}
                onChange={(e) => setCurrent(e.target.value)}
                error={Boolean(fieldMessage(problem, "current_password"))}
                helperText={fieldMessage(problem, "current_password")}
              />
              <TextField
                label="New password"
                type="password"
                autoComplete="new-password"
                value={next}
                onChange={(e) => setNext(e.target.value)}
                error={Boolean(fieldMessage(problem, "new_password"))}
                helperText={
                  fieldMessage(problem, "new_password") ??
                  "At least 12 characters, not a common one."
                }
              />
              <Box>
                <Button type="submit" variant="contained" disabled={isLoading || !current || !next}>
                  Change password
                </Button>
              </Box>
            </Stack>
          </Box>
        </CardContent>
      </Card>
    </>
  );
}
