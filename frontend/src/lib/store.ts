import { configureStore, createListenerMiddleware, isFulfilled } from "@reduxjs/toolkit";
import { setupListeners } from "@reduxjs/toolkit/query";
import { useDispatch, useSelector } from "react-redux";

import { addTagTypes, orcaApi } from "@/client/orca-api";
import { baseApi } from "@/lib/api-base";
import { preferencesSlice } from "@/lib/preferences";
import { sessionSlice } from "@/lib/session";

// Endpoints whose success changes nothing another page shows.
const QUIET = new Set(["login", "refresh", "logout", "createTicket", "scanHostKey"]);

// Any change made here can show on any page (a grant changes which systems one sees, a job
// changes the dashboard and the audit log): after every successful change, every mounted
// query refetches. Few queries are mounted at a time, so this is cheap and never stale.
const refetchAfterChanges = createListenerMiddleware();
refetchAfterChanges.startListening({
  predicate: (action) => {
    if (!isFulfilled(action)) return false;
    const arg = (action.meta as { arg?: { type?: string; endpointName?: string } }).arg;
    return arg?.type === "mutation" && !QUIET.has(arg.endpointName ?? "");
  },
  effect: (_action, listener) => {
    listener.dispatch(orcaApi.util.invalidateTags([...addTagTypes]));
  },
});

export function makeStore() {
  const store = configureStore({
    reducer: {
      session: sessionSlice.reducer,
      preferences: preferencesSlice.reducer,
      [baseApi.reducerPath]: baseApi.reducer,
    },
    middleware: (getDefault) =>
      getDefault().concat(baseApi.middleware).prepend(refetchAfterChanges.middleware),
  });
  setupListeners(store.dispatch);
  return store;
}

export type AppStore = ReturnType<typeof makeStore>;
export type RootState = ReturnType<AppStore["getState"]>;
export type AppDispatch = AppStore["dispatch"];

export const useAppDispatch = useDispatch.withTypes<AppDispatch>();
export const useAppSelector = useSelector.withTypes<RootState>();
