// Renders a component inside the app's providers (store, theme), on a store of its own.
import { render, type RenderOptions } from "@testing-library/react";
import type { ReactElement } from "react";
import { MemoryRouter } from "react-router";

import { AppProvider } from "@/app/provider";
import { makeStore } from "@/lib/store";

export function renderWithApp(
  ui: ReactElement,
  { route = "/", ...options }: RenderOptions & { route?: string } = {},
) {
  const store = makeStore();
  const result = render(
    <AppProvider store={store}>
      <MemoryRouter initialEntries={[route]}>{ui}</MemoryRouter>
    </AppProvider>,
    options,
  );
  return { store, ...result };
}
