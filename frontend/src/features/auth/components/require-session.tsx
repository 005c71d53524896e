import Box from "@mui/material/Box";
import CircularProgress from "@mui/material/CircularProgress";
import { useEffect, type ReactNode } from "react";
import { Navigate, useLocation } from "react-router";

import { paths } from "@/config/paths";
import { refreshAccessToken, signedIn, signedOut } from "@/lib/session";
import { useAppDispatch, useAppSelector } from "@/lib/store";

/** Renders its children once there is a session: at a page load, the refresh cookie is spent
 * once for an access token; without a session, the sign-in page, which comes back here. */
export function RequireSession({ children }: { children: ReactNode }) {
  const status = useAppSelector((state) => state.session.status);
  const dispatch = useAppDispatch();
  const location = useLocation();

  useEffect(() => {
    if (status !== "unknown") return;
    let live = true;
    void refreshAccessToken().then((token) => {
      if (!live) return;
      dispatch(token ? signedIn(token) : signedOut(null));
    });
    return () => {
      live = false;
    };
  }, [status, dispatch]);

  if (status === "signed-in") return <>{children}</>;
  if (status === "signed-out") {
    const next = `${location.pathname}${location.search}`;
    const query = next === "/" ? "" : `?next=${encodeURIComponent(next)}`;
    return <Navigate to={`${paths.login}${query}`} replace />;
  }
  return (
    <Box sx={{ display: "grid", placeItems: "center", minHeight: "100vh" }}>
      <CircularProgress aria-label="Loading your session" />
    </Box>
  );
}
