import CssBaseline from "@mui/material/CssBaseline";
import { ThemeProvider } from "@mui/material/styles";
import useMediaQuery from "@mui/material/useMediaQuery";
import { useMemo, useState, type ReactNode } from "react";
import { Provider } from "react-redux";

import { AppGlobalStyles } from "@/app/global-styles";
import { makeStore, useAppSelector, type AppStore } from "@/lib/store";
import { makeTheme } from "@/lib/theme";

function Themed({ children }: { children: ReactNode }) {
  const choice = useAppSelector((state) => state.preferences.theme);
  const prefersDark = useMediaQuery("(prefers-color-scheme: dark)", { noSsr: true });
  const mode = choice === "system" ? (prefersDark ? "dark" : "light") : choice;
  const theme = useMemo(() => makeTheme(mode), [mode]);
  return (
    <ThemeProvider theme={theme}>
      <CssBaseline enableColorScheme />
      <AppGlobalStyles />
      {children}
    </ThemeProvider>
  );
}

export function AppProvider({ children, store }: { children: ReactNode; store?: AppStore }) {
  const [own] = useState(() => store ?? makeStore());
  return (
    <Provider store={own}>
      <Themed>{children}</Themed>
    </Provider>
  );
}
