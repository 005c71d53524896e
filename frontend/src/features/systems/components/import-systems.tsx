import Alert from "@mui/material/Alert";
import Box from "@mui/material/Box";
import Button from "@mui/material/Button";
import Card from "@mui/material/Card";
import CardContent from "@mui/material/CardContent";
import Stack from "@mui/material/Stack";
import Table from "@mui/material/Table";
import TableBody from "@mui/material/TableBody";
import TableCell from "@mui/material/TableCell";
import TableHead from "@mui/material/TableHead";
import TableRow from "@mui/material/TableRow";
import TextField from "@mui/material/TextField";
import ToggleButton from "@mui/material/ToggleButton";
import ToggleButtonGroup from "@mui/material/ToggleButtonGroup";
import Typography from "@mui/material/Typography";
import { useState } from "react";

import { useImportSystemsMutation } from "@/client/orca-api";
import { problemOf } from "@/lib/errors";
import { MONO } from "@/lib/theme";
import { useImportSystemsCsvMutation } from "@/features/systems/api/import-systems-csv";

type RowError = { row: number | null; field: string; message: string };

const CSV_EXAMPLE = `name,host,port,kind,connector,credential,groups,labels
web-1,10.0.0.11,22,linux,ssh,deploy,web,os=linux;env=prod
win-1,10.0.0.21,,windows,winrm,win-admin,,os=windows`;

function rowErrors(details: unknown): RowError[] {
  if (!Array.isArray(details)) return [];
  return details.map((item: { row?: number; field?: string; message?: string }) => ({
    row: typeof item.row === "number" ? item.row : null,
    field: item.field ?? "",
    message: item.message ?? "",
  }));
}

export function ImportSystems({ onImported }: { onImported: (count: number) => void }) {
  const [format, setFormat] = useState<"csv" | "json">("csv");
  const [text, setText] = useState("");
  const [parseError, setParseError] = useState<string>();
  const [importJson, json] = useImportSystemsMutation();
  const [importCsv, csv] = useImportSystemsCsvMutation();
  const error = format === "csv" ? csv.error : json.error;
  const problem = problemOf(error);
  const rows =
    problem && error && "data" in error
      ? rowErrors((error.data as { error?: { details?: unknown } })?.error?.details)
      : [];
  const busy = json.isLoading || csv.isLoading;

  async function readFile(file: File) {
    setText(await file.text());
    setFormat(file.name.endsWith(".json") ? "json" : "csv");
  }

  async function submit() {
    setParseError(undefined);
    if (format === "json") {
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch (exc) {
        setParseError(`Not valid JSON: ${(exc as Error).message}`);
        return;
      }
      if (!Array.isArray(body)) {
        setParseError("The JSON must be a list of systems.");
        return;
      }
      const result = await importJson({ body: body as object[] });
      if ("data" in result && result.data) onImported(result.data.created);
    } else {
      const result = await importCsv(text);
      if ("data" in result && result.data) onImported(result.data.created);
    }
  }

  return (
    <Stack spacing={2}>
      <Card>
        <CardContent>
          <Stack spacing={2}>
            <Typography>
              Paste or load a CSV (columns name, host, port, kind, connector, credential, groups,
              labels, description, host_key, max_concurrency) or a JSON list of systems. Nothing is
              imported unless every row is right.
            </Typography>
            <Box sx={{ display: "flex", flexWrap: "wrap", gap: 2, alignItems: "center" }}>
              <ToggleButtonGroup
                exclusive
                size="small"
                value={format}
                onChange={(_, value) => value && setFormat(value)}
                aria-label="Format"
              >
                <ToggleButton value="csv">CSV</ToggleButton>
                <ToggleButton value="json">JSON</ToggleButton>
              </ToggleButtonGroup>
              <Button component="label" variant="outlined">
                Load a file…
                <input
                  hidden
                  type="file"
                  accept=".csv,.json,text/csv,application/json"
                  onChange={(e) => e.target.files?.[0] && void readFile(e.target.files[0])}
                />
              </Button>
            </Box>
            <TextField
              label={format === "csv" ? "CSV" : "JSON"}
              multiline
              minRows={8}
              maxRows={24}
              value={text}
              onChange={(e) => setText(e.target.value)}
              placeholder={
                format === "csv"
                  ? CSV_EXAMPLE
                  : '[{"name": "web-1", "host": "10.0.0.11", "credential": "deploy"}]'
              }
              slotProps={{
                htmlInput: { style: { fontFamily: MONO, fontSize: 13 }, spellCheck: false },
              }}
            />
            <Box>
              <Button
                variant="contained"
                onClick={() => void submit()}
                disabled={busy || !text.trim()}
              >
                {busy ? "Importing…" : "Import"}
              </Button>
            </Box>
          </Stack>
        </CardContent>
      </Card>
      {parseError && <Alert severity="error">{parseError}</Alert>}
      {problem && (
        <Alert severity="error" role="alert">
          {problem.message}
        </Alert>
      )}
      {rows.length > 0 && (
        <Card>
          <CardContent>
            <Typography variant="h2" component="h2" gutterBottom>
              {rows.length} problem(s), by row
            </Typography>
            <Table size="small" aria-label="Import problems">
              <TableHead>
                <TableRow>
                  <TableCell>Row</TableCell>
                  <TableCell>Field</TableCell>
                  <TableCell>Problem</TableCell>
                </TableRow>
              </TableHead>
              <TableBody>
                {rows.map((row, index) => (
                  <TableRow key={index}>
                    <TableCell>{row.row ?? "—"}</TableCell>
                    <TableCell sx={{ fontFamily: MONO }}>{row.field}</TableCell>
                    <TableCell>{row.message}</TableCell>
                  </TableRow>
                ))}
              </TableBody>
            </Table>
          </CardContent>
        </Card>
      )}
    </Stack>
  );
}
