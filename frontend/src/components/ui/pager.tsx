import Box from "@mui/material/Box";
import Button from "@mui/material/Button";
import Typography from "@mui/material/Typography";

import type { CursorPages } from "@/hooks/use-cursor-pages";

type PageResult = { items: unknown[]; next_cursor: string | null; total?: number | null };

/** Previous / next over the API's cursor pages. */
export function Pager({ pages, result }: { pages: CursorPages; result: PageResult | undefined }) {
  return (
    <Box sx={{ display: "flex", alignItems: "center", justifyContent: "flex-end", gap: 1, py: 1 }}>
      <Typography variant="body2" color="text.secondary" aria-live="polite">
        Page {pages.page}
        {typeof result?.total === "number" ? ` · ${result.total} in all` : ""}
        {` · ${result?.items.length ?? 0} shown`}
      </Typography>
      <Button size="small" onClick={pages.previous} disabled={pages.page <= 1}>
        Previous
      </Button>
      <Button
        size="small"
        onClick={() => pages.next(result?.next_cursor)}
        disabled={!result?.next_cursor}
      >
        Next
      </Button>
    </Box>
  );
}
