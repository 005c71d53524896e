import { useParams } from "react-router";

import { useGetSystemQuery } from "@/client/orca-api";
import { PageLoading } from "@/components/ui/page-loading";
import { ProblemAlert } from "@/components/ui/problem-alert";
import { SystemDetail } from "@/features/systems/components/system-detail";

export default function SystemRoute() {
  const { systemId = "" } = useParams();
  const { data, error, isLoading } = useGetSystemQuery({ systemId });
  if (isLoading) return <PageLoading />;
  return (
    <>
      <ProblemAlert error={error} title="Could not load the system" />
      {data && <SystemDetail system={data} />}
    </>
  );
}
