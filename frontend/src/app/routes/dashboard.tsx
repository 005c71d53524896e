import Button from "@mui/material/Button";
import { Link as RouterLink } from "react-router";

import { PageHeader } from "@/components/ui/page-header";
import { paths } from "@/config/paths";
import { Overview } from "@/features/dashboard/components/overview";
import { usePermissions } from "@/hooks/use-permissions";

export default function DashboardRoute() {
  const { can } = usePermissions();
  return (
    <>
      <PageHeader
        title="Dashboard"
        subtitle="What ran, how it ended, and how the fleet is doing."
        actions={
          can("jobs:run") && (
            <Button component={RouterLink} to={paths.newJob} variant="contained">
              New job
            </Button>
          )
        }
      />
      <Overview />
    </>
  );
}
