import Box from "@mui/material/Box";
import Chip from "@mui/material/Chip";
import Link from "@mui/material/Link";
import Typography from "@mui/material/Typography";
import { Link as RouterLink } from "react-router";

import { useGetScheduleQuery, useGetTemplateQuery, type JobOut } from "@/client/orca-api";
import { paths } from "@/config/paths";
import { shown } from "@/lib/parameters";
import { MONO } from "@/lib/theme";

/** Where a job came from: the template (and its version) it was launched from, the schedule
 * that launched it, and the parameter values it ran with (secret ones are never shown). A
 * template or schedule deleted since, or out of the viewer's sight, is named without a link. */
export function JobOrigin({ job }: { job: JobOut }) {
  const template = useGetTemplateQuery(
    { templateId: job.template_id ?? "" },
    { skip: !job.template_id },
  );
  const schedule = useGetScheduleQuery(
    { scheduleId: job.schedule_id ?? "" },
    { skip: !job.schedule_id },
  );
  // A template deleted since leaves its version behind (the job's link to it is cleared).
  const fromTemplate = Boolean(job.template_id) || job.template_version !== null;
  if (!fromTemplate && !job.schedule_id && !job.parameters) return null;
  const values = Object.entries(job.parameters ?? {});
  const secrets = (template.data?.parameters ?? []).filter(
    (parameter) => parameter.type === "secret",
  );

  return (
    <Box sx={{ mb: 1.5 }} data-testid="job-origin">
      <Typography variant="body2" component="div">
        {fromTemplate && (
          <>
            From template{" "}
            {template.data && job.template_id ? (
              <Link component={RouterLink} to={paths.template(job.template_id)}>
                {template.data.name}
              </Link>
            ) : (
              <em>{template.isLoading ? "…" : "since deleted or out of your sight"}</em>
            )}{" "}
            (v{job.template_version ?? "?"}
            {template.data && template.data.version !== job.template_version
              ? `; now v${template.data.version}`
              : ""}
            )
          </>
        )}
        {fromTemplate && job.schedule_id && ", "}
        {job.schedule_id && (
          <>
            {fromTemplate ? "launched by schedule " : "Launched by schedule "}
            {schedule.data ? (
              <Link component={RouterLink} to={paths.schedule(job.schedule_id)}>
                {schedule.data.name}
              </Link>
            ) : (
              <em>{schedule.isLoading ? "…" : "since deleted or out of your sight"}</em>
            )}
          </>
        )}
      </Typography>
      {(values.length > 0 || secrets.length > 0) && (
        <Box
          sx={{ display: "flex", flexWrap: "wrap", gap: 0.5, mt: 1, alignItems: "center" }}
          aria-label="Parameter values"
          role="list"
        >
          {values.map(([name, value]) => (
            <Chip
              key={name}
              role="listitem"
              size="small"
              variant="outlined"
              label={`${name} = ${shown(value)}`}
              sx={{ fontFamily: MONO, maxWidth: "100%" }}
            />
          ))}
          {secrets.map((parameter) => (
            <Chip
              key={parameter.name}
              role="listitem"
              size="small"
              variant="outlined"
              label={`${parameter.name} = (secret, not shown)`}
              sx={{ fontFamily: MONO }}
            />
          ))}
        </Box>
      )}
    </Box>
  );
}
