import { useNavigate, useParams } from "react-router";

import { useGetTemplateQuery } from "@/client/orca-api";
import { PageHeader } from "@/components/ui/page-header";
import { PageLoading } from "@/components/ui/page-loading";
import { ProblemAlert } from "@/components/ui/problem-alert";
import { paths } from "@/config/paths";
import { LaunchForm } from "@/features/templates/components/launch-form";

export default function LaunchTemplateRoute() {
  const { templateId = "" } = useParams();
  const navigate = useNavigate();
  const { data, error, isLoading } = useGetTemplateQuery({ templateId });
  if (isLoading) return <PageLoading />;
  return (
    <>
      <PageHeader
        title={`Launch ${data?.name ?? "template"}`}
        subtitle={data ? `Version ${data.version}; one execution per system.` : undefined}
      />
      <ProblemAlert error={error} title="Could not load the template" />
      {data && (
        <LaunchForm
          key={data.id}
          template={data}
          onLaunched={(job) => navigate(paths.job(job.id))}
          onCancel={() => navigate(paths.template(data.id))}
        />
      )}
    </>
  );
}
