import Button from "@mui/material/Button";
import { Link as RouterLink } from "react-router";

import { PageHeader } from "@/components/ui/page-header";
import { paths } from "@/config/paths";

export default function NotFoundRoute() {
  return (
    <>
      <PageHeader title="Page not found" subtitle="Nothing lives at this address." />
      <Button component={RouterLink} to={paths.dashboard} variant="contained">
        Go to the dashboard
      </Button>
    </>
  );
}
