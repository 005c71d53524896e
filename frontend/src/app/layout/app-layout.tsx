import AccountCircle from "@mui/icons-material/AccountCircle";
import AdminPanelSettings from "@mui/icons-material/AdminPanelSettings";
import Brightness4 from "@mui/icons-material/Brightness4";
import Brightness7 from "@mui/icons-material/Brightness7";
import BrightnessAuto from "@mui/icons-material/BrightnessAuto";
import Dashboard from "@mui/icons-material/Dashboard";
import Dns from "@mui/icons-material/Dns";
import EventRepeat from "@mui/icons-material/EventRepeat";
import Keyboard from "@mui/icons-material/Keyboard";
import LibraryBooks from "@mui/icons-material/LibraryBooks";
import MenuIcon from "@mui/icons-material/Menu";
import PlayCircle from "@mui/icons-material/PlayCircle";
import ReceiptLong from "@mui/icons-material/ReceiptLong";
import VpnKey from "@mui/icons-material/VpnKey";
import AppBar from "@mui/material/AppBar";
import Box from "@mui/material/Box";
import Divider from "@mui/material/Divider";
import Drawer from "@mui/material/Drawer";
import IconButton from "@mui/material/IconButton";
import List from "@mui/material/List";
import ListItem from "@mui/material/ListItem";
import ListItemButton from "@mui/material/ListItemButton";
import ListItemIcon from "@mui/material/ListItemIcon";
import ListItemText from "@mui/material/ListItemText";
import Menu from "@mui/material/Menu";
import MenuItem from "@mui/material/MenuItem";
import Toolbar from "@mui/material/Toolbar";
import Tooltip from "@mui/material/Tooltip";
import Typography from "@mui/material/Typography";
import { useTheme } from "@mui/material/styles";
import useMediaQuery from "@mui/material/useMediaQuery";
import { Suspense, useMemo, useState, type ReactNode } from "react";
import { Link as RouterLink, Outlet, useLocation, useNavigate } from "react-router";

import { ShortcutsDialog } from "@/app/layout/shortcuts-dialog";
import { PageLoading } from "@/components/ui/page-loading";
import { paths } from "@/config/paths";
import { useLogout } from "@/features/auth/hooks/use-logout";
import { usePermissions } from "@/hooks/use-permissions";
import { focusSearch, useShortcuts, type Shortcut } from "@/hooks/use-shortcuts";
import { themeChosen, type ThemeChoice } from "@/lib/preferences";
import { useAppDispatch, useAppSelector } from "@/lib/store";

const DRAWER = 220;

type NavItem = {
  to: string;
  label: string;
  icon: ReactNode;
  permission?: string;
  match: (path: string) => boolean;
};

const NAV: NavItem[] = [
  { to: paths.dashboard, label: "Dashboard", icon: <Dashboard />, match: (p) => p === "/" },
  { to: paths.jobs, label: "Jobs", icon: <PlayCircle />, match: (p) => p.startsWith("/jobs") },
  {
    to: paths.templates,
    label: "Templates",
    icon: <LibraryBooks />,
    match: (p) => p.startsWith("/templates"),
  },
  {
    to: paths.schedules,
    label: "Schedules",
    icon: <EventRepeat />,
    match: (p) => p.startsWith("/schedules"),
  },
  { to: paths.systems, label: "Systems", icon: <Dns />, match: (p) => p.startsWith("/systems") },
  {
    to: paths.credentials,
    label: "Credentials",
    icon: <VpnKey />,
    permission: "credentials:read",
    match: (p) => p.startsWith("/credentials"),
  },
  {
    to: paths.audit,
    label: "Audit log",
    icon: <ReceiptLong />,
    permission: "audit:read",
    match: (p) => p.startsWith("/audit"),
  },
  {
    to: paths.adminUsers,
    label: "Admin",
    icon: <AdminPanelSettings />,
    permission: "users:read",
    match: (p) => p.startsWith("/admin"),
  },
];

const NEXT_THEME: Record<ThemeChoice, ThemeChoice> = {
  system: "light",
  light: "dark",
  dark: "system",
};
const THEME_LABEL: Record<ThemeChoice, string> = {
  system: "Theme: follows the system",
  light: "Theme: light",
  dark: "Theme: dark",
};

