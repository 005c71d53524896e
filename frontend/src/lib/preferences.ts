// What the user chose on this browser: the colour scheme (follow the OS until they pick one).
import { createSlice, type PayloadAction } from "@reduxjs/toolkit";

export type ThemeChoice = "system" | "light" | "dark";
const STORAGE_KEY = "orca.theme";

function stored(): ThemeChoice {
  try {
    const value = globalThis.localStorage?.getItem(STORAGE_KEY);
    return value === "light" || value === "dark" ? value : "system";
  } catch {
    return "system";
  }
}

export const preferencesSlice = createSlice({
  name: "preferences",
  initialState: () => ({ theme: stored() }),
  reducers: {
    themeChosen(state, action: PayloadAction<ThemeChoice>) {
      state.theme = action.payload;
      try {
        if (action.payload === "system") globalThis.localStorage?.removeItem(STORAGE_KEY);
        else globalThis.localStorage?.setItem(STORAGE_KEY, action.payload);
      } catch {
        // Private windows may refuse storage; the choice then lasts for this page only.
      }
    },
  },
});

export const { themeChosen } = preferencesSlice.actions;
