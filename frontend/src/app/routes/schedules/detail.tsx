import { useParams } from "react-router";

import { useGetScheduleQuery } from "@/client/orca-api";
import { PageLoading } from "@/components/ui/page-loading";
import { ProblemAlert } from "@/components/ui/problem-alert";
import { ScheduleDetail } from "@/features/schedules/components/schedule-detail";

export default function ScheduleRoute() {
  const { scheduleId = "" } = useParams();
  // Its next and last runs move on by themselves.
  const { data, error, isLoading } = useGetScheduleQuery(
    { scheduleId },
    { pollingInterval: 30000 },
  );
  if (isLoading) return <PageLoading />;
  return (
    <>
      <ProblemAlert error={error} title="Could not load the schedule" />
      {data && <ScheduleDetail key={data.id} schedule={data} />}
    </>
  );
}
