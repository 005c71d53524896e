import Box from "@mui/material/Box";
import Tab from "@mui/material/Tab";
import Tabs from "@mui/material/Tabs";
import { Link as RouterLink, Navigate, useParams } from "react-router";

import { PageHeader } from "@/components/ui/page-header";
import { paths } from "@/config/paths";
import { GrantsPanel } from "@/features/admin/components/grants-panel";
import { GroupsPanel } from "@/features/admin/components/groups-panel";
import { TeamsPanel } from "@/features/admin/components/teams-panel";
import { UsersPanel } from "@/features/admin/components/users-panel";

const SECTIONS = {
  users: { label: "Users", to: paths.adminUsers, panel: <UsersPanel /> },
  teams: { label: "Teams", to: paths.adminTeams, panel: <TeamsPanel /> },
  groups: { label: "System groups", to: paths.adminGroups, panel: <GroupsPanel /> },
  grants: { label: "Grants", to: paths.adminGrants, panel: <GrantsPanel /> },
} as const;

export default function AdminRoute() {
  const { section } = useParams();
  if (!section || !(section in SECTIONS)) return <Navigate to={paths.adminUsers} replace />;
  const current = section as keyof typeof SECTIONS;
  return (
    <>
      <PageHeader
        title="Administration"
        subtitle="Who may sign in, the teams they belong to, and what each team may reach."
      />
      <Box sx={{ borderBottom: 1, borderColor: "divider", mb: 2 }}>
        <Tabs
          value={current}
          variant="scrollable"
          allowScrollButtonsMobile
          aria-label="Administration sections"
        >
          {Object.entries(SECTIONS).map(([key, item]) => (
            <Tab key={key} value={key} label={item.label} component={RouterLink} to={item.to} />
          ))}
        </Tabs>
      </Box>
      {SECTIONS[current].panel}
    </>
  );
}
