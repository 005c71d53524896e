import GlobalStyles from "@mui/material/GlobalStyles";
import { useTheme } from "@mui/material/styles";

// ANSI colours per theme, picked to stay readable on the output's background.
const ANSI = {
  light: {
    black: "#1e1e1e",
    red: "#b3261e",
    green: "#1b6e20",
    yellow: "#7a5b00",
    blue: "#0b5cad",
    magenta: "#8e24aa",
    cyan: "#00707a",
    white: "#5f6368",
    "bright-black": "#5f6368",
    "bright-red": "#d32f2f",
    "bright-green": "#2e7d32",
    "bright-yellow": "#8a6d00",
    "bright-blue": "#1565c0",
    "bright-magenta": "#9c27b0",
    "bright-cyan": "#00838f",
    "bright-white": "#3c4043",
  },
  dark: {
    black: "#9aa0a6",
    red: "#f48a8a",
    green: "#8bd48f",
    yellow: "#f2d06b",
    blue: "#8ab4f8",
    magenta: "#d7aefb",
    cyan: "#78d9ec",
    white: "#e8eaed",
    "bright-black": "#bdc1c6",
    "bright-red": "#ffb4ab",
    "bright-green": "#b6f2b9",
    "bright-yellow": "#fde293",
    "bright-blue": "#aecbfa",
    "bright-magenta": "#e9d2fd",
    "bright-cyan": "#a8eefc",
    "bright-white": "#ffffff",
  },
};

export function AppGlobalStyles() {
  const theme = useTheme();
  const dark = theme.palette.mode === "dark";
  const colours = dark ? ANSI.dark : ANSI.light;
  const variables = Object.fromEntries(
    Object.entries(colours).map(([name, value]) => [`--ansi-${name}`, value]),
  );
  return (
    <GlobalStyles
      styles={{
        ":root": {
          ...variables,
          "--ansi-fg": dark ? "#e8eaed" : "#1e1e1e",
          "--ansi-bg": dark ? "#0a1118" : "#fbfcfd",
        },
        ".skip-link": {
          position: "absolute",
          left: 8,
          top: -48,
          zIndex: 2000,
          padding: "8px 12px",
          background: theme.palette.background.paper,
          color: theme.palette.text.primary,
          borderRadius: 4,
        },
        ".skip-link:focus": { top: 8 },
        kbd: {
          fontFamily: "inherit",
          padding: "1px 6px",
          border: `1px solid ${theme.palette.divider}`,
          borderBottomWidth: 2,
          borderRadius: 4,
          fontSize: "0.85em",
        },
        ".output-scroller": {
          background: "var(--ansi-bg)",
          color: "var(--ansi-fg)",
          border: `1px solid ${theme.palette.divider}`,
        },
        ".output-scroller:focus-visible": { outline: `2px solid ${theme.palette.primary.main}` },
        ".output-line": { whiteSpace: "pre", paddingRight: 12, height: 20 },
        ".output-number": {
          display: "inline-block",
          width: "4.5em",
          paddingRight: 12,
          textAlign: "right",
          color: dark ? "#8a939c" : "#6b7075",
          userSelect: "none",
        },
        ".output-stderr": { background: dark ? "rgba(244,138,138,0.10)" : "rgba(179,38,30,0.07)" },
        ".output-gap": { fontStyle: "italic", color: theme.palette.warning.main },
        ".output-current": { background: dark ? "rgba(138,180,248,0.18)" : "rgba(11,92,173,0.12)" },
        "mark.output-match": { background: dark ? "#5c4b00" : "#ffe082", color: "inherit" },
        "@keyframes orca-pulse": { "0%, 100%": { opacity: 1 }, "50%": { opacity: 0.45 } },
        "@media (prefers-reduced-motion: reduce)": {
          "*": { animation: "none !important", transition: "none !important" },
        },
      }}
    />
  );
}
