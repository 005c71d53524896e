import Link from "@mui/material/Link";
import Paper from "@mui/material/Paper";
import Table from "@mui/material/Table";
import TableBody from "@mui/material/TableBody";
import TableCell from "@mui/material/TableCell";
import TableContainer from "@mui/material/TableContainer";
import TableHead from "@mui/material/TableHead";
import TableRow from "@mui/material/TableRow";
import { useState } from "react";
import { Link as RouterLink } from "react-router";

import { useListCredentialsQuery } from "@/client/orca-api";
import { EmptyRow } from "@/components/ui/empty-row";
import { Pager } from "@/components/ui/pager";
import { ProblemAlert } from "@/components/ui/problem-alert";
import { SearchField } from "@/components/ui/search-field";
import { paths } from "@/config/paths";
import { useCursorPages } from "@/hooks/use-cursor-pages";
import { usePermissions } from "@/hooks/use-permissions";
import { ago } from "@/lib/format";
import { MONO } from "@/lib/theme";

export function CredentialsTable() {
  const [q, setQ] = useState("");
  const pages = useCursorPages(q);
  const { can } = usePermissions();
  const { data, error } = useListCredentialsQuery({
    limit: 50,
    cursor: pages.cursor,
    q: q || undefined,
  });
  return (
    <>
      <SearchField value={q} onChange={setQ} label="Search credentials" />
      <ProblemAlert error={error} title="Could not list credentials" />
      <Paper variant="outlined" sx={{ mt: 2 }}>
        <TableContainer>
          <Table size="small" aria-label="Credentials">
            <TableHead>
              <TableRow>
                <TableCell>Name</TableCell>
                <TableCell>Kind</TableCell>
                <TableCell>Username</TableCell>
                <TableCell sx={{ display: { xs: "none", md: "table-cell" } }}>Systems</TableCell>
                <TableCell sx={{ display: { xs: "none", md: "table-cell" } }}>
                  Key fingerprint
                </TableCell>
                <TableCell sx={{ display: { xs: "none", sm: "table-cell" } }}>Changed</TableCell>
              </TableRow>
            </TableHead>
            <TableBody>
              {data?.items.map((credential) => (
                <TableRow key={credential.id} hover>
                  <TableCell>
                    {can("credentials:manage") ? (
                      <Link
                        component={RouterLink}
                        to={paths.editCredential(credential.id)}
                        underline="hover"
                      >
                        {credential.name}
                      </Link>
                    ) : (
                      credential.name
                    )}
                  </TableCell>
                  <TableCell>{credential.kind}</TableCell>
                  <TableCell sx={{ fontFamily: MONO }}>{credential.username}</TableCell>
                  <TableCell sx={{ display: { xs: "none", md: "table-cell" } }}>
                    {credential.system_count ?? 0}
                  </TableCell>
                  <TableCell
                    sx={{
                      display: { xs: "none", md: "table-cell" },
                      fontFamily: MONO,
                      fontSize: 12,
                    }}
                  >
                    {credential.public_key_fingerprint ?? "—"}
                  </TableCell>
                  <TableCell sx={{ display: { xs: "none", sm: "table-cell" } }}>
                    {ago(credential.updated_at)}
                  </TableCell>
                </TableRow>
              ))}
              <EmptyRow show={data?.items.length === 0} colSpan={6}>
                No credential yet.
              </EmptyRow>
            </TableBody>
          </Table>
        </TableContainer>
      </Paper>
      <Pager pages={pages} result={data} />
    </>
  );
}
