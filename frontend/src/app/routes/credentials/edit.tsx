import { useNavigate, useParams } from "react-router";

import { useGetCredentialQuery } from "@/client/orca-api";
import { PageHeader } from "@/components/ui/page-header";
import { PageLoading } from "@/components/ui/page-loading";
import { ProblemAlert } from "@/components/ui/problem-alert";
import { paths } from "@/config/paths";
import { CredentialForm } from "@/features/credentials/components/credential-form";

export default function EditCredentialRoute() {
  const { credentialId } = useParams();
  const navigate = useNavigate();
  const { data, error, isLoading } = useGetCredentialQuery(
    { credentialId: credentialId ?? "" },
    { skip: !credentialId },
  );
  const done = () => navigate(paths.credentials);
  if (!credentialId) {
    return (
      <>
        <PageHeader title="New credential" />
        <CredentialForm onDone={done} />
      </>
    );
  }
  if (isLoading) return <PageLoading />;
  return (
    <>
      <PageHeader title={`Edit ${data?.name ?? "credential"}`} />
      <ProblemAlert error={error} title="Could not load the credential" />
      {data && <CredentialForm key={data.id} credential={data} onDone={done} />}
    </>
  );
}