export function AppLayout() {
  const theme = useTheme();
  const wide = useMediaQuery(theme.breakpoints.up("md"));
  const [drawerOpen, setDrawerOpen] = useState(false);
  const [helpOpen, setHelpOpen] = useState(false);
  const [userMenu, setUserMenu] = useState<HTMLElement | null>(null);
  const { can, me } = usePermissions();
  const navigate = useNavigate();
  const location = useLocation();
  const logout = useLogout();
  const dispatch = useAppDispatch();
  const themeChoice = useAppSelector((state) => state.preferences.theme);

  const shortcuts: Shortcut[] = useMemo(
    () => [
      { keys: "g d", description: "Go to the dashboard", run: () => navigate(paths.dashboard) },
      { keys: "g j", description: "Go to jobs", run: () => navigate(paths.jobs) },
      { keys: "g t", description: "Go to templates", run: () => navigate(paths.templates) },
      { keys: "g c", description: "Go to schedules (cron)", run: () => navigate(paths.schedules) },
      { keys: "g s", description: "Go to systems", run: () => navigate(paths.systems) },
      { keys: "g a", description: "Go to the audit log", run: () => navigate(paths.audit) },
      { keys: "n", description: "New job", run: () => navigate(paths.newJob) },
      { keys: "/", description: "Search this page", run: focusSearch },
      { keys: "?", description: "Show these shortcuts", run: () => setHelpOpen(true) },
    ],
    [navigate],
  );
  useShortcuts(shortcuts);

  const nav = (
    <Box component="nav" aria-label="Main">
      <Toolbar />
      <List>
        {NAV.filter((item) => !item.permission || can(item.permission)).map((item) => (
          <ListItem key={item.to} disablePadding>
            <ListItemButton
              component={RouterLink}
              to={item.to}
              selected={item.match(location.pathname)}
              aria-current={item.match(location.pathname) ? "page" : undefined}
              onClick={() => setDrawerOpen(false)}
            >
              <ListItemIcon sx={{ minWidth: 40 }}>{item.icon}</ListItemIcon>
              <ListItemText primary={item.label} />
            </ListItemButton>
          </ListItem>
        ))}
      </List>
    </Box>
  );

  const themeIcon =
    themeChoice === "dark" ? (
      <Brightness4 />
    ) : themeChoice === "light" ? (
      <Brightness7 />
    ) : (
      <BrightnessAuto />
    );

  return (
    <Box sx={{ display: "flex", minHeight: "100vh" }}>
      <a href="#main" className="skip-link">
        Skip to content
      </a>
      <AppBar position="fixed" color="primary" sx={{ zIndex: theme.zIndex.drawer + 1 }}>
        <Toolbar>
          {!wide && (
            <IconButton
              color="inherit"
              edge="start"
              aria-label="Open navigation"
              onClick={() => setDrawerOpen(true)}
              sx={{ mr: 1 }}
            >
              <MenuIcon />
            </IconButton>
          )}
          <Typography
            variant="h6"
            component={RouterLink}
            to={paths.dashboard}
            sx={{ color: "inherit", textDecoration: "none", fontWeight: 700, flexGrow: 1 }}
          >
            Orca
          </Typography>
          <Tooltip title={`${THEME_LABEL[themeChoice]} (click to change)`}>
            <IconButton
              color="inherit"
              aria-label={THEME_LABEL[themeChoice]}
              onClick={() => dispatch(themeChosen(NEXT_THEME[themeChoice]))}
            >
              {themeIcon}
            </IconButton>
          </Tooltip>
          <Tooltip title="Keyboard shortcuts (?)">
            <IconButton
              color="inherit"
              aria-label="Keyboard shortcuts"
              onClick={() => setHelpOpen(true)}
            >
              <Keyboard />
            </IconButton>
          </Tooltip>
          <Tooltip title={me ? `${me.username} (${me.role})` : "Account"}>
            <IconButton
              color="inherit"
              aria-label="Account menu"
              aria-haspopup="menu"
              onClick={(event) => setUserMenu(event.currentTarget)}
            >
              <AccountCircle />
            </IconButton>
          </Tooltip>
          <Menu anchorEl={userMenu} open={userMenu !== null} onClose={() => setUserMenu(null)}>
            <MenuItem disabled>
              <Typography variant="body2">
                {me?.username} · {me?.role}
              </Typography>
            </MenuItem>
            <Divider />
            <MenuItem
              onClick={() => {
                setUserMenu(null);
                navigate(paths.account);
              }}
            >
              Change password
            </MenuItem>
            <MenuItem
              onClick={() => {
                setUserMenu(null);
                void logout();
              }}
            >
              Sign out
            </MenuItem>
          </Menu>
        </Toolbar>
      </AppBar>
      {wide ? (
        <Drawer
          variant="permanent"
          sx={{
            width: DRAWER,
            flexShrink: 0,
            "& .MuiDrawer-paper": { width: DRAWER, boxSizing: "border-box" },
          }}
        >
          {nav}
        </Drawer>
      ) : (
        <Drawer
          variant="temporary"
          open={drawerOpen}
          onClose={() => setDrawerOpen(false)}
          sx={{ "& .MuiDrawer-paper": { width: DRAWER } }}
        >
          {nav}
        </Drawer>
      )}
      <Box
        component="main"
        id="main"
        tabIndex={-1}
        sx={{ flexGrow: 1, minWidth: 0, p: { xs: 1.5, sm: 3 }, outline: "none" }}
      >
        <Toolbar />
        <Suspense fallback={<PageLoading />}>
          <Outlet />
        </Suspense>
      </Box>
      <ShortcutsDialog open={helpOpen} onClose={() => setHelpOpen(false)} shortcuts={shortcuts} />
    </Box>
  );
}
