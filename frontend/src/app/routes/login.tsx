import Box from "@mui/material/Box";
import { Navigate, useNavigate, useSearchParams } from "react-router";

import { paths } from "@/config/paths";
import { LoginForm } from "@/features/auth/components/login-form";
import { useAppSelector } from "@/lib/store";

function safeNext(next: string | null): string {
  // Only a path on this site: never an open redirect.
  return next && next.startsWith("/") && !next.startsWith("//") ? next : paths.dashboard;
}

export default function LoginRoute() {
  const [search] = useSearchParams();
  const navigate = useNavigate();
  const status = useAppSelector((state) => state.session.status);
  const next = safeNext(search.get("next"));
  if (status === "signed-in") return <Navigate to={next} replace />;
  return (
    <Box
      component="main"
      sx={{
        minHeight: "100vh",
        display: "grid",
        placeItems: "center",
        p: 2,
        bgcolor: "background.default",
      }}
    >
      <LoginForm onSignedIn={() => navigate(next, { replace: true })} />
    </Box>
  );
}
