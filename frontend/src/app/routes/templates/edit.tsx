import { useNavigate, useParams } from "react-router";

import { useGetTemplateQuery } from "@/client/orca-api";
import { PageHeader } from "@/components/ui/page-header";
import { PageLoading } from "@/components/ui/page-loading";
import { ProblemAlert } from "@/components/ui/problem-alert";
import { paths } from "@/config/paths";
import { TemplateForm } from "@/features/templates/components/template-form";

export default function EditTemplateRoute() {
  const { templateId } = useParams();
  const navigate = useNavigate();
  const { data, error, isLoading } = useGetTemplateQuery(
    { templateId: templateId ?? "" },
    { skip: !templateId },
  );
  const saved = (id: string) => navigate(paths.template(id));
  if (!templateId) {
    return (
      <>
        <PageHeader
          title="New template"
          subtitle="A job saved to launch again, with parameters asked for at each launch."
        />
        <TemplateForm
          onSaved={(template) => saved(template.id)}
          onCancel={() => navigate(paths.templates)}
        />
      </>
    );
  }
  if (isLoading) return <PageLoading />;
  return (
    <>
      <PageHeader
        title={`Edit ${data?.name ?? "template"}`}
        subtitle={
          data
            ? `Version ${data.version}; saving a change makes version ${data.version + 1}.`
            : undefined
        }
      />
      <ProblemAlert error={error} title="Could not load the template" />
      {data && (
        <TemplateForm
          key={data.id}
          template={data}
          onSaved={(template) => saved(template.id)}
          onCancel={() => saved(data.id)}
        />
      )}
    </>
  );
}
