import { useNavigate, useSearchParams } from "react-router";

import { useGetJobQuery } from "@/client/orca-api";
import { PageHeader } from "@/components/ui/page-header";
import { PageLoading } from "@/components/ui/page-loading";
import { ProblemAlert } from "@/components/ui/problem-alert";
import { paths } from "@/config/paths";
import { JobForm } from "@/features/jobs/components/job-form";

export default function NewJobRoute() {
  const [search] = useSearchParams();
  const navigate = useNavigate();
  const from = search.get("from");
  const source = useGetJobQuery({ jobId: from ?? "" }, { skip: !from });
  if (from && source.isLoading) return <PageLoading />;
  return (
    <>
      <PageHeader
        title={from ? "Duplicate a job" : "New job"}
        subtitle="One execution per system, each with its own status and output."
      />
      <ProblemAlert error={source.error} title="Could not load the job to copy" />
      <JobForm
        key={source.data?.id ?? "new"}
        from={source.data}
        onCreated={(job) => navigate(paths.job(job.id))}
      />
    </>
  );
}
