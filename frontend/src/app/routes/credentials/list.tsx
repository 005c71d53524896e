import Button from "@mui/material/Button";
import { Link as RouterLink } from "react-router";

import { PageHeader } from "@/components/ui/page-header";
import { paths } from "@/config/paths";
import { CredentialsTable } from "@/features/credentials/components/credentials-table";
import { usePermissions } from "@/hooks/use-permissions";

export default function CredentialsRoute() {
  const { can } = usePermissions();
  return (
    <>
      <PageHeader
        title="Credentials"
        subtitle="Encrypted at rest; secrets are never shown after they are stored."
        actions={
          can("credentials:manage") && (
            <Button component={RouterLink} to={paths.newCredential} variant="contained">
              New credential
            </Button>
          )
        }
      />
      <CredentialsTable />
    </>
  );
}
