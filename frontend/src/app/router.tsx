import { lazy } from "react";
import { createBrowserRouter, RouterProvider } from "react-router";

import { AppLayout } from "@/app/layout/app-layout";
import { RequireSession } from "@/features/auth/components/require-session";
import { LiveProvider } from "@/features/jobs/components/live-provider";

// Each page is its own chunk, loaded when first visited.
const page = (load: () => Promise<{ default: React.ComponentType }>) => {
  const Component = lazy(load);
  return <Component />;
};

const router = createBrowserRouter([
  { path: "/login", element: page(() => import("@/app/routes/login")) },
  {
    element: (
      <RequireSession>
        <LiveProvider>
          <AppLayout />
        </LiveProvider>
      </RequireSession>
    ),
    children: [
      { index: true, element: page(() => import("@/app/routes/dashboard")) },
      { path: "systems", element: page(() => import("@/app/routes/systems/list")) },
      { path: "systems/new", element: page(() => import("@/app/routes/systems/edit")) },
      { path: "systems/import", element: page(() => import("@/app/routes/systems/import")) },
      { path: "systems/:systemId", element: page(() => import("@/app/routes/systems/detail")) },
      { path: "systems/:systemId/edit", element: page(() => import("@/app/routes/systems/edit")) },
      { path: "credentials", element: page(() => import("@/app/routes/credentials/list")) },
      { path: "credentials/new", element: page(() => import("@/app/routes/credentials/edit")) },
      {
        path: "credentials/:credentialId/edit",
        element: page(() => import("@/app/routes/credentials/edit")),
      },
      { path: "jobs", element: page(() => import("@/app/routes/jobs/list")) },
      { path: "jobs/new", element: page(() => import("@/app/routes/jobs/new")) },
      { path: "jobs/:jobId", element: page(() => import("@/app/routes/jobs/detail")) },
      { path: "templates", element: page(() => import("@/app/routes/templates/list")) },
      { path: "templates/new", element: page(() => import("@/app/routes/templates/edit")) },
      {
        path: "templates/:templateId",
        element: page(() => import("@/app/routes/templates/detail")),
      },
      {
        path: "templates/:templateId/edit",
        element: page(() => import("@/app/routes/templates/edit")),
      },
      {
        path: "templates/:templateId/launch",
        element: page(() => import("@/app/routes/templates/launch")),
      },
      { path: "schedules", element: page(() => import("@/app/routes/schedules/list")) },
      { path: "schedules/new", element: page(() => import("@/app/routes/schedules/edit")) },
      {
        path: "schedules/:scheduleId",
        element: page(() => import("@/app/routes/schedules/detail")),
      },
      {
        path: "schedules/:scheduleId/edit",
        element: page(() => import("@/app/routes/schedules/edit")),
      },
      { path: "audit", element: page(() => import("@/app/routes/audit")) },
      { path: "admin/:section", element: page(() => import("@/app/routes/admin")) },
      { path: "admin", element: page(() => import("@/app/routes/admin")) },
      { path: "account", element: page(() => import("@/app/routes/account")) },
      { path: "*", element: page(() => import("@/app/routes/not-found")) },
    ],
  },
]);

export function AppRouter() {
  return <RouterProvider router={router} />;
}
