import { useState } from "react";

import {
  useAddSystemsMutation,
  useCreateGroupMutation,
  useDeleteGroupMutation,
  useListGroupSystemsQuery,
  useListGroupsQuery,
  useListSystemsQuery,
  useRemoveSystemMutation,
} from "@/client/orca-api";
import { usePermissions } from "@/hooks/use-permissions";
import { NamedPanel, type Named } from "@/features/admin/components/named-panel";

export function GroupsPanel() {
  const { can } = usePermissions();
  const [selected, setSelected] = useState<Named | null>(null);
  const [search, setSearch] = useState("");
  const groups = useListGroupsQuery({ limit: 500 });
  const members = useListGroupSystemsQuery(
    { groupId: selected?.id ?? "", limit: 500 },
    { skip: !selected },
  );
  const systems = useListSystemsQuery({ q: search || undefined, limit: 20 });
  const [create] = useCreateGroupMutation();
  const [remove, removed] = useDeleteGroupMutation();
  const [add, added] = useAddSystemsMutation();
  const [drop, dropped] = useRemoveSystemMutation();
  return (
    <NamedPanel
      noun="Group"
      memberNoun="system"
      items={(groups.data?.items ?? []).map((group) => ({ ...group, count: group.system_count }))}
      error={groups.error ?? removed.error ?? added.error ?? dropped.error}
      manage={can("groups:manage")}
      onCreate={async (name, description) => {
        const result = await create({ groupCreate: { name, description: description || null } });
        return "error" in result ? result.error : undefined;
      }}
      onDelete={(group) => {
        if (selected?.id === group.id) setSelected(null);
        void remove({ groupId: group.id });
      }}
      members={(members.data?.items ?? []).map((system) => ({ id: system.id, label: system.name }))}
      candidates={(systems.data?.items ?? []).map((system) => ({
        id: system.id,
        label: system.name,
      }))}
      onSearchCandidates={setSearch}
      onAddMembers={(ids) =>
        selected && void add({ groupId: selected.id, systemsAdd: { system_ids: ids } })
      }
      onRemoveMember={(member) =>
        selected && void drop({ groupId: selected.id, systemId: member.id })
      }
      selected={selected}
      onSelect={setSelected}
    />
  );
}
