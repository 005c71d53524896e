import Alert from "@mui/material/Alert";
import Box from "@mui/material/Box";
import Button from "@mui/material/Button";
import Card from "@mui/material/Card";
import CardContent from "@mui/material/CardContent";
import Stack from "@mui/material/Stack";
import TextField from "@mui/material/TextField";
import Typography from "@mui/material/Typography";
import { useState, type FormEvent } from "react";

import { useLoginMutation } from "@/client/orca-api";
import { problemOf } from "@/lib/errors";
import { signedIn } from "@/lib/session";
import { useAppDispatch, useAppSelector } from "@/lib/store";

const REASONS: Record<string, string> = {
  expired: "Your session ended. Sign in again to continue.",
  "logged-out": "You are signed out.",
};

export function LoginForm({ onSignedIn }: { onSignedIn: () => void }) {
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [login, { isLoading, error }] = useLoginMutation();
  const reason = useAppSelector((state) => state.session.reason);
  const dispatch = useAppDispatch();
  const problem = problemOf(error);

  async function submit(event: FormEvent) {
    event.preventDefault();
    const result = await login({ body: { username, password, refresh_cookie: true } });
    if ("data" in result && result.data) {
      dispatch(signedIn(result.data.access_token));
      onSignedIn();
    }
  }

  return (
    <Card sx={{ width: "100%", maxWidth: 400 }}>
      <CardContent>
        <Box component="form" onSubmit={submit} noValidate>
          <Stack spacing={2}>
            <Typography variant="h1" component="h1">
              Sign in to Orca
            </Typography>
            {reason && !problem && <Alert severity="info">{REASONS[reason] ?? reason}</Alert>}
            {problem && (
              <Alert severity="error" role="alert">
                {problem.status === 429
                  ? problem.message
                  : problem.status === 401
                    ? "Wrong username or password."
                    : problem.message}
              </Alert>
            )}
            <TextField
              label="Username"
              name="username"
              autoComplete="username"
              autoFocus
              required
              value={username}
              onChange={(event) => setUsername(event.target.value)}
            />
            <TextField
              label="Password"
              name="password"
              type="password"
              autoComplete="current-password"
              required
              value={password}
              onChange={(event) => setPassword(event.target.value)}
            />
            <Button
              type="submit"
              variant="contained"
              size="large"
              disabled={isLoading || !username || !password}
            >
              {isLoading ? "Signing in…" : "Sign in"}
            </Button>
          </Stack>
        </Box>
      </CardContent>
    </Card>
  );
}
