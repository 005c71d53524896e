import { useParams } from "react-router";

import { useGetTemplateQuery } from "@/client/orca-api";
import { PageLoading } from "@/components/ui/page-loading";
import { ProblemAlert } from "@/components/ui/problem-alert";
import { TemplateDetail } from "@/features/templates/components/template-detail";

export default function TemplateRoute() {
  const { templateId = "" } = useParams();
  const { data, error, isLoading } = useGetTemplateQuery({ templateId });
  if (isLoading) return <PageLoading />;
  return (
    <>
      <ProblemAlert error={error} title="Could not load the template" />
      {data && <TemplateDetail key={data.id} template={data} />}
    </>
  );
}
