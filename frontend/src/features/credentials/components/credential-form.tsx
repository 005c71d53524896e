import Alert from "@mui/material/Alert";
import Box from "@mui/material/Box";
import Button from "@mui/material/Button";
import Card from "@mui/material/Card";
import CardContent from "@mui/material/CardContent";
import MenuItem from "@mui/material/MenuItem";
import Stack from "@mui/material/Stack";
import TextField from "@mui/material/TextField";
import Typography from "@mui/material/Typography";
import { useState, type FormEvent } from "react";

import {
  useCreateCredentialMutation,
  useDeleteCredentialMutation,
  useUpdateCredentialMutation,
  type CredentialKind,
  type CredentialOut,
} from "@/client/orca-api";
import { ConfirmDialog } from "@/components/ui/confirm-dialog";
import { ProblemAlert } from "@/components/ui/problem-alert";
import { fieldMessage, problemOf } from "@/lib/errors";
import { MONO } from "@/lib/theme";

type SecretField = {
  name: string;
  label: string;
  multiline?: boolean;
  optional?: boolean;
  help?: string;
};

const SECRET_FIELDS: Record<CredentialKind, SecretField[]> = {
  "ssh-password": [{ name: "password", label: "Password" }],
  "ssh-key": [
    {
      name: "private_key",
      label: "Private key",
      multiline: true,
      help: "OpenSSH or PEM; RSA, ECDSA or Ed25519.",
    },
    { name: "passphrase", label: "Passphrase", optional: true },
  ],
  "winrm-password": [{ name: "password", label: "Password" }],
  "winrm-certificate": [
    { name: "certificate", label: "Client certificate (PEM)", multiline: true },
    { name: "private_key", label: "Private key (PEM)", multiline: true },
  ],
};

const KIND_LABEL: Record<CredentialKind, string> = {
  "ssh-password": "SSH password",
  "ssh-key": "SSH private key",
  "winrm-password": "WinRM password",
  "winrm-certificate": "WinRM client certificate",
};

/** Secrets are write-only: typed here, sent once, never shown again. Editing leaves the stored
 * secret alone unless new values are typed. */
export function CredentialForm({
  credential,
  onDone,
}: {
  credential?: CredentialOut;
  onDone: () => void;
}) {
  const [kind, setKind] = useState<CredentialKind>(credential?.kind ?? "ssh-password");
  const [name, setName] = useState(credential?.name ?? "");
  const [username, setUsername] = useState(credential?.username ?? "");
  const [description, setDescription] = useState(credential?.description ?? "");
  const [secret, setSecret] = useState<Record<string, string>>({});
  const [confirmDelete, setConfirmDelete] = useState(false);
  const [create, created] = useCreateCredentialMutation();
  const [update, updated] = useUpdateCredentialMutation();
  const [remove, removed] = useDeleteCredentialMutation();
  const error = created.error ?? updated.error ?? removed.error;
  const problem = problemOf(error);
  const fields = SECRET_FIELDS[kind];
  const typed = fields.some((field) => secret[field.name]);

  async function submit(event: FormEvent) {
    event.preventDefault();
    const values: Record<string, string | null> = Object.fromEntries(
      fields.map((field) => [field.name, secret[field.name] || null]),
    );
    const result = credential
      ? await update({
          credentialId: credential.id,
          credentialUpdate: {
            name,
            username,
            description: description || null,
            ...(typed ? { secret: values } : {}),
          },
        })
      : await create({
          credentialCreate: {
            name,
            username,
            kind,
            description: description || null,
            secret: values,
          },
        });
    if ("data" in result) {
      setSecret({});
      onDone();
    }
  }

  return (
    <Box component="form" onSubmit={submit} noValidate autoComplete="off">
      <ProblemAlert error={error} title="Not saved" />
      <Card>
        <CardContent>
          <Stack spacing={2}>
            <TextField
              label="Name"
              required
              value={name}
              onChange={(e) => setName(e.target.value)}
              error={Boolean(fieldMessage(problem, "name"))}
              helperText={fieldMessage(problem, "name")}
            />
            <TextField
              select
              label="Kind"
              value={kind}
              disabled={Boolean(credential)}
              onChange={(e) => setKind(e.target.value as CredentialKind)}
              helperText={credential ? "The kind of a credential cannot change." : undefined}
            >
              {Object.entries(KIND_LABEL).map(([value, label]) => (
                <MenuItem key={value} value={value}>
                  {label}
                </MenuItem>
              ))}
            </TextField>
            <TextField
              label="Username"
              required
              value={username}
              onChange={(e) => setUsername(e.target.value)}
              error={Boolean(fieldMessage(problem, "username"))}
              helperText={
                fieldMessage(problem, "username") ??
                (kind.startsWith("winrm") ? "user, DOMAIN\\user or user@domain" : undefined)
              }
            />
            <TextField
              label="Description"
              value={description}
              onChange={(e) => setDescription(e.target.value)}
            />
            <Typography variant="h3" component="h2">
              Secret
            </Typography>
            {credential && (
              <Alert severity="info">
                The stored secret is never shown. Leave these empty to keep it; type new values to
                replace it.
              </Alert>
            )}
            {fields.map((field) => (
              <TextField
                key={`${kind}-${field.name}`}
                label={`${field.label}${field.optional ? " (optional)" : ""}`}
                type={field.multiline ? "text" : "password"}
                multiline={field.multiline}
                minRows={field.multiline ? 4 : undefined}
                autoComplete="new-password"
                value={secret[field.name] ?? ""}
                onChange={(e) =>
                  setSecret((current) => ({ ...current, [field.name]: e.target.value }))
                }
                error={Boolean(fieldMessage(problem, `secret.${field.name}`))}
                helperText={fieldMessage(problem, `secret.${field.name}`) ?? field.help}
                slotProps={{
                  htmlInput: {
                    spellCheck: false,
                    style: field.multiline ? { fontFamily: MONO, fontSize: 12 } : undefined,
                  },
                }}
              />
            ))}
            <Box sx={{ display: "flex", gap: 1 }}>
              <Button
                type="submit"
                variant="contained"
                disabled={created.isLoading || updated.isLoading || !name || !username}
              >
                {credential ? "Save changes" : "Store credential"}
              </Button>
              {credential && (
                <Button color="error" onClick={() => setConfirmDelete(true)}>
                  Delete
                </Button>
              )}
            </Box>
          </Stack>
        </CardContent>
      </Card>
      {credential && (
        <ConfirmDialog
          open={confirmDelete}
          title={`Delete ${credential.name}?`}
          confirm="Delete"
          danger
          onClose={() => setConfirmDelete(false)}
          onConfirm={async () => {
            const result = await remove({ credentialId: credential.id });
            if ("data" in result) onDone();
          }}
        >
          {credential.system_count
            ? `${credential.system_count} system(s) use it; the API refuses while any does.`
            : "No system uses it."}
        </ConfirmDialog>
      )}
    </Box>
  );
}
