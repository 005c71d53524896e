import { useNavigate } from "react-router";

import { PageHeader } from "@/components/ui/page-header";
import { paths } from "@/config/paths";
import { ImportSystems } from "@/features/systems/components/import-systems";

export default function ImportSystemsRoute() {
  const navigate = useNavigate();
  return (
    <>
      <PageHeader title="Import systems" subtitle="Many systems at once, from CSV or JSON." />
      <ImportSystems onImported={(count) => navigate(`${paths.systems}?imported=${count}`)} />
    </>
  );
}
