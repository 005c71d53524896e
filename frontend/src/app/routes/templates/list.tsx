import Button from "@mui/material/Button";
import { Link as RouterLink } from "react-router";

import { PageHeader } from "@/components/ui/page-header";
import { paths } from "@/config/paths";
import { usePermissions } from "@/hooks/use-permissions";
import { TemplatesTable } from "@/features/templates/components/templates-table";

export default function TemplatesRoute() {
  const { can } = usePermissions();
  return (
    <>
      <PageHeader
        title="Templates"
        subtitle="Saved jobs with typed parameters, launched by the people and teams they are shared with."
        actions={
          can("templates:edit") && (
            <Button component={RouterLink} to={paths.newTemplate} variant="contained">
              New template
            </Button>
          )
        }
      />
      <TemplatesTable />
    </>
  );
}
