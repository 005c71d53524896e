import { useState } from "react";

import {
  useAddMembersMutation,
  useCreateTeamMutation,
  useDeleteTeamMutation,
  useListMembersQuery,
  useListTeamsQuery,
  useListUsersQuery,
  useRemoveMemberMutation,
} from "@/client/orca-api";
import { usePermissions } from "@/hooks/use-permissions";
import { NamedPanel, type Named } from "@/features/admin/components/named-panel";

export function TeamsPanel() {
  const { can } = usePermissions();
  const [selected, setSelected] = useState<Named | null>(null);
  const [search, setSearch] = useState("");
  const teams = useListTeamsQuery({ limit: 500 });
  const members = useListMembersQuery(
    { teamId: selected?.id ?? "", limit: 500 },
    { skip: !selected },
  );
  const users = useListUsersQuery({ q: search || undefined, limit: 20 });
  const [create] = useCreateTeamMutation();
  const [remove, removed] = useDeleteTeamMutation();
  const [add, added] = useAddMembersMutation();
  const [drop, dropped] = useRemoveMemberMutation();
  return (
    <NamedPanel
      noun="Team"
      memberNoun="member"
      items={(teams.data?.items ?? []).map((team) => ({ ...team, count: team.member_count }))}
      error={teams.error ?? removed.error ?? added.error ?? dropped.error}
      manage={can("teams:manage")}
      onCreate={async (name, description) => {
        const result = await create({ teamCreate: { name, description: description || null } });
        return "error" in result ? result.error : undefined;
      }}
      onDelete={(team) => {
        if (selected?.id === team.id) setSelected(null);
        void remove({ teamId: team.id });
      }}
      members={(members.data?.items ?? []).map((user) => ({
        id: user.id,
        label: `${user.username} (${user.role})`,
      }))}
      candidates={(users.data?.items ?? []).map((user) => ({
        id: user.id,
        label: `${user.username} (${user.role})`,
      }))}
      onSearchCandidates={setSearch}
      onAddMembers={(ids) =>
        selected && void add({ teamId: selected.id, membersAdd: { user_ids: ids } })
      }
      onRemoveMember={(member) => selected && void drop({ teamId: selected.id, userId: member.id })}
      selected={selected}
      onSelect={setSelected}
    />
  );
}
