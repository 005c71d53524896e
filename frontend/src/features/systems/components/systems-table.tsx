import Box from "@mui/material/Box";
import Chip from "@mui/material/Chip";
import Link from "@mui/material/Link";
import MenuItem from "@mui/material/MenuItem";
import Paper from "@mui/material/Paper";
import Table from "@mui/material/Table";
import TableBody from "@mui/material/TableBody";
import TableCell from "@mui/material/TableCell";
import TableContainer from "@mui/material/TableContainer";
import TableHead from "@mui/material/TableHead";
import TableRow from "@mui/material/TableRow";
import TextField from "@mui/material/TextField";

import { Link as RouterLink, useSearchParams } from "react-router";

import { useListSystemsQuery, type HealthStatus, type SystemKind } from "@/client/orca-api";
import { EmptyRow } from "@/components/ui/empty-row";
import { Pager } from "@/components/ui/pager";
import { ProblemAlert } from "@/components/ui/problem-alert";
import { SearchField } from "@/components/ui/search-field";
import { HealthChip } from "@/components/ui/status-chip";
import { HEALTH_STATES } from "@/lib/states";
import { paths } from "@/config/paths";
import { useCursorPages } from "@/hooks/use-cursor-pages";
import { ago } from "@/lib/format";

const PAGE = 50;

export function SystemsTable() {
  const [search, setSearch] = useSearchParams();
  const q = search.get("q") ?? "";
  const kind = search.get("kind") ?? "";
  const health = search.get("health") ?? "";
  const connector = search.get("connector") ?? "";
  const label = search.get("label") ?? "";
  const pages = useCursorPages(search.toString());

  const { data, error, isFetching } = useListSystemsQuery({
    limit: PAGE,
    cursor: pages.cursor,
    q: q || undefined,
    kind: (kind || undefined) as SystemKind | undefined,
    health: (health || undefined) as HealthStatus | undefined,
    connector: connector || undefined,
    label: label
      ? label
          .split(",")
          .map((item) => item.trim())
          .filter(Boolean)
      : undefined,
  });

  function set(name: string, value: string) {
    const next = new URLSearchParams(search);
    if (value) next.set(name, value);
    else next.delete(name);
    setSearch(next, { replace: true });
  }

  return (
    <>
      <Box
        sx={{ display: "flex", flexWrap: "wrap", gap: 1.5, mb: 2 }}
        role="search"
        aria-label="Filter systems"
      >
        <SearchField value={q} onChange={(value) => set("q", value)} label="Search name or host" />
        <TextField
          select
          label="Kind"
          value={kind}
          onChange={(e) => set("kind", e.target.value)}
          sx={{ minWidth: 120 }}
        >
          <MenuItem value="">Any</MenuItem>
          <MenuItem value="linux">Linux</MenuItem>
          <MenuItem value="windows">Windows</MenuItem>
        </TextField>
        <TextField
          select
          label="Health"
          value={health}
          onChange={(e) => set("health", e.target.value)}
          sx={{ minWidth: 170 }}
        >
          <MenuItem value="">Any</MenuItem>
          {HEALTH_STATES.map((state) => (
            <MenuItem key={state} value={state}>
              <HealthChip health={state} />
            </MenuItem>
          ))}
        </TextField>
        <TextField
          select
          label="Connector"
          value={connector}
          onChange={(e) => set("connector", e.target.value)}
          sx={{ minWidth: 130 }}
        >
          <MenuItem value="">Any</MenuItem>
          <MenuItem value="ssh">SSH</MenuItem>
          <MenuItem value="winrm">WinRM</MenuItem>
          <MenuItem value="local">Local</MenuItem>
        </TextField>
        <SearchField
          value={label}
          onChange={(value) => set("label", value)}
          label="Labels (key=value, …)"
        />
      </Box>
      <ProblemAlert error={error} title="Could not list systems" />
      <Paper variant="outlined">
        <TableContainer>
          <Table size="small" aria-label="Systems" aria-busy={isFetching}>
            <TableHead>
              <TableRow>
                <TableCell>Name</TableCell>
                <TableCell>Health</TableCell>
                <TableCell sx={{ display: { xs: "none", sm: "table-cell" } }}>Address</TableCell>
                <TableCell sx={{ display: { xs: "none", md: "table-cell" } }}>Kind</TableCell>
                <TableCell sx={{ display: { xs: "none", md: "table-cell" } }}>Labels</TableCell>
                <TableCell sx={{ display: { xs: "none", lg: "table-cell" } }}>
                  Last checked
                </TableCell>
              </TableRow>
            </TableHead>
            <TableBody>
              {data?.items.map((system) => (
                <TableRow key={system.id} hover>
                  <TableCell>
                    <Link
                      component={RouterLink}
                      to={paths.system(system.id)}
                      underline="hover"
                      sx={{ fontWeight: 500 }}
                    >
                      {system.name}
                    </Link>
                  </TableCell>
                  <TableCell>
                    <HealthChip health={system.health_status} />
                  </TableCell>
                  <TableCell
                    sx={{ display: { xs: "none", sm: "table-cell" }, fontFamily: "monospace" }}
                  >
                    {system.connector === "local"
                      ? "this host"
                      : `${system.connector}://${system.host}${system.port ? `:${system.port}` : ""}`}
                  </TableCell>
                  <TableCell sx={{ display: { xs: "none", md: "table-cell" } }}>
                    {system.kind}
                  </TableCell>
                  <TableCell sx={{ display: { xs: "none", md: "table-cell" } }}>
                    <Box sx={{ display: "flex", flexWrap: "wrap", gap: 0.5 }}>
                      {Object.entries(system.labels).map(([key, value]) => (
                        <Chip
                          key={key}
                          size="small"
                          variant="outlined"
                          label={`${key}=${String(value)}`}
                        />
                      ))}
                    </Box>
                  </TableCell>
                  <TableCell sx={{ display: { xs: "none", lg: "table-cell" } }}>
                    {ago(system.last_checked_at)}
                  </TableCell>
                </TableRow>
              ))}
              <EmptyRow show={data?.items.length === 0} colSpan={6}>
                No system matches.
              </EmptyRow>
            </TableBody>
          </Table>
        </TableContainer>
      </Paper>
      <Pager pages={pages} result={data} />
    </>
  );
}
