import Box from "@mui/material/Box";
import Button from "@mui/material/Button";
import Chip from "@mui/material/Chip";
import Link from "@mui/material/Link";
import Paper from "@mui/material/Paper";
import Table from "@mui/material/Table";
import TableBody from "@mui/material/TableBody";
import TableCell from "@mui/material/TableCell";
import TableContainer from "@mui/material/TableContainer";
import TableHead from "@mui/material/TableHead";
import TableRow from "@mui/material/TableRow";
import Typography from "@mui/material/Typography";
import { Link as RouterLink, useSearchParams } from "react-router";

import { useListTemplatesQuery } from "@/client/orca-api";
import { EmptyRow } from "@/components/ui/empty-row";
import { Pager } from "@/components/ui/pager";
import { ProblemAlert } from "@/components/ui/problem-alert";
import { SearchField } from "@/components/ui/search-field";
import { paths } from "@/config/paths";
import { useCursorPages } from "@/hooks/use-cursor-pages";
import { ago } from "@/lib/format";
import { describeTargets } from "@/lib/targets";
import { MONO } from "@/lib/theme";

export function TemplatesTable() {
  const [search, setSearch] = useSearchParams();
  const q = search.get("q") ?? "";
  const pages = useCursorPages(search.toString());
  const { data, error, isFetching } = useListTemplatesQuery({
    limit: 50,
    cursor: pages.cursor,
    q: q || undefined,
  });
  const launchable = data?.items.some((template) => template.can_launch) ?? false;

  return (
    <>
      <Box
        sx={{ display: "flex", flexWrap: "wrap", gap: 1.5, mb: 2 }}
        role="search"
        aria-label="Filter templates"
      >
        <SearchField
          value={q}
          onChange={(value) => {
            const next = new URLSearchParams(search);
            if (value) next.set("q", value);
            else next.delete("q");
            setSearch(next, { replace: true });
          }}
          label="Search templates"
        />
      </Box>
      <ProblemAlert error={error} title="Could not list templates" />
      <Paper variant="outlined">
        <TableContainer>
          <Table size="small" aria-label="Templates" aria-busy={isFetching}>
            <TableHead>
              <TableRow>
                <TableCell>Template</TableCell>
                <TableCell sx={{ display: { xs: "none", md: "table-cell" } }}>Parameters</TableCell>
                <TableCell sx={{ display: { xs: "none", lg: "table-cell" } }}>Targets</TableCell>
                <TableCell sx={{ display: { xs: "none", sm: "table-cell" } }}>By</TableCell>
                <TableCell sx={{ display: { xs: "none", sm: "table-cell" } }}>Changed</TableCell>
                {launchable && <TableCell align="right">Actions</TableCell>}
              </TableRow>
            </TableHead>
            <TableBody>
              {data?.items.map((template) => (
                <TableRow key={template.id} hover>
                  <TableCell sx={{ maxWidth: 360 }}>
                    <Link
                      component={RouterLink}
                      to={paths.template(template.id)}
                      underline="hover"
                      sx={{ fontWeight: 500, overflowWrap: "anywhere" }}
                    >
                      {template.name}
                    </Link>
                    <Typography variant="body2" color="text.secondary" component="span">
                      {" "}
                      · v{template.version}
                    </Typography>
                    {template.description && (
                      <Typography
                        variant="body2"
                        color="text.secondary"
                        sx={{ overflowWrap: "anywhere" }}
                        noWrap
                      >
                        {template.description}
                      </Typography>
                    )}
                  </TableCell>
                  <TableCell sx={{ display: { xs: "none", md: "table-cell" } }}>
                    <Box sx={{ display: "flex", flexWrap: "wrap", gap: 0.5 }}>
                      {template.parameters.map((parameter) => (
                        <Chip
                          key={parameter.name}
                          size="small"
                          variant="outlined"
                          label={`${parameter.name}: ${parameter.type ?? "string"}`}
                          sx={{ fontFamily: MONO }}
                        />
                      ))}
                      {template.parameters.length === 0 && "—"}
                    </Box>
                  </TableCell>
                  <TableCell sx={{ display: { xs: "none", lg: "table-cell" }, maxWidth: 280 }}>
                    {describeTargets(template.targets)}
                  </TableCell>
                  <TableCell sx={{ display: { xs: "none", sm: "table-cell" } }}>
                    {template.created_by_username ?? "—"}
                  </TableCell>
                  <TableCell sx={{ display: { xs: "none", sm: "table-cell" } }}>
                    {ago(template.updated_at)}
                  </TableCell>
                  {launchable && (
                    <TableCell align="right">
                      {template.can_launch && (
                        <Button
                          size="small"
                          variant="outlined"
                          component={RouterLink}
                          to={paths.launchTemplate(template.id)}
                          aria-label={`Launch ${template.name}`}
                        >
                          Launch
                        </Button>
                      )}
                    </TableCell>
                  )}
                </TableRow>
              ))}
              <EmptyRow show={data?.items.length === 0} colSpan={launchable ? 6 : 5}>
                {q ? "No template matches." : "No template yet."}
              </EmptyRow>
            </TableBody>
          </Table>
        </TableContainer>
      </Paper>
      <Pager pages={pages} result={data} />
    </>
  );
}
