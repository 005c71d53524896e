import Button from "@mui/material/Button";
import { Link as RouterLink } from "react-router";

import { PageHeader } from "@/components/ui/page-header";
import { paths } from "@/config/paths";
import { JobsTable } from "@/features/jobs/components/jobs-table";
import { usePermissions } from "@/hooks/use-permissions";

export default function JobsRoute() {
  const { can } = usePermissions();
  return (
    <>
      <PageHeader
        title="Jobs"
        subtitle="Commands and scripts run across systems, newest first."
        actions={
          can("jobs:run") && (
            <Button component={RouterLink} to={paths.newJob} variant="contained">
              New job
            </Button>
          )
        }
      />
      <JobsTable />
    </>
  );
}
