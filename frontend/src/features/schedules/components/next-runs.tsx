import Box from "@mui/material/Box";
import Typography from "@mui/material/Typography";

import { ago, whenIn } from "@/lib/format";
import { browserTimeZone } from "@/features/schedules/time-zones";

/** Due times in the schedule's time zone, how far off they are, and (when the browser is
 * elsewhere) the browser's local time. */
export function NextRuns({
  runs,
  timeZone,
  label = "Next runs",
  empty = "None.",
}: {
  runs: string[];
  timeZone: string;
  label?: string;
  empty?: string;
}) {
  const local = browserTimeZone();
  if (runs.length === 0) {
    return (
      <Typography variant="body2" color="text.secondary">
        {empty}
      </Typography>
    );
  }
  return (
    <Box
      component="ol"
      aria-label={label}
      sx={{ m: 0, pl: 3, display: "grid", gap: 0.5 }}
      data-testid="next-runs"
    >
      {runs.map((run) => (
        <li key={run}>
          <Typography variant="body2" component="span" sx={{ fontWeight: 500 }}>
            {whenIn(run, timeZone)}
          </Typography>
          <Typography variant="body2" component="span" color="text.secondary">
            {" "}
            · {ago(run)}
            {local !== timeZone && ` · ${whenIn(run, local)} here`}
          </Typography>
        </li>
      ))}
    </Box>
  );
}
