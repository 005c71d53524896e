import KeyboardArrowDown from "@mui/icons-material/KeyboardArrowDown";
import KeyboardArrowRight from "@mui/icons-material/KeyboardArrowRight";
import Alert from "@mui/material/Alert";
import IconButton from "@mui/material/IconButton";
import Box from "@mui/material/Box";
import Button from "@mui/material/Button";
import Chip from "@mui/material/Chip";
import Collapse from "@mui/material/Collapse";
import MenuItem from "@mui/material/MenuItem";
import Paper from "@mui/material/Paper";
import Table from "@mui/material/Table";
import TableBody from "@mui/material/TableBody";
import TableCell from "@mui/material/TableCell";
import TableContainer from "@mui/material/TableContainer";
import TableHead from "@mui/material/TableHead";
import TableRow from "@mui/material/TableRow";
import TextField from "@mui/material/TextField";
import { Fragment, useState } from "react";
import { useStore } from "react-redux";
import { useSearchParams } from "react-router";

import {
  useLazyVerifyAuditChainQuery,
  useListAuditEventsQuery,
  type AuditOutcome,
} from "@/client/orca-api";
import { EmptyRow } from "@/components/ui/empty-row";
import { Pager } from "@/components/ui/pager";
import { ProblemAlert } from "@/components/ui/problem-alert";
import { SearchField } from "@/components/ui/search-field";
import { useCursorPages } from "@/hooks/use-cursor-pages";
import { usePermissions } from "@/hooks/use-permissions";
import { serializeParams } from "@/lib/api-base";
import { authorizedFetch, saveResponse } from "@/lib/authorized-fetch";
import { when } from "@/lib/format";
import type { AppStore } from "@/lib/store";
import { MONO } from "@/lib/theme";

const OUTCOME_COLOUR: Record<string, "success" | "error" | "warning" | "default"> = {
  success: "success",
  failure: "error",
  denied: "warning",
};
type Filter = "q" | "actor" | "action" | "target_type" | "outcome" | "since" | "until";

function iso(local: string): string | undefined {
  // datetime-local has no zone: it is the browser's local time.
  return local ? new Date(local).toISOString() : undefined;
}

