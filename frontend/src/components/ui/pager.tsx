import Box from "@mui/material/Box";
import Button from "@mui/material/Button";
import Typography from "@mui/material/Typography";

/** Previous / next over the API's cursor pages. */
export function Pager({
  page,
  shown,
  total,
  hasNext,
  onPrevious,
  onNext,
}: {
  page: number;
  shown: number;
  total?: number | null;
  hasNext: boolean;
  onPrevious: () => void;
  onNext: () => void;
}) {
  return (
    <Box sx={{ display: "flex", alignItems: "center", justifyContent: "flex-end", gap: 1, py: 1 }}>
      <Typography variant="body2" color="text.secondary" aria-live="polite">
        Page {page}
        {typeof total === "number" ? ` · ${total} in all` : ""}
        {` · ${shown} shown`}
      </Typography>
      <Button size="small" onClick={onPrevious} disabled={page <= 1}>
        Previous
      </Button>
      <Button size="small" onClick={onNext} disabled={!hasNext}>
        Next
      </Button>
    </Box>
  );
}
