import { useNavigate, useParams, useSearchParams } from "react-router";

import { useGetScheduleQuery, useGetTemplateQuery } from "@/client/orca-api";
import { PageHeader } from "@/components/ui/page-header";
import { PageLoading } from "@/components/ui/page-loading";
import { ProblemAlert } from "@/components/ui/problem-alert";
import { paths } from "@/config/paths";
import { ScheduleForm } from "@/features/schedules/components/schedule-form";

export default function EditScheduleRoute() {
  const { scheduleId } = useParams();
  const [search] = useSearchParams();
  const navigate = useNavigate();
  const templateId = search.get("template");
  const { data, error, isLoading } = useGetScheduleQuery(
    { scheduleId: scheduleId ?? "" },
    { skip: !scheduleId },
  );
  const template = useGetTemplateQuery(
    { templateId: templateId ?? "" },
    { skip: Boolean(scheduleId) || !templateId },
  );
  const saved = (id: string) => navigate(paths.schedule(id));
  if (!scheduleId) {
    if (template.isLoading) return <PageLoading />;
    return (
      <>
        <PageHeader
          title="New schedule"
          subtitle="Launch a template at the due times of a cron expression, as you."
        />
        <ProblemAlert error={template.error} title="Could not load the template" />
        <ScheduleForm
          key={template.data?.id ?? "new"}
          template={template.data ? { id: template.data.id, name: template.data.name } : undefined}
          onSaved={(schedule) => saved(schedule.id)}
          onCancel={() =>
            navigate(template.data ? paths.template(template.data.id) : paths.schedules)
          }
        />
      </>
    );
  }
  if (isLoading) return <PageLoading />;
  return (
    <>
      <PageHeader title={`Edit ${data?.name ?? "schedule"}`} />
      <ProblemAlert error={error} title="Could not load the schedule" />
      {data && (
        <ScheduleForm
          key={data.id}
          schedule={data}
          onSaved={(schedule) => saved(schedule.id)}
          onCancel={() => saved(data.id)}
        />
      )}
    </>
  );
}
