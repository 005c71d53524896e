import Box from "@mui/material/Box";
import type { ReactNode } from "react";

/** A definition list of labelled values, two columns. */
export function FieldList({ children }: { children: ReactNode }) {
  return (
    <Box
      component="dl"
      sx={{
        display: "grid",
        gridTemplateColumns: "max-content 1fr",
        columnGap: 2,
        rowGap: 1,
        m: 0,
      }}
    >
      {children}
    </Box>
  );
}

export function Field({ label, children }: { label: string; children: ReactNode }) {
  return (
    <>
      <Box component="dt" sx={{ color: "text.secondary" }}>
        {label}
      </Box>
      <Box component="dd" sx={{ m: 0, overflowWrap: "anywhere", minWidth: 0 }}>
        {children}
      </Box>
    </>
  );
}