export function AuditLog() {
  const [search, setSearch] = useSearchParams();
  const value = (name: Filter) => search.get(name) ?? "";
  const filters = {
    q: value("q") || undefined,
    actor: value("actor") || undefined,
    action: value("action") || undefined,
    targetType: value("target_type") || undefined,
    outcome: (value("outcome") || undefined) as AuditOutcome | undefined,
    since: iso(value("since")),
    until: iso(value("until")),
  };
  const pages = useCursorPages(search.toString());
  const { data, error, isFetching } = useListAuditEventsQuery({
    ...filters,
    limit: 100,
    cursor: pages.cursor,
  });
  const [verify, verified] = useLazyVerifyAuditChainQuery();
  const [open, setOpen] = useState<string | null>(null);
  const [exporting, setExporting] = useState(false);
  const { can } = usePermissions();
  const store = useStore() as AppStore;

  function set(name: string, text: string) {
    const next = new URLSearchParams(search);
    if (text) next.set(name, text);
    else next.delete(name);
    setSearch(next, { replace: true });
  }

  async function exportAs(format: "csv" | "ndjson") {
    setExporting(true);
    try {
      const query = serializeParams({
        format,
        q: filters.q,
        actor: filters.actor,
        action: filters.action,
        target_type: filters.targetType,
        outcome: filters.outcome,
        since: filters.since,
        until: filters.until,
      });
      const response = await authorizedFetch(store, `/api/v1/audit/export?${query}`);
      if (response.ok) await saveResponse(response, `orca-audit.${format}`);
    } finally {
      setExporting(false);
    }
  }

  return (
    <>
      <Box
        sx={{ display: "flex", flexWrap: "wrap", gap: 1.5, mb: 2 }}
        role="search"
        aria-label="Filter the audit log"
      >
        <SearchField
          value={value("q")}
          onChange={(text) => set("q", text)}
          label="Search details"
        />
        <SearchField value={value("actor")} onChange={(text) => set("actor", text)} label="Actor" />
        <SearchField
          value={value("action")}
          onChange={(text) => set("action", text)}
          label="Action (auth.*)"
        />
        <SearchField
          value={value("target_type")}
          onChange={(text) => set("target_type", text)}
          label="Resource type"
        />
        <TextField
          select
          label="Outcome"
          value={value("outcome")}
          onChange={(e) => set("outcome", e.target.value)}
          sx={{ minWidth: 130 }}
        >
          <MenuItem value="">Any</MenuItem>
          <MenuItem value="success">success</MenuItem>
          <MenuItem value="failure">failure</MenuItem>
          <MenuItem value="denied">denied</MenuItem>
        </TextField>
        <TextField
          label="From"
          type="datetime-local"
          value={value("since")}
          onChange={(e) => set("since", e.target.value)}
          slotProps={{ inputLabel: { shrink: true } }}
        />
        <TextField
          label="Until"
          type="datetime-local"
          value={value("until")}
          onChange={(e) => set("until", e.target.value)}
          slotProps={{ inputLabel: { shrink: true } }}
        />
      </Box>
      <Box sx={{ display: "flex", flexWrap: "wrap", gap: 1, mb: 2 }}>
        {can("audit:export") && (
          <>
            <Button variant="outlined" disabled={exporting} onClick={() => void exportAs("csv")}>
              Export CSV
            </Button>
            <Button variant="outlined" disabled={exporting} onClick={() => void exportAs("ndjson")}>
              Export NDJSON
            </Button>
          </>
        )}
        {can("audit:verify") && (
          <Button
            variant="contained"
            disabled={verified.isFetching}
            onClick={() => void verify({})}
          >
            {verified.isFetching ? "Verifying…" : "Verify the chain"}
          </Button>
        )}
      </Box>
      <ProblemAlert error={verified.error} title="Could not verify" />
      {verified.data && !verified.isFetching && (
        <Alert
          severity={verified.data.ok ? "success" : "error"}
          sx={{ mb: 2 }}
          role="status"
          data-testid="verify-result"
        >
          {verified.data.ok
            ? `The chain is intact: ${verified.data.rows_checked} rows checked, head #${verified.data.head_seq} (${verified.data.head_hash.slice(0, 16)}…).`
            : `The chain is broken at row #${verified.data.broken_at_seq}: ${verified.data.problem ?? "hash mismatch"}.`}
        </Alert>
      )}
      <ProblemAlert error={error} title="Could not read the audit log" />
      <Paper variant="outlined">
        <TableContainer>
          <Table size="small" aria-label="Audit events" aria-busy={isFetching}>
            <TableHead>
              <TableRow>
                <TableCell>#</TableCell>
                <TableCell>When</TableCell>
                <TableCell>Actor</TableCell>
                <TableCell>Action</TableCell>
                <TableCell sx={{ display: { xs: "none", md: "table-cell" } }}>Resource</TableCell>
                <TableCell>Outcome</TableCell>
              </TableRow>
            </TableHead>
            <TableBody>
              {data?.items.map((event) => (
                <Fragment key={event.id}>
                  <TableRow
                    hover
                    onClick={() => setOpen(open === event.id ? null : event.id)}
                    sx={{ cursor: "pointer" }}
                  >
                    <TableCell sx={{ fontVariantNumeric: "tabular-nums", whiteSpace: "nowrap" }}>
                      <IconButton
                        size="small"
                        aria-label={`Details of event ${event.seq}`}
                        aria-expanded={open === event.id}
                        onClick={(click) => {
                          click.stopPropagation();
                          setOpen(open === event.id ? null : event.id);
                        }}
                      >
                        {open === event.id ? (
                          <KeyboardArrowDown fontSize="small" />
                        ) : (
                          <KeyboardArrowRight fontSize="small" />
                        )}
                      </IconButton>
                      {event.seq}
                    </TableCell>
                    <TableCell sx={{ whiteSpace: "nowrap" }}>{when(event.occurred_at)}</TableCell>
                    <TableCell>{event.actor_username ?? "system"}</TableCell>
                    <TableCell sx={{ fontFamily: MONO, fontSize: 13 }}>{event.action}</TableCell>
                    <TableCell sx={{ display: { xs: "none", md: "table-cell" }, fontSize: 13 }}>
                      {event.target_type
                        ? `${event.target_type} ${event.target_id?.slice(0, 8) ?? ""}`
                        : "—"}
                    </TableCell>
                    <TableCell>
                      <Chip
                        size="small"
                        label={event.outcome}
                        color={OUTCOME_COLOUR[event.outcome] ?? "default"}
                        variant="outlined"
                      />
                    </TableCell>
                  </TableRow>
                  <TableRow>
                    <TableCell
                      colSpan={6}
                      sx={{ p: 0, borderBottom: open === event.id ? undefined : "none" }}
                    >
                      <Collapse in={open === event.id} unmountOnExit>
                        <Box
                          component="pre"
                          sx={{
                            m: 0,
                            p: 2,
                            fontFamily: MONO,
                            fontSize: 12,
                            overflow: "auto",
                            bgcolor: "action.hover",
                          }}
                        >
                          {JSON.stringify(
                            {
                              details: event.details,
                              client_ip: event.client_ip,
                              user_agent: event.user_agent,
                              request_id: event.request_id,
                              target_id: event.target_id,
                              row_hash: event.row_hash,
                            },
                            null,
                            2,
                          )}
                        </Box>
                      </Collapse>
                    </TableCell>
                  </TableRow>
                </Fragment>
              ))}
              <EmptyRow show={data?.items.length === 0} colSpan={6}>
                No event matches.
              </EmptyRow>
            </TableBody>
          </Table>
        </TableContainer>
      </Paper>
      <Pager pages={pages} result={data} />
    </>
  );
}
