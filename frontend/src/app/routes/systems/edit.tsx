import { useNavigate, useParams } from "react-router";

import { useGetSystemQuery } from "@/client/orca-api";
import { PageHeader } from "@/components/ui/page-header";
import { PageLoading } from "@/components/ui/page-loading";
import { ProblemAlert } from "@/components/ui/problem-alert";
import { paths } from "@/config/paths";
import { SystemForm } from "@/features/systems/components/system-form";

export default function EditSystemRoute() {
  const { systemId } = useParams();
  const navigate = useNavigate();
  const { data, error, isLoading } = useGetSystemQuery(
    { systemId: systemId ?? "" },
    { skip: !systemId },
  );
  const saved = (id: string) => navigate(paths.system(id));
  if (!systemId) {
    return (
      <>
        <PageHeader
          title="Add a system"
          subtitle="A Linux machine over SSH, a Windows machine over WinRM, or this host."
        />
        <SystemForm onSaved={(system) => saved(system.id)} />
      </>
    );
  }
  if (isLoading) return <PageLoading />;
  return (
    <>
      <PageHeader title={`Edit ${data?.name ?? "system"}`} />
      <ProblemAlert error={error} title="Could not load the system" />
      {data && <SystemForm key={data.id} system={data} onSaved={(system) => saved(system.id)} />}
    </>
  );
}
