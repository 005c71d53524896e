import TableCell from "@mui/material/TableCell";
import TableRow from "@mui/material/TableRow";
import Typography from "@mui/material/Typography";
import type { ReactNode } from "react";

/** The row a table shows when it has no rows. */
export function EmptyRow({
  show,
  colSpan,
  children,
}: {
  show: boolean;
  colSpan: number;
  children: ReactNode;
}) {
  if (!show) return null;
  return (
    <TableRow>
      <TableCell colSpan={colSpan}>
        <Typography variant="body2" color="text.secondary" sx={{ py: 2 }}>
          {children}
        </Typography>
      </TableCell>
    </TableRow>
  );
}
