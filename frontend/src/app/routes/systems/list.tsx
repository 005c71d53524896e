import Button from "@mui/material/Button";
import { Link as RouterLink } from "react-router";

import { PageHeader } from "@/components/ui/page-header";
import { paths } from "@/config/paths";
import { SystemsTable } from "@/features/systems/components/systems-table";
import { usePermissions } from "@/hooks/use-permissions";

export default function SystemsRoute() {
  const { can } = usePermissions();
  return (
    <>
      <PageHeader
        title="Systems"
        subtitle="The machines Orca reaches, and how they answered last."
        actions={
          can("systems:admin") && (
            <>
              <Button component={RouterLink} to={paths.importSystems} variant="outlined">
                Import
              </Button>
              <Button component={RouterLink} to={paths.newSystem} variant="contained">
                Add system
              </Button>
            </>
          )
        }
      />
      <SystemsTable />
    </>
  );
}
