// Orca's look: deep-sea blue and teal on calm greys, in light and dark. Colours are chosen for
// WCAG AA contrast on their backgrounds (checked by the axe scan in the browser tests).
import { createTheme, type Theme } from "@mui/material/styles";

export function makeTheme(mode: "light" | "dark"): Theme {
  const dark = mode === "dark";
  return createTheme({
    palette: {
      mode,
      primary: { main: dark ? "#6cc4f5" : "#0a5a8a" },
      secondary: { main: dark ? "#5fd3c0" : "#00695c" },
      success: { main: dark ? "#66bb6a" : "#1b6e20" },
      error: { main: dark ? "#f48a8a" : "#b3261e" },
      warning: { main: dark ? "#ffb74d" : "#8a4b00" },
      info: { main: dark ? "#64b5f6" : "#0b5cad" },
      background: dark
        ? { default: "#0d1620", paper: "#132130" }
        : { default: "#f3f6f9", paper: "#ffffff" },
      divider: dark ? "rgba(255,255,255,0.14)" : "rgba(10,40,70,0.14)",
    },
    shape: { borderRadius: 8 },
    typography: {
      fontFamily: '"Roboto", "Helvetica Neue", Arial, sans-serif',
      h1: { fontSize: "1.6rem", fontWeight: 600 },
      h2: { fontSize: "1.25rem", fontWeight: 600 },
      h3: { fontSize: "1.05rem", fontWeight: 600 },
      button: { textTransform: "none", fontWeight: 600 },
    },
    components: {
      MuiButton: { defaultProps: { disableElevation: true } },
      MuiPaper: {
        defaultProps: { elevation: 0 },
        styleOverrides: { root: { backgroundImage: "none" } },
      },
      MuiCard: {
        defaultProps: { variant: "outlined" },
      },
      MuiTableCell: { styleOverrides: { head: { fontWeight: 600 } } },
      MuiTextField: { defaultProps: { size: "small" } },
      MuiSelect: { defaultProps: { size: "small" } },
      MuiChip: { styleOverrides: { root: { fontWeight: 500 } } },
    },
  });
}

export const MONO = '"JetBrains Mono", "DejaVu Sans Mono", Menlo, Consolas, monospace';
