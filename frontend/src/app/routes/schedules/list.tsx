import Button from "@mui/material/Button";
import { Link as RouterLink } from "react-router";

import { PageHeader } from "@/components/ui/page-header";
import { paths } from "@/config/paths";
import { usePermissions } from "@/hooks/use-permissions";
import { SchedulesTable } from "@/features/schedules/components/schedules-table";

export default function SchedulesRoute() {
  const { can } = usePermissions();
  return (
    <>
      <PageHeader
        title="Schedules"
        subtitle="Templates launched at the due times of a cron expression, each due time once."
        actions={
          can("schedules:manage") && (
            <Button component={RouterLink} to={paths.newSchedule} variant="contained">
              New schedule
            </Button>
          )
        }
      />
      <SchedulesTable />
    </>
  );
}
