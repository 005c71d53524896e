import { PageHeader } from "@/components/ui/page-header";
import { AuditLog } from "@/features/audit/components/audit-log";

export default function AuditRoute() {
  return (
    <>
      <PageHeader
        title="Audit log"
        subtitle="Every change and security event, hash-chained: who did what, where, and how it ended."
      />
      <AuditLog />
    </>
  );
}
