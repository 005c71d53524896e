import { useEffect, useState } from "react";
import { useParams } from "react-router";

import { useGetJobQuery } from "@/client/orca-api";
import { PageLoading } from "@/components/ui/page-loading";
import { ProblemAlert } from "@/components/ui/problem-alert";
import { JobDetail } from "@/features/jobs/components/job-detail";

export default function JobRoute() {
  const { jobId = "" } = useParams();
  const [poll, setPoll] = useState(0);
  const { data, error, isLoading } = useGetJobQuery({ jobId }, { pollingInterval: poll });
  // While the job runs, its own record (threshold reached, cancelling) is refreshed now and then.
  useEffect(
    () => setPoll(data && (data.status === "pending" || data.status === "running") ? 5000 : 0),
    [data],
  );
  if (isLoading) return <PageLoading />;
  return (
    <>
      <ProblemAlert error={error} title="Could not load the job" />
      {data && <JobDetail key={data.id} job={data} />}
    </>
  );
}
